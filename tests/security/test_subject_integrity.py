"""Attacks on a subject's stored profile fields and events (attacker: write access to the
database, not the keyring). Each row decrypts fine on its own, so before per-subject integrity
an older ciphertext put back, a deleted field or event, or the whole subject rolled back to an
older copy of its rows was read as if nothing happened. Now each is a typed
:class:`SubjectDataTampered` on read, on both backends, also in a process that did not write.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.errors import SubjectDataTampered

WHO = "integrity-subject-1"


def _pseudo(p: Personalizer, subject: str = WHO) -> str:
    return p.keys.pseudonym(subject)


def _reopen(store_url: str, keyring_path: Path) -> Personalizer:
    return Personalizer.open(store_url, keyring=keyring_path)


def test_an_older_ciphertext_of_a_field_put_back_is_detected(
    p: Personalizer, store_url: str, keyring_path: Path
) -> None:
    p.profiles.put(WHO, {"tier": "basic", "city": "Lyon"})
    [(old,)] = tamper(store_url, "SELECT ciphertext FROM profile_fields WHERE field = 'tier'")
    p.profiles.put(WHO, {"tier": "suspended"})
    assert p.profiles.get(WHO)["tier"] == "suspended"
    tamper(store_url, "UPDATE profile_fields SET ciphertext = ? WHERE field = 'tier'", (old,))
    with pytest.raises(SubjectDataTampered) as info:
        p.profiles.get(WHO)
    assert info.value.code == "subject_data_tampered"
    assert "Lyon" not in str(info.value) and "basic" not in str(info.value)
    with _reopen(store_url, keyring_path) as q, pytest.raises(SubjectDataTampered):
        q.profiles.get(WHO)


def test_a_deleted_field_is_detected(p: Personalizer, store_url: str) -> None:
    p.profiles.put(WHO, {"tier": "basic", "opted_out_of_marketing": True})
    tamper(store_url, "DELETE FROM profile_fields WHERE field = 'opted_out_of_marketing'")
    with pytest.raises(SubjectDataTampered):
        p.profiles.get(WHO)


def test_a_field_copied_from_another_subject_is_still_refused(
    p: Personalizer, store_url: str
) -> None:
    p.profiles.put(WHO, {"tier": "basic"})
    p.profiles.put("integrity-subject-2", {"tier": "gold", "extra": 1})
    other = _pseudo(p, "integrity-subject-2")
    tamper(store_url, "UPDATE profile_fields SET subject = ? WHERE subject = ? AND field = 'extra'",
           (_pseudo(p), other))
    with pytest.raises((SubjectDataTampered, Exception)) as info:
        p.profiles.get(WHO)
    assert getattr(info.value, "code", "") in {"subject_data_tampered", "decryption_error"}


def test_a_deleted_event_is_detected(p: Personalizer, store_url: str) -> None:
    p.consent.grant(WHO, ["personalization"])
    first = p.events.record(WHO, "product.viewed", purpose="personalization", data={"sku": "a"})
    p.events.record(WHO, "product.viewed", purpose="personalization", data={"sku": "b"})
    assert len(p.events.list(WHO)) == 2
    tamper(store_url, "DELETE FROM personal_events WHERE event_id = ?", (first.event_id,))
    with pytest.raises(SubjectDataTampered):
        p.events.list(WHO)
    with pytest.raises(SubjectDataTampered):  # a filtered read checks the whole set too
        p.events.list(WHO, kind="product.viewed")


def test_a_subject_rolled_back_to_an_older_copy_of_its_rows_is_detected(
    p: Personalizer, store_url: str, keyring_path: Path
) -> None:
    """Every row of the subject (fields, events and its integrity record) put back as an older
    backup had them: consistent in the database, but the ledger saw a later state."""
    p.consent.grant(WHO, ["personalization"])
    p.profiles.put(WHO, {"tier": "basic"})
    p.events.record(WHO, "product.viewed", purpose="personalization", data={"sku": "a"})
    pseudo = _pseudo(p)
    tables = ("profile_fields", "personal_events", "subject_integrity")
    saved = {t: tamper(store_url, f"SELECT * FROM {t} WHERE subject = ?", (pseudo,))
             for t in tables}
    p.profiles.put(WHO, {"tier": "suspended"})
    p.events.record(WHO, "consent.withdrawn.note", purpose="personalization", data={})
    for table, rows in saved.items():
        tamper(store_url, f"DELETE FROM {table} WHERE subject = ?", (pseudo,))
        for row in rows:
            marks = ", ".join("?" * len(row))
            tamper(store_url, f"INSERT INTO {table} VALUES ({marks})", row)
    with _reopen(store_url, keyring_path) as q:
        with pytest.raises(SubjectDataTampered):
            q.profiles.get(WHO)
        with pytest.raises(SubjectDataTampered):
            q.events.list(WHO)


def test_a_deleted_integrity_record_is_detected(p: Personalizer, store_url: str,
                                                keyring_path: Path) -> None:
    p.profiles.put(WHO, {"tier": "basic"})
    tamper(store_url, "DELETE FROM subject_integrity WHERE subject = ?", (_pseudo(p),))
    with _reopen(store_url, keyring_path) as q, pytest.raises(SubjectDataTampered):
        q.profiles.get(WHO)


def test_everything_of_the_subject_deleted_is_detected(p: Personalizer, store_url: str,
                                                       keyring_path: Path) -> None:
    p.profiles.put(WHO, {"tier": "basic"})
    for table in ("profile_fields", "subject_integrity"):
        tamper(store_url, f"DELETE FROM {table} WHERE subject = ?", (_pseudo(p),))
    with _reopen(store_url, keyring_path) as q, pytest.raises(SubjectDataTampered):
        q.profiles.get(WHO)


def test_honest_writes_read_back_and_erasure_leaves_nothing_linkable(
    p: Personalizer, store_url: str
) -> None:
    p.consent.grant(WHO, ["personalization"])
    p.profiles.put(WHO, {"tier": "basic", "city": "Lyon"})
    p.profiles.put(WHO, {"tier": "gold"})
    p.profiles.declare("city", deterministic=True)  # re-encrypts: the values stay the same
    for i in range(3):
        p.events.record(WHO, "product.viewed", purpose="personalization", data={"i": i},
                        at=datetime.now(UTC) - timedelta(minutes=i))
    assert p.profiles.get(WHO) == {"tier": "gold", "city": "Lyon"}
    assert [e.data["i"] for e in p.events.list(WHO)] == [2, 1, 0]
    pseudo = _pseudo(p)
    p.subjects.erase(WHO)
    assert tamper(store_url, "SELECT * FROM subject_integrity WHERE subject = ?", (pseudo,)) == []
    rows = tamper(store_url, "SELECT subject, body FROM ledger WHERE stream = 'integrity'")
    assert rows, "the integrity states are on the ledger"
    for subject, body in rows:
        assert subject is None
        assert pseudo.encode() not in bytes(body)  # type: ignore[arg-type]


def _writer(store_url: str, keyring: str, tag: str, out: Any) -> None:
    try:
        with Personalizer.open(store_url, keyring=keyring) as q:
            for i in range(8):
                q.profiles.put(WHO, {f"{tag}_{i}": i, "shared": tag})
                q.events.record(WHO, "product.viewed", purpose="personalization",
                                data={"by": tag, "i": i})
        out.put("ok")
    except Exception as exc:  # reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_writing_one_subject_leave_it_consistent(
    p: Personalizer, store_url: str, keyring_path: Path
) -> None:
    p.consent.grant(WHO, ["personalization"])
    p.profiles.put(WHO, {"start": 0})
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(store_url, str(keyring_path), t, out))
             for t in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
    assert sorted(out.get(timeout=5) for _ in procs) == ["ok", "ok"]
    profile = p.profiles.get(WHO)
    assert {f"{t}_{i}" for t in "ab" for i in range(8)} <= set(profile)
    assert len(p.events.list(WHO)) == 16
