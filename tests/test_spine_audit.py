"""The audit trail: review, override, contest, verify, tamper detection, offline exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import feature_row, german_credit, tamper

from sdk import Personalizer, ReviewPolicy
from sdk.audit import verify_export
from sdk.errors import DecisionNotFound, ReviewStateError


def _held(p: Personalizer, frame, schema) -> str:
    """A decision the uncertainty band holds for review."""
    for index in range(len(frame)):
        subject = frame["subject"].iloc[index]
        decision = p.decide(subject, feature_row(frame, schema, index), model="credit")
        if decision.status == "pending_review":
            return decision.decision_id
    raise AssertionError("no decision fell in the uncertainty band")


def test_review_queue_approve_override_contest(credit) -> None:
    p, frame, schema = credit
    held = _held(p, frame, schema)
    assert held in [d.decision_id for d in p.reviews.pending()]
    approved = p.reviews.approve(held, reviewer="rev.1", note="checked")
    assert approved.status == "approved"
    assert held not in [d.decision_id for d in p.reviews.pending()]
    with pytest.raises(ReviewStateError):
        p.reviews.approve(held, reviewer="rev.1")

    contested = p.contest(held, message="I think my income was read wrong")
    assert contested.status == "pending_review" and contested.contested
    assert "asked for a person" in contested.why
    other = "declined" if contested.automated_outcome == "approved" else "approved"
    with pytest.raises(ReviewStateError, match="reason"):
        p.reviews.override(held, outcome=other, reviewer="rev.2", reason=" ")
    with pytest.raises(ReviewStateError, match="outcome must be one of"):
        p.reviews.override(held, outcome="maybe", reviewer="rev.2", reason="x")
    final = p.reviews.override(held, outcome=other, reviewer="rev.2", reason="documents checked")
    assert final.outcome == other and final.status == "overridden"
    assert [a.action for a in final.history] == ["decided", "approved", "contested", "overridden"]
    assert p.audit.verify().ok


def test_effective_outcome_is_derived_from_the_chain_after_reopen(db_path: Path) -> None:
    frame, schema = german_credit()
    with Personalizer.open(db_path) as p:
        for subject in frame["subject"]:
            p.consent.grant(subject, "profiling")
        p.models.train_classifier("credit", frame, schema, target="good", num_boost_round=30,
                                  review_policy=ReviewPolicy(uncertainty_band=(0.0, 1.0)))
        p.models.sign_off("credit", 1, reviewer="reviewer.tests")
        decision = p.decide(frame["subject"].iloc[3], feature_row(frame, schema, 3),
                            model="credit")
        p.reviews.override(decision.decision_id, outcome="approved", reviewer="r",
                           reason="manual check")
    with Personalizer.open(db_path) as p:
        again = p.decision(decision.decision_id)
        assert again.outcome == "approved" and again.status == "overridden"
        assert p.reviews.pending() == []


def test_unknown_decision(p: Personalizer) -> None:
    with pytest.raises(DecisionNotFound):
        p.explain("dec_00000000000000000000000000000000")


def test_altered_record_is_named_by_verify(credit, store_url: str) -> None:
    p, frame, schema = credit
    decision = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
    seq = p.decision(decision.decision_id).history[0].seq
    assert p.audit.verify().ok
    body = tamper(store_url, "SELECT body FROM ledger WHERE seq = ?", (seq,))[0][0]
    tampered = bytes(body).replace(b'"outcome":"declined"', b'"outcome":"approved"')
    if tampered == bytes(body):
        tampered = bytes(body).replace(b'"outcome":"approved"', b'"outcome":"declined"')
    assert tampered != bytes(body)
    tamper(store_url, "UPDATE ledger SET body = ? WHERE seq = ?", (tampered, seq))
    report = p.audit.verify()
    assert not report.ok
    assert report.first_bad == seq
    assert str(seq) in (report.problem or "")


def test_export_verifies_offline_and_detects_any_change(credit, tmp_path: Path) -> None:
    p, frame, schema = credit
    for index in range(0, 30, 3):
        p.decide(frame["subject"].iloc[index], feature_row(frame, schema, index), model="credit")
    manifest = p.audit.export(tmp_path / "export")
    assert manifest.records == p.ledger.size
    unpinned = verify_export(tmp_path / "export")
    assert not unpinned.ok and "whylens keys public" in (unpinned.problem or "")
    report = verify_export(tmp_path / "export", trust=p.keyring.public_key_bytes())
    assert report.ok and report.checked == manifest.records
    # pinned to the right key it passes, to another key it fails
    import base64

    assert verify_export(tmp_path / "export", public_key=manifest.public_key).ok
    assert not verify_export(tmp_path / "export", public_key=base64.b64encode(b"x" * 32)).ok

    data = (tmp_path / "export" / "ledger.jsonl").read_bytes()
    for position in (10, len(data) // 2, len(data) - 10):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        (tmp_path / "export" / "ledger.jsonl").write_bytes(bytes(flipped))
        assert not verify_export(tmp_path / "export", trust=p.keyring.public_key_bytes()).ok
    (tmp_path / "export" / "ledger.jsonl").write_bytes(data)
    manifest_path = tmp_path / "export" / "manifest.json"
    original = json.loads(manifest_path.read_text())
    forged = dict(original, records=original["records"] - 1)
    manifest_path.write_text(json.dumps(forged))
    bad = verify_export(tmp_path / "export", trust=p.keyring.public_key_bytes())
    assert not bad.ok and "signature" in (bad.problem or "")
    manifest_path.write_text(json.dumps(original, indent=2) + "\n")
    assert verify_export(tmp_path / "export", trust=p.keyring.public_key_bytes()).ok
