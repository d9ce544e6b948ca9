"""Issue 7, item 6: "what would change this" — the smallest allowed change that flips a decision,
verified by re-scoring, never touching an immutable, sensitive or unconsented feature."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from conftest import feature_frame, feature_row
from test_explain_data import ACTIONABLE, german_personalizer, german_schema

from sdk import Personalizer, ReviewPolicy
from sdk.errors import ExplanationError


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    p, frame, schema = german_personalizer(tmp_path_factory.mktemp("cf"))
    declined = []
    for i in range(800, 1000):
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        if d.automated_outcome == "declined":
            declined.append((i, d.decision_id))
    yield p, frame, schema, declined
    p.close()


def _rescore(p: Personalizer, frame, index: int, changes) -> float:
    """The changed row scored by LightGBM itself, from a raw pandas row (categories as codes)."""
    model = p.models.get("credit")
    row = feature_row(frame, model.schema, index)
    for c in changes:
        row[c.feature] = c.proposed_category if model.schema[c.feature].is_categorical else (
            c.proposed
        )
    x = feature_frame(model.schema, [row])
    return float(1.0 / (1.0 + np.exp(-model.booster.predict(x, raw_score=True)[0])))


def test_changes_respect_the_schema_and_flip_on_rescoring(german) -> None:
    p, frame, schema, declined = german
    threshold = p.models.get("credit").card.threshold
    found = categorical = 0
    for index, decision_id in declined:
        cf = p.counterfactual(decision_id)
        assert cf.outcome == "declined" and cf.target_outcome == "approved"
        if not cf.found:
            assert not cf.changes and "no change" in cf.text
            continue
        found += 1
        assert 1 <= len(cf.changes) <= 3
        for change in cf.changes:
            rule = ACTIONABLE[change.feature]  # only actionable features; never age
            if "targets" in rule:  # a categorical: to another category the schema allows
                assert change.proposed_category in rule["targets"]
                assert change.proposed_category != change.current_category
                label = schema[change.feature].category_label(change.proposed_category)
                assert f"{change.label}: {label} instead of " in cf.text
                categorical += 1
                continue
            if rule["direction"] == "decrease":
                assert change.proposed < change.current
                assert change.proposed >= rule.get("min_value", -np.inf)
            else:
                assert change.proposed > change.current
                assert change.proposed <= rule.get("max_value", np.inf)
            assert change.proposed % rule["step"] == 0
            assert change.label in cf.text
        assert _rescore(p, frame, index, cf.changes) >= threshold
        assert cf.score_after is not None and cf.score_after > cf.score
    assert found >= 0.9 * len(declined)
    assert categorical > 0  # savings moved to another category in some of them


def test_single_changes_are_minimal_on_the_step_grid(german) -> None:
    p, frame, _, declined = german
    threshold = p.models.get("credit").card.threshold
    checked = 0
    for index, decision_id in declined:
        cf = p.counterfactual(decision_id)
        if len(cf.changes) != 1:
            continue
        change = cf.changes[0]
        if "step" not in ACTIONABLE[change.feature]:
            continue  # a category has no smaller step
        step = ACTIONABLE[change.feature]["step"]
        back = change.proposed + (step if change.proposed < change.current else -step)
        if back == change.current:
            continue
        smaller = change.model_copy(update={"proposed": back})
        assert _rescore(p, frame, index, [smaller]) < threshold, change
        checked += 1
    assert checked >= 10


def test_explain_with_counterfactual_for_each_audience(german) -> None:
    p, _, _, declined = german
    decision_id = next(d for _, d in declined if p.counterfactual(d).found)
    cf = p.counterfactual(decision_id)
    end_user = p.explain(decision_id, counterfactual=True)
    assert end_user.counterfactual == cf
    assert cf.text in end_user.text and "What would change this" in end_user.text
    assert "What would change this" not in p.explain(decision_id).text  # opt-in
    reviewer = p.explain(decision_id, audience="reviewer", counterfactual=True)
    assert "what would flip it: " in reviewer.text and cf.changes[0].feature in reviewer.text
    german_text = p.explain(decision_id, locale="de", counterfactual=True).text
    assert "Was das Ergebnis ändern würde" in german_text and "genehmigt" in german_text


def test_sensitive_or_masked_features_are_never_changed(tmp_path) -> None:
    frame, schema = german_schema()
    # mark age actionable too: being sensitive must still keep it out of every counterfactual
    features = [f.model_copy(update={"actionable": True}) if f.name == "age" else f
                for f in schema]
    schema = type(schema)(features, concepts=schema.declared_concepts)
    with Personalizer.open(tmp_path / "s.db") as p:
        for subject in frame["subject"].iloc[:800]:
            p.consent.grant(subject, "profiling")
        p.models.train_classifier("c", frame.iloc[:800], schema, target="good",
                                  review_policy=ReviewPolicy(uncertainty_band=None),
                                  num_boost_round=40)
        p.models.sign_off("c", 1, reviewer="reviewer.tests")
        seen = 0
        for i in range(0, 300):
            d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="c")
            if d.automated_outcome != "declined":
                continue
            cf = p.counterfactual(d.decision_id)
            assert all(c.feature != "age" for c in cf.changes)
            seen += 1
        assert seen > 10
        # no consent: every feature is masked, nothing may be changed
        stranger = frame["subject"].iloc[900]
        d = p.decide(stranger, feature_row(frame, schema, 900), model="c")
        cf = p.counterfactual(d.decision_id)
        assert not cf.found and cf.changes == ()


def test_counterfactual_needs_a_readable_decision(tmp_path) -> None:
    p, frame, schema = german_personalizer(tmp_path)
    with p:
        d = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
        p.subjects.erase(frame["subject"].iloc[0])
        with pytest.raises(ExplanationError, match="erased"):
            p.counterfactual(d.decision_id)
        with pytest.raises(ExplanationError, match="erased"):
            p.explain(d.decision_id, counterfactual=True)
        recs = p.models.get("credit")
        assert recs.kind == "classifier"
