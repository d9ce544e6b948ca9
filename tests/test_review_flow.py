"""Review: held decisions tell the person, assess-first hides the model's view, contest results."""

from __future__ import annotations

import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import Personalizer, ReviewPolicy
from sdk.errors import ReviewStateError


@pytest.fixture
def held(p: Personalizer):
    frame, schema = german_credit()
    frame = frame.iloc[:40].reset_index(drop=True)
    policy = ReviewPolicy(
        uncertainty_band=(0.0, 1.0), provisional_outcome="on hold", assess_first=True
    )
    signed_classifier(p, frame, schema, policy=policy, rounds=20, holdout_fraction=0.0)
    decisions = [
        p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        for i in range(4)
    ]
    return p, decisions


def test_held_decision_gives_the_provisional_outcome_and_says_a_person_will_review(held) -> None:
    p, decisions = held
    d = decisions[0]
    assert d.status == "pending_review" and d.outcome == "on hold"
    assert "on hold" in d.why
    assert "review" in d.why.lower() or "person" in d.why.lower()
    assert [x.decision_id for x in p.reviews.pending()] == [x.decision_id for x in decisions]


def test_assess_first_hides_the_suggestion_until_the_reviewer_records_a_view(held) -> None:
    p, decisions = held
    target = decisions[1].decision_id
    case = p.reviews.case(target, reviewer="rev.a")
    assert case.suggestion_hidden and case.suggestion is None and case.probability is None
    assert case.inputs and set(case.inputs) == set(case.labels)
    with pytest.raises(ReviewStateError, match="assess"):
        p.reviews.approve(target, reviewer="rev.a")
    with pytest.raises(ReviewStateError, match="assess"):
        p.reviews.override(target, outcome="approved", reviewer="rev.a", reason="x")
    after = p.reviews.assess(target, reviewer="rev.a", outcome="declined", note="thin file")
    assert after.history[-1].action == "assessed" and after.history[-1].outcome == "declined"
    seen = p.reviews.case(target, reviewer="rev.a")
    assert not seen.suggestion_hidden and seen.suggestion == decisions[1].automated_outcome
    # another reviewer still sees the case blind
    assert p.reviews.case(target, reviewer="rev.b").suggestion_hidden
    with pytest.raises(ReviewStateError, match="already"):
        p.reviews.assess(target, reviewer="rev.a", outcome="declined")
    done = p.reviews.approve(target, reviewer="rev.a")
    assert done.status == "approved" and done.outcome == decisions[1].automated_outcome
    assert [a.action for a in done.history] == ["decided", "assessed", "approved"]
    hidden = {c.decision_id: c.suggestion_hidden for c in p.reviews.cases(reviewer="rev.a")}
    assert target not in hidden and all(hidden.values())


def test_contest_result_is_shown_to_the_person_after_review(held, store_url, keyring_path) -> None:
    p, decisions = held
    d = decisions[2]
    p.reviews.assess(d.decision_id, reviewer="rev.a", outcome="approved")
    p.reviews.approve(d.decision_id, reviewer="rev.a")
    contested = p.contest(d.decision_id, message="My savings were wrong")
    assert contested.contested and contested.status == "pending_review"
    assert contested.contest_result is None
    # a new review round: the reviewer must assess again before deciding
    with pytest.raises(ReviewStateError, match="assess"):
        p.reviews.override(d.decision_id, outcome="approved", reviewer="rev.a", reason="ok")
    p.reviews.assess(d.decision_id, reviewer="rev.a", outcome="approved")
    other = "approved" if d.automated_outcome == "declined" else "declined"
    final = p.reviews.override(
        d.decision_id, outcome=other, reviewer="rev.a", reason="bank statement checked"
    )
    assert final.contest_result == other and final.outcome == other
    assert "You asked for a person to review this decision" in final.why
    assert other in final.why
    # the person's view, read back later (and after reopening), still shows the result
    p.close()
    with Personalizer.open(store_url, keyring=keyring_path) as again:
        view = again.decision(d.decision_id)
        assert view.contest_result == other and "You asked for a person" in view.why
        german = again.decision(d.decision_id, locale="de")
        assert "Prüfung" in german.why
        assert "You asked for a person" in again.explain(d.decision_id).text


def test_a_review_case_shows_categories_by_label_and_code(held) -> None:
    p, decisions = held
    case = p.reviews.case(decisions[3].decision_id, reviewer="rev.c")
    model = p.models.get("credit")
    categorical = [f for f in model.schema if f.is_categorical]
    assert categorical
    for feature in categorical:
        shown, value = case.inputs[feature.name], case.values[feature.name]
        code = feature.category_of(value)
        assert code is not None and shown == f"{feature.category_label(code)} ({code})"
    numeric = next(f for f in model.schema if not f.is_categorical)
    assert case.inputs[numeric.name] == case.values[numeric.name]
