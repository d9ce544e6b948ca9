"""The generated demo shop: determinism, the story customers, and learnable training frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdk.demo.shop import (
    CATEGORIES,
    CREDIT_FEATURES,
    FEATURE_COLUMNS,
    ITEM_FEATURES,
    PERSONAL_FEATURES,
    REFERENCE_DATE,
    Shop,
    candidates_for,
    credit_feature_docs,
    credit_frame,
    feature_docs,
    generate_shop,
    ranking_frame,
    story_customers,
)
from sdk.errors import UnknownSubject


@pytest.fixture(scope="module")
def shop() -> Shop:
    return generate_shop(7)


@pytest.fixture(scope="module")
def frame(shop: Shop) -> pd.DataFrame:
    return ranking_frame(shop)


def _recent_category_views(shop: Shop, customer: str, category: str, days: int = 30) -> int:
    ev = shop.events.merge(shop.items[["item_id", "category"]], on="item_id")
    mask = (
        (ev["customer_id"] == customer)
        & (ev["kind"] == "view")
        & (ev["category"] == category)
        & (ev["ts"] >= REFERENCE_DATE - pd.Timedelta(days=days))
    )
    return int(mask.sum())


def test_same_seed_gives_identical_frames() -> None:
    a, b = generate_shop(7), generate_shop(7)
    for name in ("items", "customers", "events"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    pd.testing.assert_frame_equal(ranking_frame(a), ranking_frame(b))
    pd.testing.assert_frame_equal(credit_frame(a), credit_frame(b))
    pd.testing.assert_frame_equal(candidates_for(a, "cust-0001"), candidates_for(b, "cust-0001"))
    assert not generate_shop(8).events.equals(a.events)


def test_catalogue(shop: Shop) -> None:
    items = shop.items
    assert len(items) == 120
    assert items["item_id"].iloc[0] == "item-001"
    assert items["title"].is_unique and items["item_id"].is_unique
    assert set(items["category"]) == set(CATEGORIES)
    assert (items["price_eur"] > 0).all()
    pop = items["popularity"]
    assert pop.max() >= 4 * pop.median() + 4  # long tail
    recent = shop.events[
        (shop.events["kind"] == "purchase")
        & (shop.events["ts"] >= REFERENCE_DATE - pd.Timedelta(days=30))
    ]
    assert pop.sum() == len(recent)


def test_customers_are_synthetic(shop: Shop) -> None:
    c = shop.customers
    assert len(c) == 200 and c["customer_id"].iloc[0] == "cust-0001"
    assert c["email"].is_unique
    assert c["email"].str.fullmatch(r"[a-z]+\.[a-z]\d*@example\.(com|org)").all()
    assert 0.5 <= c["consents_to_personalization"].mean() <= 0.72
    assert all(1 <= len(f) <= 2 and set(f) <= set(CATEGORIES) for f in c["favourite_categories"])


def test_events_window_and_taste(shop: Shop) -> None:
    ev = shop.events
    assert set(ev["kind"]) == {"view", "purchase"}
    assert str(ev["ts"].dt.tz) == "UTC"
    assert ev["ts"].max() < REFERENCE_DATE
    assert ev["ts"].min() >= REFERENCE_DATE - pd.Timedelta(days=90)
    joined = ev.merge(shop.items[["item_id", "category"]]).merge(
        shop.customers[["customer_id", "favourite_categories"]]
    )
    in_favourite = [
        cat in favs
        for cat, favs in zip(joined["category"], joined["favourite_categories"], strict=True)
    ]
    assert np.mean(in_favourite) > 0.55


def test_story_customers(shop: Shop) -> None:
    story = story_customers()
    assert shop.story == story
    c = shop.customers.set_index("customer_id")
    lover, never, withdraws = story.outdoor_lover, story.never_consents, story.withdraws
    assert len({lover, never, withdraws, story.loan_applicant}) == 4
    assert c.loc[lover, "favourite_categories"] == ("outdoor",)
    assert c.loc[lover, "consents_to_personalization"]
    assert _recent_category_views(shop, lover, "outdoor") >= 8
    assert not c.loc[never, "consents_to_personalization"]
    assert (shop.events["customer_id"] == never).sum() >= 10  # a history to (not) use
    assert c.loc[withdraws, "consents_to_personalization"]
    assert (shop.events["customer_id"] == withdraws).sum() >= 10
    # the properties hold whatever the seed
    other = generate_shop(3).customers.set_index("customer_id")
    assert other.loc[lover, "favourite_categories"] == ("outdoor",)
    assert not other.loc[never, "consents_to_personalization"]


def test_ranking_frame_shape(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == ["subject", "query_id", "item_id", *FEATURE_COLUMNS, "relevance"]
    assert all(frame[f].dtype == np.float64 for f in FEATURE_COLUMNS)
    assert not frame[list(FEATURE_COLUMNS)].isna().any().any()
    assert set(frame["relevance"]) == {0, 1, 2, 3}
    sizes = frame.groupby("query_id").size()
    assert (sizes == 25).all()
    assert (frame.groupby("query_id")["subject"].nunique() == 1).all()
    assert not frame.duplicated(["query_id", "item_id"]).any()
    relevant = frame[frame["relevance"] > 0].groupby("query_id").size()
    assert (relevant.reindex(sizes.index, fill_value=0) >= 3).mean() > 0.7
    # rows of one query are contiguous (LightGBM groups)
    assert frame["query_id"].is_monotonic_increasing


def test_candidates_share_the_features(shop: Shop, frame: pd.DataFrame) -> None:
    story = story_customers()
    cands = candidates_for(shop, story.outdoor_lover, n=30)
    assert list(cands.columns) == ["item_id", *FEATURE_COLUMNS]
    assert list(cands.dtypes.iloc[1:]) == list(frame[list(FEATURE_COLUMNS)].dtypes)
    assert len(cands) == 30 and cands["item_id"].is_unique
    cats = cands.merge(shop.items[["item_id", "category"]])["category"]
    assert set(cats) == set(CATEGORIES)
    outdoor = cands.merge(shop.items[["item_id", "category"]])["category"] == "outdoor"
    views = cands["views_same_category_30d"]
    assert (views[outdoor] == _recent_category_views(shop, story.outdoor_lover, "outdoor")).all()
    assert views[outdoor].min() > views[~outdoor].max()
    assert len(candidates_for(shop, "cust-0002", n=10)) == 10
    with pytest.raises(UnknownSubject):
        candidates_for(shop, "cust-9999")


def test_feature_docs() -> None:
    docs = feature_docs()
    assert list(docs) == list(FEATURE_COLUMNS)
    for name, doc in docs.items():
        assert set(doc) == {"purpose", "label", "concept", "sensitive", "actionable"}
        expected = "personalization" if name in PERSONAL_FEATURES else "service"
        assert doc["purpose"] == expected
        assert doc["sensitive"] is False and doc["actionable"] is False
        assert doc["label"] and doc["concept"]
    assert set(ITEM_FEATURES) | set(PERSONAL_FEATURES) == set(FEATURE_COLUMNS)
    credit = credit_feature_docs()
    assert list(credit) == list(CREDIT_FEATURES)
    assert all(
        d["purpose"] == "profiling" and set(d) == set(docs["item_rating"]) for d in credit.values()
    )


def test_lambdarank_beats_random(frame: pd.DataFrame) -> None:
    lgb = pytest.importorskip("lightgbm")
    from sklearn.metrics import ndcg_score

    features = list(FEATURE_COLUMNS)
    held_out = frame["query_id"] % 4 == 0
    train, test = frame[~held_out], frame[held_out]
    data = lgb.Dataset(
        train[features], train["relevance"], group=train.groupby("query_id").size().to_numpy()
    )
    params = {"objective": "lambdarank", "verbose": -1, "seed": 0, "deterministic": True}
    booster = lgb.train(params, data, num_boost_round=50)
    test = test.assign(score=booster.predict(test[features]))
    rng = np.random.default_rng(0)
    model, chance = [], []
    for _, query in test.groupby("query_id"):
        truth = [query["relevance"].to_numpy()]
        model.append(ndcg_score(truth, [query["score"].to_numpy()], k=5))
        chance.append(ndcg_score(truth, [rng.random(len(query))], k=5))
    assert np.mean(model) > np.mean(chance) + 0.2


def test_credit_frame_is_learnable(shop: Shop) -> None:
    lgb = pytest.importorskip("lightgbm")
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    credit = credit_frame(shop)
    assert list(credit.columns) == ["subject", *CREDIT_FEATURES, "repaid"]
    assert credit["subject"].equals(shop.customers["customer_id"])
    assert set(credit["repaid"]) == {0, 1} and 0.5 < credit["repaid"].mean() < 0.9
    assert all(credit[f].dtype == np.float64 for f in CREDIT_FEATURES)
    model = lgb.LGBMClassifier(
        n_estimators=100, learning_rate=0.05, min_child_samples=10, verbose=-1
    )
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    x, y = credit[list(CREDIT_FEATURES)], credit["repaid"]
    proba = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    assert roc_auc_score(y, proba) > 0.7
