"""Attacks on erasure: after ``p.subjects.erase``, nothing left behind leads back to the person.

The attacker holds the database (every file, WAL included), the keyring and any later export,
but not the erased subject's data key (that is what erasure destroys). Each test is one attack:

* brute-force the feature hash of the decision record to recover the exact inputs;
* read the exact TreeSHAP contributions from the ledger and from an export;
* find the override reason, review note and contest message written about the person.

Both backends (``p`` is parametrized over SQLite and PostgreSQL).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import all_bytes, feature_row
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_spine_privacy import spans  # noqa: F401  (fixture: the one span exporter per process)

from sdk import FeatureSchema, Personalizer
from sdk._canonical import canonical_json
from sdk.audit import verify_export
from sdk.audit.sealing import RECORD_VERSION
from sdk.models.matrix import encode_mapping

SUBJECT = "canary.erasure.77f1@example.org"
CANARY_REASON = "canary-override-reason-3b9d income verified by phone with her employer"
CANARY_NOTE = "canary-review-note-a41c she said she is pregnant"
CANARY_MESSAGE = "canary-contest-msg-e0f2 I was in hospital that year"
CANARIES = (CANARY_REASON, CANARY_NOTE, CANARY_MESSAGE)


def _pg_bytes(url: str) -> bytes:
    """Every value of every table of a PostgreSQL store, as raw bytes (bytea as is)."""
    import psycopg

    out = bytearray()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema() AND table_type = 'BASE TABLE'"
            ).fetchall()
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        out += bytes(value)
                    elif value is not None:
                        out += str(value).encode()
                    out += b"\x00"
    return bytes(out)


def store_bytes(store_url: str) -> bytes:
    """What an attacker with the database holds: the SQLite file and WAL, or every PG row."""
    if store_url.startswith("postgresql://"):
        return _pg_bytes(store_url)
    return all_bytes(Path(store_url))


def ledger_text(p: Personalizer) -> bytes:
    """Every ledger body, as stored."""
    return b"\n".join(e.body for e in p.ledger.raw_entries())


def folder_bytes(folder: Path) -> bytes:
    return b"\n".join(f.read_bytes() for f in sorted(folder.iterdir()) if f.is_file())


def _held(
    p: Personalizer, frame: pd.DataFrame, schema: FeatureSchema
) -> tuple[str, dict[str, Any]]:
    """A decision about SUBJECT (row 0's features) that was contested, approved with a note and
    then overridden with a reason: every kind of free text about the person."""
    p.consent.grant(SUBJECT, "profiling")
    row = feature_row(frame, schema, 0)
    decision = p.decide(SUBJECT, row, model="credit")
    p.contest(decision.decision_id, message=CANARY_MESSAGE)
    p.reviews.approve(decision.decision_id, reviewer="rev.ann", note=CANARY_NOTE)
    p.reviews.override(
        decision.decision_id, outcome="approved", reviewer="rev.ann", reason=CANARY_REASON
    )
    return decision.decision_id, row


def _contribution_spellings(values: dict[str, float]) -> list[bytes]:
    """The ways an exact contribution would be written (repr, RFC 8785); long ones only, so a
    match is never by chance."""
    out = []
    for v in values.values():
        if abs(v) < 1e-6:
            continue
        for text in (repr(v), canonical_json(v).decode()):
            if len(text.lstrip("-")) >= 10:
                out.append(text.encode())
    return out


# -- (a) brute-force the feature hash ---------------------------------------------------------


def _candidates(schema: FeatureSchema, row: dict[str, Any]) -> list[dict[str, Any]]:
    """What an attacker who knows the person roughly would try: every age from 18 to 75 and
    every loan duration of 4 to 72 months in steps the bank uses, the rest as known."""
    ages = [float(a) for a in range(18, 76)]
    months = sorted({float(m) for m in range(4, 73, 2)} | {float(row["month"])})
    return [{**row, "age": a, "month": m} for a, m in itertools.product(ages, months)]


def _value(x: float) -> float | None:
    return None if x != x else float(x)


def test_feature_hash_cannot_be_brute_forced_with_the_keyring_after_erasure(credit) -> None:
    p, frame, schema = credit
    decision_id, row = _held(p, frame, schema)
    assert "month" in schema.names and "age" in schema.names
    p.subjects.erase(SUBJECT)
    data = p.audit.entries_of(decision_id)[0].data
    stored = data.get("feature_mac")
    model = p.models.get("credit")
    tries, recovered = 0, None
    key = p.keyring.mac_key  # the attacker holds the keyring
    for candidate in _candidates(model.schema, row):
        tries += 1
        vector = encode_mapping(model.schema, candidate).matrix[0]
        named = {n: _value(float(vector[i])) for i, n in enumerate(model.schema.names)}
        guess = hmac.new(key, canonical_json(named), hashlib.sha256).hexdigest()
        if guess == stored:
            recovered = candidate
            break
    assert tries > 500
    assert recovered is None, f"inputs recovered from the feature hash in {tries} tries"


# -- (b) contributions in clear ----------------------------------------------------------------


def test_contributions_are_not_in_clear_in_ledger_or_export_after_erasure(
    credit, tmp_path: Path
) -> None:
    p, frame, schema = credit
    decision_id, _ = _held(p, frame, schema)
    exact = p.explain(decision_id, audience="auditor").contributions
    spellings = _contribution_spellings(exact)
    assert len(spellings) >= 5
    # the reviewer still sees them while the person exists, and they add up
    before = p.explain(decision_id, audience="reviewer")
    assert before.contributions == exact
    assert sum(exact.values()) + before.base_value == pytest.approx(before.score, abs=1e-9)
    p.subjects.erase(SUBJECT)
    stored = p.audit.entries_of(decision_id)[0].data
    assert not (stored.get("explanation") or {}).get("contributions")
    ledger = ledger_text(p)
    p.audit.export(tmp_path / "export")
    exported = folder_bytes(tmp_path / "export")
    assert verify_export(tmp_path / "export", public_key=p.keyring.public_key_bytes()).ok
    for where, blob in (("ledger", ledger), ("export", exported)):
        found = [s.decode() for s in spellings if s in blob]
        assert not found, f"exact contributions in clear in the {where}: {found[:3]}"


# -- (c) free text about the person -------------------------------------------------------------


@pytest.mark.parametrize("canary", CANARIES, ids=["override_reason", "review_note", "contest"])
def test_free_text_about_the_person_is_gone_after_erasure(
    credit, store_url: str, tmp_path: Path, canary: str
) -> None:
    p, frame, schema = credit
    _held(p, frame, schema)
    p.subjects.erase(SUBJECT)
    p.audit.export(tmp_path / "export")
    outputs = {
        "database": store_bytes(store_url),
        "ledger": ledger_text(p),
        "export": folder_bytes(tmp_path / "export"),
    }
    for where, blob in outputs.items():
        for part in (canary, canary.split()[0]):
            assert part.encode() not in blob, f"{part!r} found in the {where}"


# -- while the person exists, staff see all of it ---------------------------------------------


def test_staff_still_see_everything_while_the_subject_exists(credit, tmp_path: Path) -> None:
    p, frame, schema = credit
    decision_id, row = _held(p, frame, schema)
    decision = p.reviews.get(decision_id)
    reasons = [a.reason for a in decision.history]
    assert CANARY_NOTE in reasons and CANARY_REASON in reasons
    assert p.reviews.contest_messages(decision_id) == (CANARY_MESSAGE,)
    case = p.reviews.case(decision_id, reviewer="rev.bob")
    assert case.inputs["month"] == row["month"]
    reviewer = p.explain(decision_id, audience="reviewer")
    assert len(reviewer.contributions) == len(schema.names)
    assert sum(reviewer.contributions.values()) + reviewer.base_value == pytest.approx(
        reviewer.score, abs=1e-9
    )
    # the end-user text is the one the decision produced (re-rendered from the stored record)
    end_user = p.explain(decision_id)
    assert end_user.text
    # a compliance export with the personal fields decrypted
    manifest = p.audit.export(tmp_path / "personal", personal=True)
    assert manifest.records > 0
    assert verify_export(tmp_path / "personal", public_key=p.keyring.public_key_bytes()).ok
    rows = [
        json.loads(line)
        for line in (tmp_path / "personal" / "personal.jsonl").read_text().splitlines()
    ]
    mine = [r for r in rows if r["decision_id"] == decision_id]
    assert {r["kind"] for r in mine} >= {"decision", "review.override", "review.approve"}
    texts = {r["kind"]: r for r in mine}
    assert texts["review.override"]["fields"]["reason"] == CANARY_REASON
    assert texts["review.approve"]["fields"]["note"] == CANARY_NOTE
    assert texts["review.contest"]["fields"]["message"] == CANARY_MESSAGE
    assert texts["decision"]["fields"]["contributions"] == list(reviewer.contributions.values())
    assert all(r["erased"] is False for r in mine)
    # after erasure the same export says "erased" instead, and still verifies
    p.subjects.erase(SUBJECT)
    p.audit.export(tmp_path / "after", personal=True)
    assert verify_export(tmp_path / "after", public_key=p.keyring.public_key_bytes()).ok
    rows = [
        json.loads(line)
        for line in (tmp_path / "after" / "personal.jsonl").read_text().splitlines()
    ]
    mine = [r for r in rows if r["decision_id"] == decision_id]
    assert mine and all(r["erased"] is True and r["fields"] is None for r in mine)
    # reading the decision after erasure works and says nothing about the person
    after = p.reviews.get(decision_id)
    assert after.status == "overridden"
    assert all(CANARY_NOTE not in (a.reason or "") for a in after.history)
    assert p.explain(decision_id, audience="reviewer").contributions == {}
    assert p.audit.verify().ok


# -- every output, one canary search ------------------------------------------------------------


def test_nothing_linkable_in_any_output_after_erasure(
    credit,
    store_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    spans: InMemorySpanExporter,  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    spans.clear()
    p, frame, schema = credit
    decision_id, _ = _held(p, frame, schema)
    spellings = _contribution_spellings(p.explain(decision_id, audience="auditor").contributions)
    mac = p.audit.entries_of(decision_id)[0].data["feature_mac"]
    p.explain(decision_id, audience="reviewer")
    p.subjects.erase(SUBJECT)
    p.audit.export(tmp_path / "export", personal=True)
    p.audit.export(tmp_path / "csv", format="csv", personal=True)
    outputs = {
        "database": store_bytes(store_url),
        "ledger": ledger_text(p),
        "export": folder_bytes(tmp_path / "export") + folder_bytes(tmp_path / "csv"),
        "logs": caplog.text.encode(),
        "spans": "\n".join(
            f"{s.name} {dict(s.attributes or {})} {[e.attributes for e in s.events]}"
            for s in spans.get_finished_spans()
        ).encode(),
    }
    assert any(s.name == "whylens.decide" for s in spans.get_finished_spans())
    for where, blob in outputs.items():
        for canary in (*CANARIES, SUBJECT):
            assert canary.encode() not in blob, f"{canary!r} in {where}"
        assert not [s for s in spellings if s in blob], f"contributions in {where}"
    # the feature hash is still there (chains and proofs unchanged) but keyed by a key that is gone
    assert len(mac) == 64 and np.all([c in "0123456789abcdef" for c in mac])


# -- records of the previous release ----------------------------------------------------------

V1 = Path(__file__).parent.parent / "fixtures" / "v1-store"


def test_records_of_the_previous_release_still_read(tmp_path: Path) -> None:
    """Entries written before record version 2 (no ``version``, contributions and reasons in
    clear, global-key hashes) read as before: explanations, history, a personal export."""
    import shutil

    db, ring = tmp_path / "v1.db", tmp_path / "v1.keyring.json"
    shutil.copyfile(V1 / "v1.db", db)
    shutil.copyfile(V1 / "v1.keyring.json", ring)
    ring.chmod(0o600)
    expected = json.loads((V1 / "expected.json").read_text())
    with Personalizer.open(db, keyring=ring) as p:
        overridden = expected["overridden"]
        entry, actions = p.audit.entries_of(overridden)
        assert "version" not in entry.data and "sealed" not in entry.data
        stored = entry.data["explanation"]["contributions"]
        auditor = p.explain(overridden, audience="auditor")
        assert list(auditor.contributions.values()) == stored
        reason = next(a.data["reason"] for a in actions if a.kind == "review.override")
        assert reason in [a.reason for a in p.decision(overridden).history]
        p.audit.export(tmp_path / "export", personal=True)
        assert verify_export(tmp_path / "export", public_key=p.keyring.public_key_bytes()).ok
        rows = [
            json.loads(line)
            for line in (tmp_path / "export" / "personal.jsonl").read_text().splitlines()
        ]
        mine = {r["kind"]: r for r in rows if r["decision_id"] == overridden}
        assert mine["decision"]["fields"]["contributions"] == stored
        assert mine["review.override"]["fields"]["reason"] == reason
        # new decisions on the upgraded store are the current version, beside the old ones
        p.consent.grant("member-new", ["profiling"])
        # v1 sign-offs covered the model text only: signed off again before it serves
        p.models.sign_off("credit", 1, reviewer="reviewer.upgrade")
        decision = p.decide(
            "member-new", {"tenure_months": 12.0, "late_payments": 0.0}, model="credit"
        )
        assert p.audit.entries_of(decision.decision_id)[0].data["version"] == RECORD_VERSION
        assert p.audit.verify().ok
