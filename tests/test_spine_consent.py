"""Consent on the ledger, and its effect on the very next decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import feature_row

from sdk import Personalizer
from sdk.errors import InvalidConsentEvent, InvalidSubjectId, UnknownPurpose, WhylensError


def test_grant_withdraw_state_and_history(p: Personalizer) -> None:
    assert p.consent.state("alice").purposes["personalization"] == "not_given"
    receipt = p.consent.grant("alice", ["personalization", "analytics"], notice="notice-v1")
    assert receipt.purposes == ("personalization", "analytics")
    assert receipt.notice is not None and receipt.notice.notice_id == "notice-v1"
    state = p.consent.state("alice")
    assert state.allows("personalization") and state.allows("analytics")
    assert state.allows("service")  # contract basis: no consent needed
    assert not state.allows("marketing")
    p.consent.withdraw("alice", "personalization", source="settings")
    state = p.consent.state("alice")
    assert state.purposes["personalization"] == "withdrawn"
    assert state.allows("analytics")
    history = p.consent.history("alice")
    assert [(e.action, e.purpose) for e in history] == [
        ("grant", "personalization"),
        ("grant", "analytics"),
        ("withdraw", "personalization"),
    ]
    assert history[0].subject != "alice"  # pseudonym, never the raw id


def test_state_as_of_any_past_moment(p: Personalizer) -> None:
    p.consent.grant("bob", "personalization")
    between = datetime.now(UTC)
    p.consent.withdraw("bob", "personalization")
    assert p.consent.state("bob", as_of=between).allows("personalization")
    assert not p.consent.state("bob").allows("personalization")
    before = p.consent.history("bob")[0].at - timedelta(microseconds=1)
    assert p.consent.state("bob", as_of=before).purposes["personalization"] == "not_given"


def test_state_is_rebuilt_from_the_ledger_on_reopen(db_path) -> None:
    with Personalizer.open(db_path) as p:
        p.consent.grant("carol", "personalization")
        p.consent.withdraw("carol", "personalization")
        p.consent.grant("carol", "profiling")
        expected = p.consent.state("carol")
    with Personalizer.open(db_path) as p:
        again = p.consent.state("carol")
    assert again.purposes == expected.purposes
    assert again.state_hash == expected.state_hash


def test_expiry_ends_consent(p: Personalizer) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    p.consent.grant("dave", "personalization", expires_at=soon)
    assert p.consent.state("dave").allows("personalization")
    later = soon + timedelta(seconds=1)
    assert p.consent.state("dave", as_of=later).purposes["personalization"] == "expired"


def test_bad_consent_input_raises_and_writes_nothing(p: Personalizer) -> None:
    p.consent.grant("erin", "personalization")
    size = p.ledger.size
    with pytest.raises(UnknownPurpose, match="unknown purpose 'telepathy'"):
        p.consent.grant("erin", ["personalization", "telepathy"])
    with pytest.raises(InvalidConsentEvent):
        p.consent.grant("erin", "analytics", expires_at=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(InvalidSubjectId) as info:
        p.consent.grant("x" * 300, "analytics")
    assert "x" * 20 not in str(info.value)
    with pytest.raises(WhylensError):
        p.consent.grant("erin", [])
    assert p.ledger.size == size
    assert p.consent.state("erin").allows("personalization")


def test_withdrawal_takes_effect_on_the_very_next_decision(credit) -> None:
    p, frame, schema = credit
    subject = frame["subject"].iloc[0]  # consented in the fixture
    features = feature_row(frame, schema, 0)
    first = p.decide(subject, features, model="credit")
    p.consent.withdraw(subject, "profiling")
    second = p.decide(subject, features, model="credit")
    # every profiling feature is masked on the very next call, and the person is told
    auditor_first = p.explain(first.decision_id, audience="auditor")
    auditor_second = p.explain(second.decision_id, audience="auditor")
    assert auditor_first.contributions != auditor_second.contributions
    reviewer = p.explain(second.decision_id, audience="reviewer")
    assert set(reviewer.suppressed) == set(schema.names)
    # and no automated outcome is made from what is left: a person decides, and it says why
    assert second.status == "pending_review"
    assert second.review_trigger == "consent_missing: profiling"
    assert second.why.startswith("No automatic decision was made.")
    end_user = p.explain(second.decision_id)
    assert end_user.reasons == ()


def test_withdrawal_takes_effect_on_the_very_next_recommendation(tmp_path) -> None:
    from sdk.demo.shop import candidates_for, generate_shop, ranking_frame
    from sdk.demo.story import ranking_schema

    shop = generate_shop(seed=7)
    with Personalizer.open(tmp_path / "shop.db") as p:
        for customer in shop.customers["customer_id"]:
            p.consent.grant(customer, "personalization")
        p.models.train_ranker(
            "r", ranking_frame(shop), ranking_schema(), target="relevance", group="query_id",
            num_boost_round=20,
        )
        p.models.sign_off("r", 1, reviewer="reviewer.tests")
        who = "cust-0007"
        candidates = candidates_for(shop, who)
        before = p.recommend(who, candidates, model="r", k=5)
        p.consent.withdraw(who, "personalization")
        after = p.recommend(who, candidates, model="r", k=5)
    assert before.personalized and not after.personalized
    assert {i.source for i in after.items} == {"popular"}
    # the non-personalized ranking equals ranking with every personal feature missing
    personal = [f.name for f in ranking_schema() if f.purpose == "personalization"]
    assert all(not any(word in i.why for word in ("your", "you have")) for i in after.items)
    assert personal
