"""Erasure by crypto-shredding, end to end on a real database after real decisions.

Canaries are planted in the profile, events, a blind-indexed field and a contest message of a
subject who also got automated decisions; after ``p.subjects.erase`` reads raise SubjectErased,
the ledger and audit still verify, the receipt's signature checks out, and neither the database
file nor its WAL holds the canaries, the subject's ciphertexts, wrapped keys or index tokens.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import all_bytes, feature_row, german_credit, signed_classifier
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_spine_privacy import spans  # noqa: F401  (fixture: the one span exporter per process)

from sdk import Personalizer
from sdk.errors import SubjectErased
from sdk.subjects import verify_erasure_receipt

CANARY_SUBJECT = "canary.erase.9b1e@example.org"
CANARY_EMAIL = "canary-erase-4c2d@example.org"
CANARY_NAME = "Philippa Canaryhurst"
CANARY_EVENT = "canary-search-term-77aa"
CANARY_NOTE = "canary-contest-5e5e"


def _trained(p: Personalizer, n: int = 300) -> object:
    frame, schema = german_credit()
    frame = frame.iloc[:n].copy()
    frame.loc[0, "subject"] = CANARY_SUBJECT
    signed_classifier(p, frame, schema, purposes=("profiling", "personalization"))
    return frame, schema


def test_erasure_shreds_everything_and_keeps_proofs(
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    spans.clear()
    with Personalizer.open(db_path) as p:
        frame, schema = _trained(p)  # type: ignore[misc]
        p.profiles.add_index("email", normalizer="email")
        p.profiles.put(CANARY_SUBJECT, {"email": CANARY_EMAIL, "name": CANARY_NAME})
        p.profiles.put("applicant-0001", {"email": "someone@example.org"})
        p.events.record(
            CANARY_SUBJECT, "search", purpose="personalization", data={"q": CANARY_EVENT}
        )
        decision = p.decide(CANARY_SUBJECT, feature_row(frame, schema, 0), model="credit")
        p.decide(CANARY_SUBJECT, feature_row(frame, schema, 3), model="credit")
        p.contest(decision.decision_id, message=f"{CANARY_NOTE}, mail {CANARY_EMAIL}")
        assert p.profiles.find("email", CANARY_EMAIL.upper()) == [p.keys.pseudonym(CANARY_SUBJECT)]
        pseudo = p.keys.pseudonym(CANARY_SUBJECT)
        # what must be gone from the files afterwards: plaintexts and the subject's own bytes
        secret_bytes = [
            row[0]
            for row in p._db.query(
                "SELECT wrapped FROM subject_keys WHERE subject = ? UNION ALL "
                "SELECT ciphertext FROM profile_fields WHERE subject = ? UNION ALL "
                "SELECT ciphertext FROM personal_events WHERE subject = ? UNION ALL "
                "SELECT token FROM blind_index WHERE subject = ?",
                (pseudo, pseudo, pseudo, pseudo),
            )
        ]
        assert len(secret_bytes) == 5
        p._db.checkpoint()
        before = all_bytes(db_path)
        assert all(bytes(b) in before for b in secret_bytes)  # the scan can see them

        receipt = p.subjects.erase(CANARY_SUBJECT)

        wal = Path(str(db_path) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated
        for blob in secret_bytes:
            assert bytes(blob) not in all_bytes(db_path)

        assert receipt.subject == pseudo
        assert (receipt.fields_destroyed, receipt.events_destroyed) == (2, 1)
        assert (receipt.keys_destroyed, receipt.index_entries_purged) == (1, 1)
        assert not verify_erasure_receipt(receipt)  # nothing pinned: not ok, says how to pin
        assert "whylens keys public" in (verify_erasure_receipt(receipt).problem or "")
        assert verify_erasure_receipt(receipt, trust=p.keyring.public_key_bytes())
        assert verify_erasure_receipt(receipt, public_key=receipt.public_key)
        assert receipt.key_fingerprint == p.keyring.fingerprint
        forged = receipt.model_copy(update={"fields_destroyed": 0})
        assert not verify_erasure_receipt(forged, trust=p.keyring.public_key_bytes())
        assert not verify_erasure_receipt(receipt, public_key="A" * 43 + "=")
        assert p.subjects.erase(CANARY_SUBJECT) == receipt  # idempotent, same signed receipt
        assert not p.keys.cached(pseudo)

        for read in (
            lambda: p.profiles.get(CANARY_SUBJECT),
            lambda: p.events.list(CANARY_SUBJECT),
            lambda: p.subjects.export(CANARY_SUBJECT),
            lambda: p.profiles.put(CANARY_SUBJECT, {"email": "again@example.org"}),
            lambda: p.events.record(CANARY_SUBJECT, "search", purpose="personalization"),
        ):
            with pytest.raises(SubjectErased) as info:
                read()
            assert "canary" not in str(info.value)
        assert p.profiles.find("email", CANARY_EMAIL) == []
        assert p.profiles.get("applicant-0001") == {"email": "someone@example.org"}
        assert p.audit.verify().ok and p.consent.verify().ok
        reviewer_view = p.explain(decision.decision_id, audience="reviewer")
        assert "canary" not in reviewer_view.text
    after = all_bytes(db_path)
    for blob in secret_bytes:
        assert bytes(blob) not in after
    outputs = {
        "database and WAL": after,
        "logs": caplog.text.encode(),
        "spans": "\n".join(
            f"{s.name} {dict(s.attributes or {})}" for s in spans.get_finished_spans()
        ).encode(),
        "receipt": receipt.model_dump_json().encode(),
    }
    assert any(s.name == "whylens.decide" for s in spans.get_finished_spans())
    for where, blob in outputs.items():
        for canary in (CANARY_SUBJECT, CANARY_EMAIL, CANARY_NAME, CANARY_EVENT, CANARY_NOTE):
            assert canary.encode() not in blob, f"{canary!r} found in {where}"
    with Personalizer.open(db_path) as p:  # still erased, still verifying after reopening
        assert p.audit.verify().ok
        with pytest.raises(SubjectErased):
            p.profiles.get(CANARY_SUBJECT)


def test_an_erased_id_takes_no_new_consent(store_url: str, keyring_path: Path) -> None:
    """A new-user review found a grant for an erased id answered 200 (recorded under its
    tombstone) while profiles and decisions refused it with SubjectErased."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("gone@example.org", "personalization")
        p.profiles.put("gone@example.org", {"email": "gone@example.org"})
        p.subjects.erase("gone@example.org")
        size = p.ledger.size
        with pytest.raises(SubjectErased):
            p.consent.grant("gone@example.org", "personalization")
        assert p.ledger.size == size
    with (
        Personalizer.open(store_url, keyring=keyring_path) as other,
        pytest.raises(SubjectErased),
    ):
        other.consent.grant("gone@example.org", "profiling")
