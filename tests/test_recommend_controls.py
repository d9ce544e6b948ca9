"""recommend() controls on the demo shop: rules, the person's preferences, non-profiling mode,
source tags with their why, propensities and shadow agreement on the audit record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import opened

from sdk import Personalizer
from sdk.demo.shop import candidates_for as shop_candidates
from sdk.demo.shop import generate_shop, ranking_frame
from sdk.demo.story import ranking_schema
from sdk.errors import FeatureError
from sdk.models.rerank import RerankPolicy
from sdk.models.rules import Rule

WHO = "cust-0007"  # consents; loves outdoor goods
PERSONAL = [f.name for f in ranking_schema() if f.purpose == "personalization"]


@pytest.fixture(scope="module")
def shop_p(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Personalizer, object]]:
    shop = generate_shop(seed=7)
    path: Path = tmp_path_factory.mktemp("shop") / "shop.db"
    with Personalizer.open(path) as p:
        consenting = shop.customers["customer_id"][shop.customers["consents_to_personalization"]]
        for customer in consenting:
            p.consent.grant(customer, "personalization")
        p.models.train_ranker("r", ranking_frame(shop), ranking_schema(), target="relevance",
                              group="query_id", num_boost_round=30)
        p.models.sign_off("r", 1, reviewer="reviewer.tests")
        yield p, shop


def candidates(shop, who: str = WHO) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = shop_candidates(shop, who)
    return frame.merge(shop.items[["item_id", "category"]], on="item_id")


def record(p: Personalizer, decision_id: str) -> dict:  # type: ignore[type-arg]
    entry, _ = p.audit.entries_of(decision_id)
    return entry.data


def test_rules_run_before_scoring_and_are_recorded(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    cands = candidates(shop)
    promo = cands.loc[cands["category"] == "stationery", "item_id"].iloc[0]
    rules = [
        Rule(action="exclude", column="category", op="==", value="outdoor", name="no-outdoor"),
        Rule(action="include", column="item_price_eur", op="<=", value=120.0),
        Rule(action="promote", column="item_id", op="in", value=[promo], name="winter-sale"),
    ]
    recs = p.recommend(WHO, cands, model="r", k=6, rules=rules)
    served = {i.item_id for i in recs.items}
    outdoor = set(cands.loc[cands["category"] == "outdoor", "item_id"])
    expensive = set(cands.loc[cands["item_price_eur"] > 120.0, "item_id"])
    assert not served & (outdoor | expensive)
    first = recs.items[0]
    assert (first.item_id, first.source) == (promo, "promoted")
    assert first.why.startswith("Promoted:")  # promotions are always disclosed
    assert p.explain(recs.decision_id, item_id=promo).text.startswith("Promoted:")
    assert all(i.source == "personal" for i in recs.items[1:])
    data = record(p, recs.decision_id)
    assert [r["name"] for r in data["rules"]] == ["no-outdoor", "", "winter-sale"]
    assert data["rules"][0]["matched"] == len(outdoor)
    assert data["scored"] == len(cands) - len(outdoor | expensive)
    with pytest.raises(FeatureError):
        p.recommend(WHO, cands, model="r", rules=[Rule(action="include", column="category",
                                                        op="==", value="no such category")])


def test_preferences_change_the_next_list_for_real(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    who = "cust-0023"  # consents; kitchen and ceramics
    cands = candidates(shop, who)
    before = p.recommend(who, cands, model="r", k=8)
    browsing = [f.name for f in p.models.get("r").schema if f.concept == "browsing"]
    top = before.items[0].item_id
    explained = p.explain(before.decision_id, audience="auditor", item_id=top)
    assert any(abs(explained.contributions[n]) > 1e-6 for n in browsing)
    p.preferences.remove_interest(who, "browsing")
    p.preferences.not_interested(who, before.items[1].item_id)
    after = p.recommend(who, cands, model="r", k=8)
    assert before.items[1].item_id not in {i.item_id for i in after.items}
    for item in after.items:
        e = p.explain(after.decision_id, audience="auditor", item_id=item.item_id)
        # the concept's contribution is exactly gone, and the numbers still add up
        assert all(e.contributions[n] == 0.0 for n in browsing)
        assert sum(e.contributions.values()) + e.base_value == pytest.approx(item.score)
        assert "brows" not in item.why
    # items that were there because of browsing are gone: the lists differ beyond the exclusion
    kept = {i.item_id for i in before.items} - {before.items[1].item_id}
    assert kept - {i.item_id for i in after.items}
    # the preference is stored encrypted: neither the concept nor the item id is in the file
    entries = list(p.ledger.entries(stream="preferences"))
    assert entries and all("browsing" not in str(e.data) for e in entries)
    assert all(before.items[1].item_id not in str(e.data) for e in entries)
    # see fewer halves the concept's part; reset restores the original list
    p.preferences.reset(who)
    again = p.recommend(who, cands, model="r", k=8)
    assert [i.item_id for i in again.items] == [i.item_id for i in before.items]
    p.preferences.see_fewer(who, "purchases")
    fewer = p.recommend(who, cands, model="r", k=8)
    purchases = [f.name for f in p.models.get("r").schema if f.concept == "purchases"]
    for item in fewer.items:
        half = p.explain(fewer.decision_id, audience="auditor", item_id=item.item_id)
        full = p.explain(again.decision_id, audience="auditor", item_id=item.item_id) if (
            item.item_id in {i.item_id for i in again.items}) else None
        if full is not None:
            for n in purchases:
                assert half.contributions[n] == pytest.approx(0.5 * full.contributions[n])
    p.preferences.reset(who)


def test_non_profiling_uses_no_personal_data(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    cands = candidates(shop)
    recs = p.recommend(WHO, cands, model="r", k=6, profiling=False)
    assert not recs.personalized and "Not based on profiling" in recs.notice
    assert all(i.why.startswith("Not based on profiling") for i in recs.items)
    assert {i.source for i in recs.items} == {"popular"}
    # proof that no personal data is used: scramble every personal feature, same list and scores
    scrambled = cands.copy()
    rng = np.random.default_rng(1)
    for name in PERSONAL:
        scrambled[name] = rng.permutation(scrambled[name].to_numpy())
    other = p.recommend(WHO, scrambled, model="r", k=6, profiling=False)
    assert [(i.item_id, i.score) for i in other.items] == [(i.item_id, i.score) for i in recs.items]
    assert record(p, recs.decision_id)["profiling"] is False
    # per subject: a stored choice applies to every later request
    p.preferences.set_profiling(WHO, False)
    stored = p.recommend(WHO, cands, model="r", k=6)
    assert [i.item_id for i in stored.items] == [i.item_id for i in recs.items]
    p.preferences.set_profiling(WHO, True)
    assert p.recommend(WHO, cands, model="r", k=6).personalized


def test_exploration_and_long_tail_are_tagged_with_propensities(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    cands = candidates(shop)
    policy = RerankPolicy(exploration=0.3, long_tail_floor=3,
                          popularity_column="item_popularity_30d", head_share=0.5)
    sources: set[str] = set()
    for _ in range(6):
        recs = p.recommend(WHO, cands, model="r", k=6, rerank=policy)
        data = record(p, recs.decision_id)
        assert isinstance(data["rerank"]["seed"], int)
        sealed = opened(p, recs.decision_id).values
        assert sealed is not None
        for item, stored, values in zip(recs.items, data["items"], sealed, strict=True):
            assert values.propensity is not None and 0 < values.propensity <= 1
            assert stored["propensity"] is None  # sealed with the person's other values
            assert stored["source"] == item.source
            sources.add(item.source)
            if item.source in ("exploration", "long_tail"):
                assert item.why.startswith("Something new for you")
    assert "exploration" in sources
    # the floor: at least 4 of 6 from outside the popular head; those it pulled in say so
    from sdk.models.rerank import popular_head

    head = popular_head(cands["item_popularity_30d"].to_numpy(), 0.8)
    tail = set(cands["item_id"][~head])
    floor = RerankPolicy(long_tail_floor=4, popularity_column="item_popularity_30d",
                         head_share=0.8)
    recs = p.recommend(WHO, cands, model="r", k=6, rerank=floor)
    assert len({i.item_id for i in recs.items} & tail) >= 4
    pulled = [i for i in recs.items if i.source == "long_tail"]
    assert pulled and all(i.item_id in tail for i in pulled)
    assert all(i.why.startswith("Something new for you") for i in pulled)
    # without a policy every propensity is 1 (the deterministic model order)
    plain = p.recommend(WHO, cands, model="r", k=6)
    assert all(i.propensity == 1.0 for i in opened(p, plain.decision_id).values or ())


def test_shadow_candidate_is_logged_but_never_served(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    cands = candidates(shop)
    serving = p.recommend(WHO, cands, model="r", k=5)
    p.models.train_ranker("r", ranking_frame(shop), ranking_schema(), target="relevance",
                          group="query_id", num_boost_round=10, seed=99)
    p.models.shadow("r", 2)
    shadowed = p.recommend(WHO, cands, model="r", k=5)
    assert shadowed.model_version == 1
    assert [(i.item_id, i.score) for i in shadowed.items] == [
        (i.item_id, i.score) for i in serving.items
    ]
    # in clear only which candidate ran; its agreement figures are sealed with the list
    assert set(record(p, shadowed.decision_id)["shadow"]) == {"version", "content_hash"}
    shadow = opened(p, shadowed.decision_id).shadow
    assert shadow is not None
    assert shadow["version"] == 2 and -1 <= shadow["spearman"] <= 1
    assert 0 <= shadow["top_k_overlap"] <= 1
    p.models.shadow("r", None)
    unshadowed = p.recommend(WHO, cands, model="r", k=5).decision_id
    assert record(p, unshadowed)["shadow"] is None and opened(p, unshadowed).shadow is None
