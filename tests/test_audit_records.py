"""Decision records: what each one carries, the review policy rules, tamper detection."""

from __future__ import annotations

import hashlib

import pytest
from conftest import feature_row, german_credit, tamper

from sdk import Personalizer, ReviewPolicy
from sdk.audit.entries import decision_record
from sdk.audit.policy import in_sample
from sdk.audit.sealing import keyed_hash, open_decision, record_mac_key
from sdk.errors import ReviewStateError


def _train(p: Personalizer, frame, schema, policy: ReviewPolicy, name: str = "credit") -> None:
    _card = p.models.train_classifier(
        name,
        frame,
        schema,
        target="good",
        outcomes=("declined", "approved"),
        review_policy=policy,
        num_boost_round=30,
    )
    p.models.sign_off(_card.name, _card.version, reviewer="lead")


@pytest.fixture
def granted(p: Personalizer):
    frame, schema = german_credit()
    frame = frame.iloc[:200].reset_index(drop=True)
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling", notice="privacy-2026-11")
    return p, frame, schema


def test_decision_record_carries_purpose_consent_notice_model_and_hashes(granted) -> None:
    p, frame, schema = granted
    _train(p, frame, schema, ReviewPolicy(uncertainty_band=None))
    subject = frame["subject"].iloc[7]
    p.consent.grant(subject, "personalization")
    decision = p.decide(subject, feature_row(frame, schema, 7), model="credit")
    entry = p.ledger.get(decision.history[0].seq)
    data = entry.data
    assert entry.subject == decision.subject != subject
    assert data["purpose"] == "profiling"
    model = p.models.get("credit")
    assert data["model"] == {
        "name": "credit",
        "version": model.version,
        "content_hash": model.content_hash,
        "kind": "classifier",
    }
    consent = data["consent"]
    state = p.consent.state(subject)
    assert [e["seq"] for e in consent["entries"]] == list(state.based_on)
    for item in consent["entries"]:
        assert p.ledger.get(item["seq"]).hash == item["hash"]
    grant = p.ledger.get(consent["authorised_by"])
    assert grant.kind == "consent.grant" and "profiling" in grant.data["purposes"]
    assert consent["notice"]["notice_id"] == "privacy-2026-11"
    # since version 2: the text hash is keyed by the subject's own key (a plain hash of so
    # little text could be reversed), and goes with it on erasure
    assert data["version"] == 3
    key = record_mac_key(p.keys.cipher(entry.subject, create=False))
    assert data["shown_text_sha256"] == keyed_hash(key, decision.why.encode())
    assert data["shown_text_sha256"] != hashlib.sha256(decision.why.encode()).hexdigest()
    assert len(data["feature_mac"]) == 64
    # version 3: inputs, exact score and probability, contributions and residual in ONE sealed
    # part; only what an audit needs without the person stays in clear
    assert data["inputs"] == {}
    assert data["output"]["outcome"] == decision.automated_outcome
    assert data["output"]["score"] is None and data["output"]["probability"] is None
    assert data["explanation"]["contributions"] == []
    assert data["explanation"]["residual"] is None
    assert isinstance(data["sealed"], str)
    opened = open_decision(
        decision_record(entry), p.keys.cipher(entry.subject, create=False), entry.subject
    )
    assert opened is not None
    assert (opened.score, opened.probability) == (decision.score, decision.probability)
    assert set(opened.inputs) == set(schema.names)
    assert len(p.explain(decision.decision_id, audience="auditor").contributions) == len(
        schema.names
    )
    assert (
        decision.decision_id
        < p.decide(subject, feature_row(frame, schema, 8), model="credit").decision_id
    )


def test_policy_adverse_outcome_holds_with_the_provisional_outcome(granted) -> None:
    p, frame, schema = granted
    _train(
        p,
        frame,
        schema,
        ReviewPolicy(
            uncertainty_band=None, adverse_outcome="declined", provisional_outcome="referred"
        ),
    )
    seen = set()
    for i in range(60):
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        seen.add(d.automated_outcome)
        if d.automated_outcome == "declined":
            assert d.status == "pending_review"
            assert d.review_trigger == "adverse_outcome: declined"
            assert d.outcome == "referred"
            assert "provisional" in d.why.lower() or "review" in d.why.lower()
        else:
            assert d.status == "automated" and d.outcome == "approved"
    assert seen == {"declined", "approved"}


def test_policy_sensitive_segment_and_seeded_sample(granted) -> None:
    p, frame, schema = granted
    _train(
        p,
        frame,
        schema,
        ReviewPolicy(uncertainty_band=None, sensitive_segment={"age": (0.0, 25.0)}),
    )
    for i in range(40):
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        young = frame["age"].iloc[i] <= 25
        assert (d.status == "pending_review") == young
        if young:
            assert d.review_trigger == "sensitive_segment: age in [0, 25]"

    # the sample is a pure function of (seed, id): reproducible, and close to its rate
    ids = [f"dec_{i:032x}" for i in range(20000)]
    share = sum(in_sample(d, 7, 10.0) for d in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [in_sample(d, 7, 10.0) for d in ids[:200]] == [in_sample(d, 7, 10.0) for d in ids[:200]]
    assert [in_sample(d, 7, 10.0) for d in ids[:200]] != [in_sample(d, 8, 10.0) for d in ids[:200]]
    assert not any(in_sample(d, 7, 0.0) for d in ids[:500])
    assert all(in_sample(d, 7, 100.0) for d in ids[:500])


def test_policy_random_sample_holds_the_decisions_it_names(granted) -> None:
    p, frame, schema = granted
    _train(
        p, frame, schema, ReviewPolicy(uncertainty_band=None, sample_percent=30.0, sample_seed=11)
    )
    held = 0
    for i in range(50):
        d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        expected = in_sample(d.decision_id, 11, 30.0)
        assert (d.status == "pending_review") == expected
        held += expected
    assert 5 <= held <= 30


def test_contest_window_closes(granted) -> None:
    p, frame, schema = granted
    _train(p, frame, schema, ReviewPolicy(uncertainty_band=None, contest_window_days=1))
    d = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
    from datetime import UTC, datetime, timedelta

    from sdk.audit.policy import check_contest_window

    policy = p.models.get("credit").card.review_policy
    check_contest_window(policy, d.created_at, datetime.now(UTC))
    with pytest.raises(ReviewStateError, match="window"):
        check_contest_window(policy, d.created_at, datetime.now(UTC) + timedelta(days=2))
    assert p.contest(d.decision_id, message="please look again").contested


def test_altering_any_byte_of_a_stored_record_is_named(granted, store_url: str) -> None:
    p, frame, schema = granted
    _train(p, frame, schema, ReviewPolicy(uncertainty_band=None))
    d = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
    p.decide(frame["subject"].iloc[1], feature_row(frame, schema, 1), model="credit")
    seq = d.history[0].seq
    assert p.audit.verify().ok
    body = bytes(tamper(store_url, "SELECT body FROM ledger WHERE seq = ?", (seq,))[0][0])  # type: ignore[arg-type]
    for position in range(0, len(body), max(1, len(body) // 25)):
        changed = bytearray(body)
        changed[position] ^= 0x20
        tamper(store_url, "UPDATE ledger SET body = ? WHERE seq = ?", (bytes(changed), seq))
        report = p.audit.verify()
        assert not report.ok and report.first_bad == seq, position
    tamper(store_url, "UPDATE ledger SET body = ? WHERE seq = ?", (body, seq))
    assert p.audit.verify().ok
