"""Registry governance on real data: sign-off before serving, shadow mode, reproducible training,
holdout metrics checked against independent implementations, consent as of the event time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, feature_row, german_credit
from sklearn.datasets import load_svmlight_file
from sklearn.metrics import roc_auc_score

from sdk import Feature, FeatureSchema, Personalizer
from sdk.errors import ModelNotSignedOff, WhylensError
from sdk.models.training import _mean_ndcg

RANK = DATA / "lgbm_rank"


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
    scores = booster.predict(frame.loc[holdout, list(schema.names)].to_numpy(), raw_score=True)
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
    assert p.models.sign_off_of("credit", 2) is None  # another process: this one re-reads on open
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
