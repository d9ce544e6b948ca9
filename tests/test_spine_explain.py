"""Explanations are exact: equal to shap.TreeExplainer, additive, and private for end users."""

from __future__ import annotations

import numpy as np
import shap
from conftest import feature_frame, feature_row


def test_contributions_equal_shap_tree_explainer(credit) -> None:
    p, frame, schema = credit
    model = p.models.get("credit")
    explainer = shap.TreeExplainer(model.booster)
    consenting = frame["subject"].iloc[::5].index[:25]
    for index in consenting:
        decision = p.decide(frame["subject"].iloc[index], feature_row(frame, schema, index),
                            model="credit")
        explanation = p.explain(decision.decision_id, audience="auditor")
        row = feature_frame(schema, [feature_row(frame, schema, index)])  # the raw row
        expected = np.asarray(explainer.shap_values(row)).reshape(-1)
        got = np.array([explanation.contributions[n] for n in schema.names])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        assert abs(float(np.ravel(explainer.expected_value)[0]) - explanation.base_value) < 1e-9
        total = sum(explanation.contributions.values()) + explanation.base_value
        assert abs(total - explanation.score) < 1e-9
        assert explanation.score == decision.score


def test_end_user_never_sees_sensitive_features(credit) -> None:
    p, frame, schema = credit
    for index in range(0, 200, 5):
        decision = p.decide(frame["subject"].iloc[index], feature_row(frame, schema, index),
                            model="credit")
        end_user = p.explain(decision.decision_id)
        assert "age" not in end_user.contributions
        assert all("age" not in r.features for r in end_user.reasons)
        assert "your age" not in end_user.text and "your age" not in decision.why
        reviewer = p.explain(decision.decision_id, audience="reviewer")
        assert "age" in reviewer.suppressed
        assert "age" in reviewer.contributions
        assert "age = " in reviewer.text  # reviewers see values


def test_same_input_gives_the_same_text(credit) -> None:
    p, frame, schema = credit
    subject = frame["subject"].iloc[5]
    first = p.decide(subject, feature_row(frame, schema, 5), model="credit")
    second = p.decide(subject, feature_row(frame, schema, 5), model="credit")
    assert first.why == second.why
    assert p.explain(first.decision_id).text == p.explain(second.decision_id).text
    assert p.explain(first.decision_id).text == first.why


def test_german_text(credit) -> None:
    p, frame, schema = credit
    decision = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
    german = p.explain(decision.decision_id, locale="de")
    assert "Ergebnis" in german.text or "geprüft" in german.text
