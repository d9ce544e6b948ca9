"""Issue 14: the shipped data as it is — German credit and UCI Adult from their raw columns, with
LightGBM's native categorical splits, through train, decide, explain, counterfactual and
fairness; and what the category plumbing promises (LightGBM's own mapping on the booster,
unknown categories scored as missing and said so, codes on the record, inferred categories)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
from conftest import (
    DATA,
    all_bytes,
    feature_frame,
    feature_row,
    german_credit,
    opened,
    signed_classifier,
)

from sdk import Feature, FeatureSchema, Personalizer, ReviewPolicy
from sdk.batch import local
from sdk.explain.fast import Explainer
from sdk.explain.readability import flesch_reading_ease

ADULT = DATA / "adult" / "adult.csv"
ADULT_TRAIN_ROWS = 6000
ADULT_TEST_ROWS = 240

# Adult: what a person reads per feature; race, sex, relationship (Husband/Wife encodes sex),
# native-country (national origin) and fnlwgt (a census sampling weight) are not features, and
# age is one marked sensitive. workclass and occupation get plain labels per category; the
# other categoricals are left to inference from their string columns (labels = the values).
ADULT_WORKCLASS = {
    "Private": "a private firm", "Self-emp-not-inc": "self-employed", "Self-emp-inc":
    "your own company", "Federal-gov": "federal work", "Local-gov": "local public work",
    "State-gov": "state public work", "Without-pay": "unpaid work", "Never-worked":
    "never worked",
}
ADULT_OCCUPATION = {
    "Tech-support": "tech support", "Craft-repair": "craft or repair", "Other-service":
    "other service", "Sales": "sales", "Exec-managerial": "a manager", "Prof-specialty":
    "a professional", "Handlers-cleaners": "cleaning or handling", "Machine-op-inspct":
    "machine work", "Adm-clerical": "office work", "Farming-fishing": "farm or fishing work",
    "Transport-moving": "transport", "Priv-house-serv": "house service", "Protective-serv":
    "guard or police work", "Armed-Forces": "the armed forces",
}


def adult() -> tuple[pd.DataFrame, FeatureSchema, pd.DataFrame]:
    """UCI Adult from its raw columns ("?" is missing), a subject column and the target; its
    schema; and the protected attributes (sex, race) per row, which are not features."""
    raw = pd.read_csv(ADULT, na_values="?", skipinitialspace=True)
    raw.columns = [c.replace("-", "_") for c in raw.columns]
    frame = raw[
        ["age", "workclass", "education", "education_num", "marital_status", "occupation",
         "capital_gain", "capital_loss", "hours_per_week"]
    ].copy()
    frame.insert(0, "subject", [f"adult-{i:05d}" for i in range(len(raw))])
    frame["workclass"] = pd.Categorical(frame["workclass"], categories=list(ADULT_WORKCLASS))
    frame["high"] = (raw["income_per_year"] == ">50K").astype("int64")
    f = "profiling"
    schema = FeatureSchema([
        Feature("age", purpose=f, label="your age", sensitive=True),
        Feature("workclass", kind="categorical", categories=ADULT_WORKCLASS, purpose=f,
                label="who you work for", concept="work", actionable=True,
                targets=[c for c in ADULT_WORKCLASS if c not in ("Without-pay", "Never-worked")]),
        Feature("education", purpose=f, label="your schooling", concept="schooling"),
        Feature("education_num", purpose=f, label="years of school", concept="schooling"),
        Feature("marital_status", purpose=f, label="your family status"),
        Feature("occupation", kind="categorical", categories=ADULT_OCCUPATION, purpose=f,
                label="your kind of job", concept="work"),
        Feature("capital_gain", purpose=f, label="gains on what you own", concept="capital"),
        Feature("capital_loss", purpose=f, label="losses on what you own", concept="capital"),
        Feature("hours_per_week", purpose=f, label="hours you work each week", concept="work",
                actionable=True, direction="increase", max_value=80.0, step=1.0),
    ])
    return frame, schema, raw[["sex", "race"]]


def test_adult_string_columns_infer_categories_kept_across_processes(
    store_url: str, keyring_path: Path
) -> None:
    frame, schema, _ = adult()
    rows = frame.sample(n=2000, random_state=1).reset_index(drop=True)
    rows["subject"] = [f"adult-{i % 50:02d}" for i in range(len(rows))]  # fewer consents to log
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        for subject in rows["subject"].unique():
            p.consent.grant(subject, "profiling")
        card = p.models.train_classifier("credit", rows, schema, target="high",
                                         num_boost_round=20)
        p.models.sign_off(card.name, card.version, reviewer="lead")
        stored = p.models.get(card.name).schema
        booster = p.models.get(card.name).booster
    education = stored["education"]
    assert education.kind == "categorical"  # a pandas string column: inferred
    assert education.codes == tuple(sorted(rows["education"].dropna().unique()))
    assert education.categories == {c: c for c in education.codes}
    assert stored["workclass"].codes == tuple(ADULT_WORKCLASS)  # declared order kept
    assert stored["marital_status"].is_categorical and not stored["hours_per_week"].is_categorical
    # LightGBM's own mapping is the schema's: the booster reads a user's category frame itself
    assert booster.pandas_categorical == [list(f.codes) for f in stored if f.is_categorical]
    # another process loads the model from the store and scores category strings the same way
    script = (
        "import sys, json\n"
        "from sdk import Personalizer\n"
        "with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:\n"
        "    m = p.models.get('credit')\n"
        "    print(json.dumps([m.schema['education'].codes, m.schema['workclass'].codes]))\n"
        "    row = json.loads(sys.argv[3])\n"
        "    print(repr(p.decide('adult-x', row, model='credit').score))\n"
    )
    row = feature_row(rows, stored, 0)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("adult-x", "profiling")
    import json

    out = subprocess.run(
        [sys.executable, "-c", script, store_url, str(keyring_path), json.dumps(row)],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.splitlines()
    assert json.loads(out[0]) == [list(education.codes), list(ADULT_WORKCLASS)]
    raw_row = feature_frame(stored, [row])
    assert float(out[1]) == pytest.approx(
        float(booster.predict(raw_row, raw_score=True)[0]), abs=1e-12
    )


@pytest.fixture(scope="module")
def adult_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A classifier trained on a seeded subsample of Adult; held-out rows decided, with sex and
    race stored as protected attributes and the true outcome recorded for each."""
    frame, schema, protected = adult()
    order = np.random.default_rng(14).permutation(len(frame))
    train = frame.iloc[order[:ADULT_TRAIN_ROWS]].reset_index(drop=True)
    train["subject"] = [f"train-{i % 300:03d}" for i in range(len(train))]  # fewer consents
    test_index = order[ADULT_TRAIN_ROWS : ADULT_TRAIN_ROWS + ADULT_TEST_ROWS]
    test = frame.iloc[test_index].reset_index(drop=True)
    groups = protected.iloc[test_index].reset_index(drop=True)
    p = Personalizer.open(tmp_path_factory.mktemp("adult") / "w.db", durability="normal")
    for subject in train["subject"].unique():
        p.consent.grant(subject, "profiling")
    p.models.train_classifier("adult", train, schema, target="high",
                              review_policy=ReviewPolicy(uncertainty_band=None),
                              num_boost_round=80)
    p.models.sign_off("adult", 1, reviewer="lead")
    model = p.models.get("adult")
    ids = []
    for i, subject in enumerate(test["subject"]):
        p.consent.grant(subject, "profiling")
        p.audit.protected.put(subject, {"sex": groups["sex"][i], "race": groups["race"][i]})
        d = p.decide(subject, feature_row(test, model.schema, i), model="adult")
        p.audit.record_outcome(d.decision_id, "approved" if test["high"][i] else "declined")
        ids.append(d.decision_id)
    yield p, model, test, groups, ids
    p.close()


def _raw(model, test: pd.DataFrame) -> pd.DataFrame:
    """The user's raw rows with the categories as pandas categories (as they would pass them to
    LightGBM or shap without whylens)."""
    rows = [feature_row(test, model.schema, i) for i in range(len(test))]
    return feature_frame(model.schema, rows)


def test_adult_native_categorical_splits_exact_and_equal_to_shap(adult_run) -> None:
    p, model, test, _, ids = adult_run
    flat = Explainer.for_booster(model.booster).model
    assert np.count_nonzero(flat.flags & 1) > 20  # many native categorical splits
    raw = _raw(model, test)
    contrib = model.booster.predict(raw, pred_contrib=True)
    values, scores = Explainer.for_booster(model.booster).explain(raw)
    np.testing.assert_allclose(values[:, 0, :], contrib, rtol=0, atol=1e-9)
    explainer = shap.TreeExplainer(model.booster)
    expected = np.asarray(explainer.shap_values(raw)).reshape(len(raw), len(model.schema))
    for k, decision_id in enumerate(ids):
        e = p.explain(decision_id, audience="auditor")
        got = np.array([e.contributions[n] for n in model.schema.names])
        np.testing.assert_allclose(got, expected[k], rtol=0, atol=1e-9)
        assert abs(got.sum() + e.base_value - e.score) < 1e-9
        assert abs(e.score - scores[k, 0]) < 1e-9


def test_adult_end_user_texts_are_plain_and_name_categories(adult_run) -> None:
    p, _model, test, _, ids = adult_run
    scores, named = [], 0
    for k, decision_id in enumerate(ids[:80]):
        text = p.explain(decision_id).text
        scores.append(flesch_reading_ease(text))
        code = test["occupation"][k]
        if isinstance(code, str) and f"your kind of job: {ADULT_OCCUPATION[code]}" in text:
            named += 1
        for hidden in ("your age", "sex", "race"):
            assert hidden not in text
    assert min(scores) >= 60, f"least readable Adult text scores {min(scores):.1f}"
    assert named >= 10


def test_adult_counterfactuals_valid_on_rescoring(adult_run) -> None:
    p, model, test, _, ids = adult_run
    adverse = [(k, d) for k, d in enumerate(ids) if p.decision(d).automated_outcome == "declined"]
    assert len(adverse) >= 100
    valid = found = moved_category = 0
    allowed = set(model.schema["workclass"].targets or ())
    for k, decision_id in adverse:
        cf = p.counterfactual(decision_id)
        if not cf.found:
            continue
        found += 1
        row = feature_row(test, model.schema, k)
        for change in cf.changes:
            assert change.feature in ("workclass", "hours_per_week")
            if change.feature == "workclass":
                assert change.proposed_category in allowed
                assert change.current_category == row["workclass"]
                row["workclass"] = change.proposed_category
                moved_category += 1
            else:
                assert change.proposed > change.current and change.proposed <= 80
                row["hours_per_week"] = change.proposed
        raw = model.booster.predict(feature_frame(model.schema, [row]), raw_score=True)[0]
        valid += 1.0 / (1.0 + np.exp(-raw)) >= model.card.threshold
    assert found >= 20 and moved_category > 0
    assert valid / found >= 0.90, f"validity {valid}/{found}"


@pytest.mark.parametrize("attribute", ["sex", "race"])
def test_adult_fairness_equal_to_fairlearn(adult_run, attribute: str) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    p, _, test, groups, ids = adult_run
    y_pred = np.array([p.decision(d).outcome == "approved" for d in ids], dtype=int)
    y_true = test["high"].to_numpy()
    report = p.audit.fairness("adult", group_by=attribute, bootstrap=100, seed=1)
    ours = {g.group: g for g in report.groups}
    frame = MetricFrame(
        metrics={"sel": selection_rate, "fpr": false_positive_rate, "fnr": false_negative_rate},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups[attribute].to_numpy(),
    ).by_group
    assert set(ours) == set(frame.index)
    for group, row in frame.iterrows():
        assert ours[group].selection_rate == pytest.approx(row["sel"], abs=1e-12)
        if ours[group].false_positive_rate is not None:
            assert ours[group].false_positive_rate == pytest.approx(row["fpr"], abs=1e-12)
        if ours[group].false_negative_rate is not None:
            assert ours[group].false_negative_rate == pytest.approx(row["fnr"], abs=1e-12)


def test_adult_batch_takes_category_strings_like_decide(adult_run) -> None:
    p, model, test, _, ids = adult_run
    batch = test.iloc[:50].copy()
    batch.loc[3, "occupation"] = "Astronaut"  # a category the model never saw: missing
    out = local.score(batch, p, model=model).frame
    phi = out[[f"phi.{n}" for n in model.schema.names]].to_numpy()
    for k in (0, 1, 2, 4):
        e = p.explain(ids[k], audience="auditor")
        np.testing.assert_allclose(phi[k], [e.contributions[n] for n in model.schema.names],
                                   rtol=0, atol=1e-12)
    missing = feature_row(test, model.schema, 3)
    missing["occupation"] = None
    expected = model.booster.predict(feature_frame(model.schema, [missing]), raw_score=True)[0]
    assert out["model_score"][3] == pytest.approx(expected, abs=1e-12)


# -- German credit: what the category plumbing promises ----------------------------------------


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    frame, schema = german_credit()
    p = Personalizer.open(tmp_path_factory.mktemp("german") / "w.db", durability="normal")
    signed_classifier(p, frame, schema, rounds=40, band=None)
    yield p, frame, p.models.get("credit")
    p.close()


def test_german_booster_works_on_the_users_raw_frame(german) -> None:
    p, frame, model = german
    raw = frame[list(model.schema.names)]  # exactly as german_credit() built it
    assert model.booster.pandas_categorical == [
        list(f.codes) for f in model.schema if f.is_categorical
    ]
    assert len(model.booster.pandas_categorical) == 11
    ours = np.array([
        p.decide(frame["subject"].iloc[i], feature_row(frame, model.schema, i),
                 model="credit").score
        for i in range(40)
    ])
    np.testing.assert_allclose(ours, model.booster.predict(raw.iloc[:40], raw_score=True),
                               rtol=0, atol=1e-12)
    values = np.asarray(shap.TreeExplainer(model.booster).shap_values(raw.iloc[:200]))
    contrib = model.booster.predict(raw.iloc[:200], pred_contrib=True)
    np.testing.assert_allclose(values.reshape(200, -1), contrib[:, :-1], rtol=0, atol=1e-9)
    fast, _ = Explainer.for_booster(model.booster).explain(raw)
    np.testing.assert_allclose(fast[:, 0, :], model.booster.predict(raw, pred_contrib=True),
                               rtol=0, atol=1e-9)
    # the same mapping as plain LightGBM trained on the same frame would have
    plain = lgb.train({"verbosity": -1}, lgb.Dataset(raw, frame["good"]), 1)
    assert plain.pandas_categorical == model.booster.pandas_categorical


def test_german_end_user_text_names_the_category_and_reviewers_see_the_code(german) -> None:
    p, frame, model = german
    renting = [i for i in range(len(frame)) if frame["housing"].iloc[i] == "A151"]
    texts = []
    for i in renting[:60]:
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, model.schema, i), model="credit")
        assert p.decision(d.decision_id).why == d.why  # read back from the record: same text
        assert p.explain(d.decision_id).text == d.why
        reviewer = p.explain(d.decision_id, audience="reviewer").text
        assert "housing = renting (A151)  (your housing)" in reviewer
        texts.append(d.why)
    assert any("your housing: renting" in t for t in texts)
    assert not any("A151" in t for t in texts)  # codes are for reviewers


def test_unknown_category_scores_as_missing_and_reviewers_are_told(german, tmp_path) -> None:
    p, frame, model = german
    row = feature_row(frame, model.schema, 5)
    canary = "CANARY-HOUSING-7f3e"
    d = p.decide(frame["subject"].iloc[5], {**row, "housing": canary}, model="credit")
    as_missing = model.booster.predict(
        feature_frame(model.schema, [{**row, "housing": None}]), raw_score=True
    )[0]
    assert d.score == pytest.approx(as_missing, abs=1e-12)
    reviewer = p.explain(d.decision_id, audience="reviewer").text
    assert "housing = unknown category (scored as missing)" in reviewer
    known = p.decide(frame["subject"].iloc[5], {**row, "housing": None}, model="credit")
    assert "housing = missing" in p.explain(known.decision_id, audience="reviewer").text
    assert "your housing:" not in d.why
    assert canary not in reviewer and canary.encode() not in all_bytes(p.path)
    # which categories were unknown is about the person's input: sealed with it
    assert p.audit.entries_of(d.decision_id)[0].data["unknown_categories"] == []
    assert opened(p, d.decision_id).unknown == ("housing",)
    assert opened(p, known.decision_id).unknown == ()


def test_concepts_group_categorical_with_numeric_features(tmp_path) -> None:
    from test_explain_data import german_personalizer

    p, frame, schema = german_personalizer(tmp_path)
    try:
        assert schema.members("loan") == (
            "month", "credit_amount", "investment_as_income_percentage", "purpose",
            "other_debtors",
        )
        for i in range(800, 840):
            d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
            e = p.explain(d.decision_id)
            auditor = p.explain(d.decision_id, audience="auditor").contributions
            for reason in e.reasons:
                assert reason.contribution == pytest.approx(
                    sum(auditor[n] for n in reason.features), abs=1e-12
                )
                if reason.concept == "loan":
                    purpose = schema["purpose"].category_label(frame["purpose"].iloc[i])
                    assert reason.label.startswith("the loan you asked for (")
                    assert f"what the loan is for: {purpose}" in reason.label
    finally:
        p.close()


def test_category_order_in_the_frame_does_not_matter_and_undeclared_values_are_refused(
    p: Personalizer,
) -> None:
    from sdk.errors import FeatureError

    frame, schema = german_credit()
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    a = p.models.train_classifier("a", frame, schema, target="good", num_boost_round=10)
    shuffled = frame.copy()
    for f in schema:
        if f.is_categorical:  # the same values, the categories listed in another order
            shuffled[f.name] = shuffled[f.name].cat.reorder_categories(list(f.codes)[::-1])
    b = p.models.train_classifier("b", shuffled, schema, target="good", num_boost_round=10)
    assert a.content_hash == b.content_hash  # codes follow the schema, not the frame
    strings = frame.assign(housing=frame["housing"].astype(str))  # plain strings: the same
    c = p.models.train_classifier("c", strings, schema, target="good", num_boost_round=10)
    assert c.content_hash == a.content_hash
    typo = strings.copy()
    typo.loc[[3, 9], "housing"] = "A15l"
    with pytest.raises(FeatureError, match="'housing' has 2 training values that are not among"):
        p.models.train_classifier("d", typo, schema, target="good", num_boost_round=10)
    assert [card.name for card in p.models.list()] == ["a", "b", "c"]


def test_recommend_takes_category_strings_and_reviewers_see_unknown_ones(
    p: Personalizer,
) -> None:
    rng = np.random.default_rng(14)
    colours = ["red", "blue", "green", "black"]
    queries, per = 300, 6
    rows = pd.DataFrame({
        "subject": np.repeat([f"shopper-{q % 20:03d}" for q in range(queries)], per),
        "query": np.repeat(np.arange(queries), per),
        "colour": pd.Categorical(rng.choice(colours, queries * per), categories=colours),
        "price": rng.uniform(5, 100, queries * per),
    })
    rows["clicked"] = ((rows["colour"] == "green") | (rows["price"] < 20)).astype(int)
    schema = FeatureSchema([
        Feature("colour", kind="categorical", purpose="personalization", label="its colour",
                categories={"red": "red", "blue": "blue", "green": "green", "black": "black"}),
        Feature("price", purpose="personalization", label="its price"),
    ])
    for subject in rows["subject"].unique():
        p.consent.grant(subject, "personalization")
    p.models.train_ranker("shop", rows, schema, target="clicked", group="query",
                          num_boost_round=20)
    p.models.sign_off("shop", 1, reviewer="lead")
    model = p.models.get("shop")
    candidates = [
        {"item_id": "a", "colour": "green", "price": 50.0},
        {"item_id": "b", "colour": "red", "price": 50.0},
        {"item_id": "c", "colour": "mauve", "price": 50.0},  # never seen: missing
        {"item_id": "d", "colour": None, "price": 50.0},
    ]
    recs = p.recommend("shopper-001", candidates, model="shop", k=4)
    scores = {i.item_id: i.score for i in recs.items}
    expected = model.booster.predict(
        feature_frame(schema, [{**c, "colour": None if c["colour"] == "mauve" else c["colour"]}
                               for c in candidates]), raw_score=True)
    for c, value in zip(candidates, expected, strict=True):
        assert scores[c["item_id"]] == pytest.approx(value, abs=1e-12)
    assert scores["c"] == pytest.approx(scores["d"], abs=1e-12)
    assert recs.items[0].item_id == "a"
    unknown = p.explain(recs.decision_id, audience="reviewer", item_id="c").text
    assert "colour = unknown category (scored as missing)" in unknown
    assert "colour = green (green)" in p.explain(recs.decision_id, audience="reviewer",
                                                 item_id="a").text
    assert "colour = missing" in p.explain(recs.decision_id, audience="reviewer",
                                           item_id="d").text


def test_category_order_survives_canonical_json() -> None:
    """The codes' order is the model's category index; RFC 8785 JSON sorts object keys, so the
    stored form must not be an object (this was the batch-vs-decide bug on Adult)."""
    from sdk._canonical import canonical_json, loads
    from sdk.models.schema import Feature, FeatureSchema

    schema = FeatureSchema([
        Feature("housing", purpose="personalization", label="your housing", kind="categorical",
                categories={"z_rent": "renting", "a_own": "owner", "m_free": "rent-free"}),
    ])
    again = FeatureSchema.from_json(loads(canonical_json(schema.to_json()).decode()))
    assert again == schema
    assert again.features[0].codes == ("z_rent", "a_own", "m_free")
