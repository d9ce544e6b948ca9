"""Bias audit on German credit by sex and by age band, cross-checked against fairlearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import GERMAN, feature_row, german_credit

from sdk import Personalizer, ReviewPolicy
from sdk.errors import AuditError

MALE = {"A91", "A93", "A94"}
FEMALE = {"A92", "A95"}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """Every German-credit applicant decided once, with sex and age band stored as protected
    attributes, true outcomes recorded, and a few reviews."""
    frame, schema = german_credit()
    raw = pd.read_csv(GERMAN)
    sex = raw["personal_status"].map(lambda c: "male" if c in MALE else "female")
    assert set(raw["personal_status"]) <= MALE | FEMALE
    band = pd.cut(raw["age"], [0, 25, 40, 200], labels=["<=25", "26-40", ">40"]).astype(str)
    p = Personalizer.open(tmp_path_factory.mktemp("fair") / "w.db", durability="normal")
    for i, subject in enumerate(frame["subject"]):
        p.consent.grant(subject, "profiling")
        p.audit.protected.put(subject, {"sex": sex[i], "age_band": band[i]})
    _card = p.models.train_classifier(
        "credit",
        frame,
        schema,
        target="good",
        outcomes=("declined", "approved"),
        review_policy=ReviewPolicy(uncertainty_band=(0.48, 0.52)),
        num_boost_round=40,
    )
    p.models.sign_off(_card.name, _card.version, reviewer="lead")
    ids = []
    for i in range(len(frame)):
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        ids.append(d.decision_id)
        if i % 2 == 0:  # true outcomes known for half of them
            p.audit.record_outcome(
                d.decision_id, "approved" if frame["good"].iloc[i] else "declined"
            )
    for decision in p.reviews.pending()[:10]:
        p.reviews.override(
            decision.decision_id, outcome="approved", reviewer="rev.1", reason="second look"
        )
    yield p, frame, ids, sex, band
    p.close()


def _effective(p: Personalizer, ids) -> np.ndarray:
    return np.array([p.decision(d).outcome == "approved" for d in ids], dtype=int)


@pytest.mark.parametrize("attribute", ["sex", "age_band"])
def test_rates_match_fairlearn(audited, attribute) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    p, frame, ids, sex, band = audited
    groups = (sex if attribute == "sex" else band).to_numpy()
    y_pred = _effective(p, ids)
    report = p.audit.fairness("credit", group_by=attribute, bootstrap=200, seed=3)
    assert report.decisions == len(ids)
    ours = {g.group: g for g in report.groups}
    sel = MetricFrame(
        metrics=selection_rate, y_true=frame["good"], y_pred=y_pred, sensitive_features=groups
    ).by_group
    for group, value in sel.items():
        assert ours[group].selection_rate == pytest.approx(value, abs=1e-12)
        assert ours[group].decisions == int((groups == group).sum())
    known = np.arange(len(ids)) % 2 == 0
    y_true = frame["good"].to_numpy()[known]
    rates = MetricFrame(
        metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
        y_true=y_true,
        y_pred=y_pred[known],
        sensitive_features=groups[known],
    ).by_group
    for group, row in rates.iterrows():
        assert ours[group].false_positive_rate == pytest.approx(row["fpr"], abs=1e-12)
        assert ours[group].false_negative_rate == pytest.approx(row["fnr"], abs=1e-12)
        assert ours[group].known_outcomes == int((groups[known] == group).sum())
    best = max(sel.items(), key=lambda kv: kv[1])[0]
    assert report.reference == best
    for g in report.groups:
        assert g.ratio_to_reference == pytest.approx(g.selection_rate / sel[best])
        assert g.below_four_fifths == (g.ratio_to_reference < 0.8)
        assert g.selection_rate_ci.low <= g.selection_rate <= g.selection_rate_ci.high
        assert 0 <= g.review_rate <= 1 and 0 <= g.override_rate <= g.review_rate
    assert set(report.flagged) == {g.group for g in report.groups if g.below_four_fifths}
    assert sum(g.override_rate * g.decisions for g in report.groups) == pytest.approx(10)


def test_bootstrap_is_seeded_and_reference_can_be_chosen(audited) -> None:
    p, *_ = audited
    a = p.audit.fairness("credit", group_by="sex", bootstrap=300, seed=9, reference="male")
    b = p.audit.fairness("credit", group_by="sex", bootstrap=300, seed=9, reference="male")
    c = p.audit.fairness("credit", group_by="sex", bootstrap=300, seed=10, reference="male")
    assert a == b and a.groups != c.groups
    male = next(g for g in a.groups if g.group == "male")
    assert a.reference == "male" and male.ratio_to_reference == 1.0
    with pytest.raises(AuditError, match="reference"):
        p.audit.fairness("credit", group_by="sex", reference="nobody")


def test_protected_attributes_are_never_features(audited) -> None:
    p, *_ = audited
    with pytest.raises(AuditError, match="protected"):
        p.audit.protected.put("applicant-0001", {"age": 30})
    with pytest.raises(AuditError, match="protected"):
        p.audit.fairness("credit", group_by="age")
    # the stored value is encrypted: the group label is not in the database file
    blob = p.path.read_bytes() + p.path.with_name(p.path.name + "-wal").read_bytes()
    assert b"26-40" not in blob and b'"female"' not in blob


def test_unknown_group_for_subjects_without_the_attribute(audited) -> None:
    p, *_ = audited
    report = p.audit.fairness("credit", group_by="religion", bootstrap=0)
    assert [g.group for g in report.groups] == ["unknown"]
    assert report.groups[0].selection_rate_ci is None


def test_a_model_using_a_protected_attribute_as_a_feature_cannot_decide(p: Personalizer) -> None:
    frame, schema = german_credit()
    frame = frame.iloc[:60].reset_index(drop=True)
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    p.audit.protected.put(frame["subject"].iloc[0], {"age": 30})  # no model uses "age" yet
    card = p.models.train_classifier("credit", frame, schema, target="good", num_boost_round=5)
    p.models.sign_off(card.name, card.version, reviewer="lead")
    with pytest.raises(AuditError, match="protected attributes"):
        p.decide(frame["subject"].iloc[1], feature_row(frame, schema, 1), model="credit")
    assert p.ledger.entry_count("audit") == 0
