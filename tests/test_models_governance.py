"""Registry governance on real data: sign-off before serving, shadow mode (rankers are covered in
test_recommend_controls.py, classifiers here), reproducible training, holdout metrics checked
against independent implementations, consent as of the event time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    DATA,
    feature_frame,
    feature_row,
    german_credit,
    opened,
    signed_classifier,
)
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sklearn.datasets import load_svmlight_file
from sklearn.metrics import roc_auc_score

from sdk import Feature, FeatureSchema, Personalizer
from sdk.errors import ModelNotSignedOff, WhylensError
from sdk.models.training import _mean_ndcg

RANK = DATA / "lgbm_rank"
LOAN = ("month", "credit_amount", "investment_as_income_percentage")
_READER = InMemoryMetricReader()


def letor(split: str) -> pd.DataFrame:
    """lgbm_rank as a frame: one subject per query, 300 features, integer relevance."""
    x, y = load_svmlight_file(str(RANK / f"rank.{split}"), n_features=300)
    sizes = np.loadtxt(RANK / f"rank.{split}.query", dtype=int)
    query = np.repeat(np.arange(len(sizes)), sizes)
    frame = pd.DataFrame(x.toarray(), columns=[f"f{i}" for i in range(300)])
    frame.insert(0, "query", query)
    frame.insert(0, "subject", [f"{split}-user-{q:03d}" for q in query])
    frame["relevance"] = y.astype("int64")
    return frame


def letor_schema() -> FeatureSchema:
    return FeatureSchema(
        Feature(f"f{i}", purpose="personalization" if i < 150 else "service", label=f"signal {i}")
        for i in range(300)
    )


def test_unsigned_versions_are_refused_until_a_person_signs_off(credit) -> None:
    p, frame, schema = credit
    subject, row = frame["subject"].iloc[0], feature_row(frame, schema, 0)
    p.models.train_classifier("fresh", frame, schema, target="good", num_boost_round=10)
    with pytest.raises(ModelNotSignedOff) as info:
        p.decide(subject, row, model="fresh")
    assert isinstance(info.value, WhylensError) and "sign_off" in str(info.value)
    with pytest.raises(ModelNotSignedOff):
        p.decide(subject, row, model=p.models.get("fresh", 1))
    before = p.audit.verify().checked
    record = p.models.sign_off("fresh", 1, reviewer="reviewer.ines", note="card checked")
    assert record.content_hash == p.models.get("fresh", 1).content_hash
    assert p.audit.verify().checked == before + 1  # the sign-off is a ledger entry
    assert p.decide(subject, row, model="fresh").model_version == 1
    # a new version does not serve until it is signed off: the name keeps serving v1
    p.models.train_classifier("fresh", frame, schema, target="good", num_boost_round=12)
    assert p.decide(subject, row, model="fresh").model_version == 1
    p.models.sign_off("fresh", 2, reviewer="reviewer.ines")
    assert p.decide(subject, row, model="fresh").model_version == 2


def test_sign_offs_survive_reopen_and_the_app_can_opt_out(tmp_path: Path) -> None:
    frame, schema = german_credit()
    db = tmp_path / "g.db"
    with Personalizer.open(db) as p:
        for subject in frame["subject"].iloc[:300]:
            p.consent.grant(subject, "profiling")
        p.models.train_classifier("c", frame.iloc[:300], schema, target="good",
                                  num_boost_round=10)
        p.models.sign_off("c", 1, reviewer="reviewer.a")
    with Personalizer.open(db) as p:
        assert p.models.sign_off_of("c", 1) is not None
        p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="c")
        p.models.train_classifier("c", frame.iloc[:300], schema, target="good",
                                  num_boost_round=11)
    with Personalizer.open(db, require_sign_off=False) as p:  # the explicit opt-out
        decision = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="c")
        assert decision.model_version == 2


def test_reproducible_training_same_seed_same_hash(p: Personalizer) -> None:
    frame, schema = german_credit()
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    a = p.models.train_classifier("a", frame, schema, target="good", num_boost_round=30, seed=3)
    b = p.models.train_classifier("b", frame, schema, target="good", num_boost_round=30, seed=3)
    c = p.models.train_classifier("c", frame, schema, target="good", num_boost_round=30, seed=4,
                                  params={"bagging_fraction": 0.8, "bagging_freq": 1})
    assert a.content_hash == b.content_hash != c.content_hash
    assert a.metrics == b.metrics
    # the card's holdout AUC equals scikit-learn's on the same holdout
    rng = np.random.default_rng(3)
    holdout = rng.random(len(frame)) < 0.2
    booster = p.models.get("a").booster
    scores = booster.predict(frame.loc[holdout, list(schema.names)], raw_score=True)
    assert a.metrics["auc"] == pytest.approx(roc_auc_score(frame["good"][holdout], scores))
    assert a.metrics["auc"] > 0.7


def test_ranker_on_lgbm_rank_reports_ndcg_at_5(p: Personalizer) -> None:
    train, test = letor("train"), letor("test")
    for subject in train["subject"].unique():
        p.consent.grant(subject, "personalization")
    card = p.models.train_ranker("letor", train, letor_schema(), target="relevance",
                                 group="query", num_boost_round=60)
    model = p.models.get("letor")
    scores = model.raw_scores(test[list(model.schema.names)].to_numpy())
    ndcg = _mean_ndcg(test["relevance"].to_numpy(float), scores, test["query"].to_numpy(), k=5)
    print(f"\nlgbm_rank test NDCG@5 {ndcg:.4f} (holdout on card {card.metrics['ndcg@5']:.4f})")
    assert 0.55 < ndcg < 1.0
    assert card.metrics["ndcg@5"] > 0.5
    # the booster is the registered one: its scores are what recommend() would serve
    assert model.content_hash == card.content_hash


def test_mean_ndcg_matches_a_brute_force_reference() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 8)
    y = rng.integers(0, 4, len(groups)).astype(float)
    s = rng.normal(size=len(groups))
    expected = []
    for g in range(20):
        rel, sc = y[groups == g], s[groups == g]
        order = sorted(range(8), key=lambda i: -sc[i])
        dcg = sum((2 ** rel[i] - 1) / np.log2(r + 2) for r, i in enumerate(order[:5]))
        ideal = sorted(rel, reverse=True)
        idcg = sum((2 ** v - 1) / np.log2(r + 2) for r, v in enumerate(ideal[:5]))
        if idcg > 0:
            expected.append(dcg / idcg)
    assert _mean_ndcg(y, s, groups, k=5) == pytest.approx(np.mean(expected))


def test_training_uses_consent_as_of_each_event_not_today(p: Personalizer) -> None:
    frame, schema = german_credit()
    frame = frame.iloc[:400].copy()
    granted = p.consent.grant(frame["subject"].iloc[0], "profiling")
    for subject in frame["subject"].iloc[1:]:
        p.consent.grant(subject, "profiling")
    t_grant = granted.at
    withdrawn = p.consent.withdraw(frame["subject"].iloc[1], "profiling")
    # rows 0-99 happened before anyone consented; the rest after every grant, before today
    before, after = t_grant - timedelta(days=1), withdrawn.at - timedelta(microseconds=1)
    frame["at"] = [before] * 100 + [after] * 300
    card = p.models.train_classifier("asof", frame, schema, target="good", time_column="at",
                                     num_boost_round=10)
    # rows 0..99 are left out for lack of consent at their time, although 399 of 400 consent now
    assert card.rows_left_out == 100
    assert card.left_out_by_purpose == {"profiling": 100}
    today = p.models.train_classifier("today", frame, schema, target="good",
                                      num_boost_round=10)
    # without the time column, today's state counts: only the withdrawn subject's row is out
    assert today.rows_left_out == 1 and today.left_out_by_purpose == {"profiling": 1}


# the CLI takes a database file (--db); no --keyring for server URLs yet
@pytest.mark.sqlite_only
def test_cli_lists_signs_off_and_shadows(credit, db_path: Path) -> None:
    from typer.testing import CliRunner

    from sdk.cli import app

    p, frame, schema = credit
    p.models.train_classifier("credit", frame, schema, target="good", num_boost_round=5)
    runner = CliRunner()
    db = ["--db", str(db_path)]
    listed = runner.invoke(app, ["models", "list", *db])
    assert listed.exit_code == 0 and "credit v2" in listed.output
    assert "NOT signed off" in listed.output
    signed = runner.invoke(app, ["models", "sign-off", "credit", "2", "--reviewer", "rev.k", *db])
    assert signed.exit_code == 0, signed.output
    # another Personalizer's sign-off counts on this one's very next call
    assert p.models.sign_off_of("credit", 2).reviewer == "rev.k"
    assert p.models.serving("credit").version == 2
    with Personalizer.open(db_path) as again:
        assert again.models.sign_off_of("credit", 2).reviewer == "rev.k"


def test_features_are_masked_per_purpose_when_the_label_purpose_is_granted(
    p: Personalizer,
) -> None:
    frame, schema = german_credit()
    frame = frame.iloc[:400].copy()
    loan = {"month", "credit_amount", "investment_as_income_percentage"}
    split = FeatureSchema(
        f.model_copy(update={"purpose": "analytics"}) if f.name in loan else f for f in schema
    )
    for i, subject in enumerate(frame["subject"]):
        p.consent.grant(subject, ["profiling", "analytics"] if i % 2 else "profiling")
    p.consent.withdraw(frame["subject"].iloc[0], "profiling")
    card = p.models.train_classifier("masked", frame, split, target="good",
                                     target_purpose="profiling", num_boost_round=10)
    # one row lacks the label's purpose and is left out; 199 more keep their row, with the
    # three "analytics" features missing, exactly as serving would mask them
    assert card.rows_used == 399 and card.left_out_by_purpose == {"profiling": 1}
    assert card.masked_by_purpose == {"analytics": 199}
    strict = p.models.train_classifier("strict", frame, split, target="good",
                                       num_boost_round=10)
    assert strict.rows_used == 200
    assert strict.left_out_by_purpose == {"profiling": 1, "analytics": 200}
    booster = p.models.get("masked").booster
    # the masked model learnt a path for missing loan features: its trees split with them missing
    dump = booster.dump_model()["tree_info"]
    assert any('"missing_type": "NaN"' in str(t).replace("'", '"') for t in dump)


@pytest.fixture(scope="module")
def shadow_metrics() -> InMemoryMetricReader:
    metrics.set_meter_provider(MeterProvider(metric_readers=[_READER]))  # global: once a process
    return _READER


def shadow_points(reader: InMemoryMetricReader, name: str, version: int) -> tuple[int, float]:
    """Count and sum of the ``credit`` model's shadow histogram ``name`` for one candidate."""
    count, total = 0, 0.0
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:  # type: ignore[union-attr]
                    attrs = point.attributes or {}
                    if (attrs.get("whylens.model.name"), attrs.get("whylens.shadow.version")) == (
                        "credit", version,
                    ):
                        count += point.count  # type: ignore[union-attr]
                        total += point.sum  # type: ignore[union-attr]
    return count, total


def loan_split_credit(p: Personalizer) -> tuple[pd.DataFrame, FeatureSchema, int]:
    """German credit with the loan features under "analytics"; serving v1 signed off, and the
    applicant with the largest loan withdraws "analytics", so their loan features are masked at
    serving time (that row's index is returned)."""
    frame, schema = german_credit()
    split = FeatureSchema(
        f.model_copy(update={"purpose": "analytics"}) if f.name in LOAN else f for f in schema
    )
    signed_classifier(p, frame, split, purposes=("profiling", "analytics"), band=None)
    withdrawn = int(frame["credit_amount"].to_numpy().argmax())
    p.consent.withdraw(frame["subject"].iloc[withdrawn], "analytics")
    return frame, split, withdrawn


def expected_probability(p: Personalizer, version: int, row: dict[str, float | str | None],
                         masked: tuple[str, ...] = ()) -> float:
    """The candidate's probability straight from LightGBM, on the row with ``masked`` missing."""
    model = p.models.get("credit", version)
    x = feature_frame(model.schema, [{n: None if n in masked else row[n] for n in row}])
    return float(1 / (1 + np.exp(-model.booster.predict(x, raw_score=True)[0])))


SAME = ("output", "explanation", "model", "consent", "feature_mac", "shown_text_sha256")


def test_shadow_classifier_is_recorded_beside_decide_and_never_served(
    p: Personalizer, shadow_metrics: InMemoryMetricReader
) -> None:
    frame, split, withdrawn = loan_split_credit(p)
    indices = [withdrawn, 0, 1, 2, 3, 4, 5, 6]
    rows = {i: feature_row(frame, split, i) for i in indices}
    before = {i: p.decide(frame["subject"].iloc[i], rows[i], model="credit") for i in indices}
    # v2: same data, a few more rounds; never signed off, so v1 keeps serving
    p.models.train_classifier("credit", frame, split, target="good",
                              outcomes=("declined", "approved"), num_boost_round=14)
    p.models.shadow("credit", 2)
    counted = shadow_points(shadow_metrics, "whylens.shadow.outcome_agreement", 2)
    agreed, shadows = [], {}
    for i in indices:
        decision = p.decide(frame["subject"].iloc[i], rows[i], model="credit")
        served = before[i]
        assert decision.model_version == served.model_version == 1
        assert (decision.outcome, decision.automated_outcome, decision.score,
                decision.probability, decision.status, decision.why) == (
            served.outcome, served.automated_outcome, served.score, served.probability,
            served.status, served.why)
        now = p.audit.entries_of(decision.decision_id)[0].data
        then = p.audit.entries_of(served.decision_id)[0].data
        assert {k: now[k] for k in SAME} == {k: then[k] for k in SAME}
        assert then["shadow"] is None
        assert set(now["shadow"]) == {"version", "content_hash"}  # the figures are sealed
        shadow = opened(p, decision.decision_id).shadow
        assert shadow is not None
        masked = LOAN if i == withdrawn else ()
        want = expected_probability(p, 2, rows[i], masked)
        assert shadow["version"] == 2 and shadow["scored"] is True
        assert shadow["content_hash"] == p.models.get("credit", 2).content_hash
        assert shadow["masked"] == list(masked)
        assert shadow["probability"] == pytest.approx(want, abs=1e-9)
        assert shadow["probability_difference"] == pytest.approx(want - decision.probability)
        assert shadow["agrees"] == ((want >= 0.5) == (decision.probability >= 0.5))
        assert shadow["outcome"] == ("approved" if want >= 0.5 else "declined")
        agreed.append(shadow["agrees"])
        shadows[i] = shadow
    # the candidate scored without the loan features that were withheld, and that mattered
    unmasked = expected_probability(p, 2, rows[withdrawn])
    assert shadows[withdrawn]["probability"] != pytest.approx(unmasked)
    assert sum(agreed) >= 6  # a near-identical candidate agrees almost always
    count, total = shadow_points(shadow_metrics, "whylens.shadow.outcome_agreement", 2)
    assert (count - counted[0], total - counted[1]) == (len(indices), float(sum(agreed)))
    gaps, _ = shadow_points(shadow_metrics, "whylens.shadow.probability_difference", 2)
    assert gaps >= len(indices)


def test_a_disagreeing_shadow_is_recorded_as_disagreeing(
    p: Personalizer, shadow_metrics: InMemoryMetricReader
) -> None:
    frame, split, _ = loan_split_credit(p)
    subject, row = frame["subject"].iloc[3], feature_row(frame, split, 3)
    served = p.decide(subject, row, model="credit")
    # v2 learnt the opposite label: it declines whom v1 approves and the other way round
    p.models.train_classifier("credit", frame.assign(good=1 - frame["good"]), split,
                              target="good", outcomes=("declined", "approved"),
                              num_boost_round=10)
    p.models.shadow("credit", 2)
    counted = shadow_points(shadow_metrics, "whylens.shadow.outcome_agreement", 2)
    decision = p.decide(subject, row, model="credit")
    assert (decision.model_version, decision.outcome, decision.probability) == (
        1, served.outcome, served.probability)
    shadow = opened(p, decision.decision_id).shadow
    assert shadow is not None
    want = expected_probability(p, 2, row)
    assert (want >= 0.5) != (served.probability >= 0.5)  # the premise: they really disagree
    assert shadow["agrees"] is False and shadow["outcome"] != served.automated_outcome
    assert shadow["probability_difference"] == pytest.approx(want - served.probability)
    count, total = shadow_points(shadow_metrics, "whylens.shadow.outcome_agreement", 2)
    assert (count - counted[0], total - counted[1]) == (1, 0.0)
    _, gap = shadow_points(shadow_metrics, "whylens.shadow.probability_difference", 2)
    assert gap >= abs(want - served.probability) - 1e-9
    # a candidate that needs a feature this request lacks is noted, and the decision still serves
    extra = FeatureSchema([*split, Feature("extra", purpose="profiling", label="extra signal")])
    p.models.train_classifier("credit", frame.assign(extra=frame["age"] % 7), extra,
                              target="good", num_boost_round=5)
    p.models.shadow("credit", 3)
    again = p.decide(subject, row, model="credit")
    assert again.probability == served.probability
    assert opened(p, again.decision_id).shadow == {
        "version": 3, "content_hash": p.models.get("credit", 3).content_hash,
        "scored": False, "reason": "features", "missing": ["extra"],
    }
    p.models.shadow("credit", None)
    off = p.decide(subject, row, model="credit")
    assert p.audit.entries_of(off.decision_id)[0].data["shadow"] is None
    assert opened(p, off.decision_id).shadow is None
