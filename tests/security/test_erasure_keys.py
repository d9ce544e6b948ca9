"""Erasure against an attacker who holds keys, backups or a reader (the key half of erasure).

* (a) the keyring's pseudonym key recomputes the erased person's pseudonym from their id, which
  finds their ledger entries (open: see the design note in ``docs/reference/subjects.md``);
* (b) a copy of the database taken before the erasure (the "old backup") plus the *current*
  keyring unwraps the erased person's data key and decrypts their profile, until the KEK that
  wrapped it is destroyed by the rotation schedule (after the documented retention window);
* (c) a second real process holding a read transaction keeps SQLite from checkpointing the WAL,
  so the wrapped key's bytes are still on disk: the receipt must say ``pending`` then, and
  ``finish_erasures`` issues the final one once the bytes are gone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import all_bytes, tamper

from sdk import Personalizer
from sdk.crypto.envelope import key_context, unwrap_key
from sdk.crypto.field import field_aad, pseudonym
from sdk.crypto.keyset import SubjectCipher
from sdk.errors import DecryptionError, KeyDestroyed, SubjectErased, WhylensError
from sdk.keys.pseudonyms import subject_token
from sdk.subjects import verify_erasure_receipt

CANARY_SUBJECT = "canary.keys.51d0@example.org"
CANARY_NAME = "Ottoline Canaryweather"


def _keks_in_file(keyring_path: Path) -> list[bytes]:
    """What an attacker reads out of the current keyring file: every KEK in it."""
    doc = json.loads(keyring_path.read_text())
    return [base64.b64decode(v) for v in doc["keks"].values()]


def _decrypt_from_backup(backup: Path, keyring_path: Path, pseudo: str) -> str | None:
    """The erased person's name, decrypted from ``backup`` with the current keyring's KEKs by
    hand (no whylens checks in the way), or None if no KEK in the file unwraps their key."""
    import sqlite3

    lite = sqlite3.connect(backup)
    try:
        kek_version, wrapped = lite.execute(
            "SELECT kek_version, wrapped FROM subject_keys WHERE subject = ?", (pseudo,)
        ).fetchone()
        (blob,) = lite.execute(
            "SELECT ciphertext FROM profile_fields WHERE subject = ? AND field = 'name'", (pseudo,)
        ).fetchone()
    finally:
        lite.close()
    context = key_context(subject=pseudo, kek_version=kek_version, dek_version=1)
    for kek in _keks_in_file(keyring_path):
        try:
            dek = unwrap_key(kek, bytes(wrapped), context=context)
        except DecryptionError:
            continue
        cipher = SubjectCipher({1: dek}, current=1)
        plain = cipher.decrypt(bytes(blob), aad=field_aad(subject=pseudo, field="name"))
        return str(json.loads(plain))
    return None


def test_a_pseudonym_recomputed_from_the_id_finds_no_ledger_entries(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant(CANARY_SUBJECT, ["personalization"])
        p.profiles.put(CANARY_SUBJECT, {"name": CANARY_NAME})
        p.subjects.erase(CANARY_SUBJECT)
    # the attacker: the keyring file and the subject's id (an e-mail address they know)
    doc = json.loads(keyring_path.read_text())
    guess = pseudonym(base64.b64decode(doc["pseudonym_key"]), CANARY_SUBJECT)
    rows = tamper(store_url, "SELECT seq, kind FROM ledger WHERE subject = ?", (guess,))
    assert rows == [], f"{len(rows)} ledger entries still link to the erased person's id"
    # the attacker's best with random pseudonyms: recompute the index token, follow its row
    token = subject_token(base64.b64decode(doc["pseudonym_key"]), CANARY_SUBJECT)
    linked = tamper(store_url, "SELECT subject FROM subject_index WHERE token = ?", (token,))
    assert len(linked) == 1  # the id still says "erased", but points at an empty tombstone
    for table in ("ledger", "profile_fields", "personal_events", "blind_index"):
        rows = tamper(store_url, f"SELECT * FROM {table} WHERE subject = ?", (linked[0][0],))
        assert rows == [], f"the erased id's index row leads to {table} rows"
    (key_row,) = tamper(
        store_url, "SELECT wrapped, erased, created FROM subject_keys WHERE subject = ?",
        (linked[0][0],),
    )
    assert key_row[0] is None and key_row[1] is None  # no erasure time to match against
    with Personalizer.open(store_url, keyring=keyring_path) as p, pytest.raises(SubjectErased):
        p.profiles.get(CANARY_SUBJECT)  # the erased-subject behaviour is kept


def test_b_old_backup_plus_current_keyring_stops_decrypting_after_the_window(
    db_path: Path, tmp_path: Path
) -> None:
    keyring_path = tmp_path / "shop.keyring.json"
    backup = tmp_path / "backup-before-erasure.db"
    with Personalizer.open(db_path, keyring=keyring_path) as p:
        p.profiles.put(CANARY_SUBJECT, {"name": CANARY_NAME})
        p.profiles.put("bystander", {"name": "Someone Else"})
        pseudo = p.keys.pseudonym(CANARY_SUBJECT)
        p._db.checkpoint()
        shutil.copyfile(db_path, backup)  # the nightly backup, taken before the erasure
        p.subjects.erase(CANARY_SUBJECT)
        # the attack works right after the erasure: KEK 1 is still in the keyring
        assert _decrypt_from_backup(backup, keyring_path, pseudo) == CANARY_NAME

        p.keys.set_rotation_schedule(every=timedelta(days=30), retain=timedelta(days=7))
        start = datetime.now(UTC)
        first = p.keys.rotate(now=start)  # KEK 2 current, live keys rewrapped, 1 kept (window)
        assert first.kek_version == 2 and first.rewrapped == 1 and first.destroyed == ()
        # inside the retention window the backup is still readable, as documented
        assert _decrypt_from_backup(backup, keyring_path, pseudo) == CANARY_NAME
        assert p.keys.rotate_if_due(now=start + timedelta(days=3)) is None  # not due yet

        later = p.keys.rotate_if_due(now=start + timedelta(days=31))  # the scheduled job
        assert later is not None and later.kek_version == 3 and later.destroyed == (1,)
        assert p.keyring.kek_versions == (2, 3)
        assert p.profiles.get("bystander") == {"name": "Someone Else"}  # live data unharmed

    assert _decrypt_from_backup(backup, keyring_path, pseudo) is None  # the attack now fails
    # witness=[]: the live witness log would refuse the backup as a rollback (test_wipe_rollback)
    with Personalizer.open(backup, keyring=keyring_path, witness=[]) as old:
        with pytest.raises(KeyDestroyed) as info:
            old.profiles.get(CANARY_SUBJECT)
        assert "canary" not in str(info.value).lower()
        assert info.value.code == "key_destroyed"
    with Personalizer.open(db_path, keyring=keyring_path) as p:  # reopening keeps working
        assert p.profiles.get("bystander") == {"name": "Someone Else"}


def test_b_cli_rotate_applies_the_schedule(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sdk.cli import app

    path = tmp_path / "cli.db"
    with Personalizer.open(path) as p:
        p.profiles.put("kim", {"name": "Kim"})
    db = ["--db", str(path)]
    runner = CliRunner()
    schedule = ["keys", "schedule", "--every-days", "30", "--retain-days", "0"]
    result = runner.invoke(app, [*schedule, *db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["keys", "rotate", "--if-due", *db])
    assert result.exit_code == 0, result.output
    assert "not due" in result.output  # the keyring is new
    result = runner.invoke(app, ["keys", "rotate", *db])
    assert result.exit_code == 0, result.output
    assert "KEK version 2 is now current" in result.output
    assert "destroyed KEK versions [1]" in " ".join(result.output.split())
    with Personalizer.open(path) as p:
        assert p.keyring.kek_versions == (2,)
        assert p.profiles.get("kim") == {"name": "Kim"}


_READER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM subject_keys").fetchone()  # holds a WAL read snapshot
    print("reading", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    conn.close()
    """
)


@contextlib.contextmanager
def _reading(db_path: Path) -> Iterator[None]:
    """A second real process holding a read transaction on ``db_path`` until the block ends."""
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(db_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        yield
    finally:
        if reader.stdin is not None:
            reader.stdin.write("done\n")
            reader.stdin.flush()
        reader.wait(timeout=30)


def test_c_a_reader_in_another_process_keeps_the_receipt_pending(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.profiles.put(CANARY_SUBJECT, {"name": CANARY_NAME})
        pseudo = p.keys.pseudonym(CANARY_SUBJECT)
        wrapped = bytes(p._db.query("SELECT wrapped FROM subject_keys WHERE subject = ?",
                                    (pseudo,))[0][0])
        p.profiles.put("bystander", {"name": "Someone Else"})  # frames in the WAL
        with _reading(db_path):
            receipt = p.subjects.erase(CANARY_SUBJECT)
            still_on_disk = wrapped in all_bytes(db_path)
            assert still_on_disk  # the reader really kept the old pages in place
            assert receipt.status == "pending", "a receipt was issued with the key still on disk"
            assert verify_erasure_receipt(receipt, trust=p.keyring.public_key_bytes())
            assert receipt.completed_seq is None
            # a second process sees the pending erasure on the ledger
            with Personalizer.open(db_path) as other:
                assert [r.subject for r in other.subjects.pending_erasures()] == [pseudo]
            assert p.subjects.finish_erasures()[0].status == "pending"  # still blocked
        final = p.subjects.finish_erasures()
        assert [r.status for r in final] == ["complete"]
        assert wrapped not in all_bytes(db_path)
        assert final[0].ledger_seq == receipt.ledger_seq and final[0].completed_seq
        assert verify_erasure_receipt(final[0], trust=p.keyring.public_key_bytes())
        assert p.subjects.erase(CANARY_SUBJECT) == final[0]  # idempotent, final receipt
        assert p.subjects.pending_erasures() == []
    with Personalizer.open(db_path) as other:
        assert other.subjects.pending_erasures() == []


def test_c_pending_erasure_completes_on_close(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.profiles.put(CANARY_SUBJECT, {"name": CANARY_NAME})
        with _reading(db_path):
            assert p.subjects.erase(CANARY_SUBJECT).status == "pending"
    with Personalizer.open(db_path) as p:
        assert p.subjects.pending_erasures() == []  # finished when the first one closed
        assert p.subjects.erase(CANARY_SUBJECT).status == "complete"


def test_c_pending_erasure_completes_on_a_later_write(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.profiles.put(CANARY_SUBJECT, {"name": CANARY_NAME})
        with _reading(db_path):
            assert p.subjects.erase(CANARY_SUBJECT).status == "pending"
        p.profiles.put("bystander", {"name": "Someone Else"})  # any later write finishes it
        assert p.subjects.pending_erasures() == []


def test_c_postgres_reader_snapshot_keeps_the_receipt_pending(
    pg_url: str, keyring_path: Path
) -> None:
    """PostgreSQL's equivalent: an open snapshot in another session keeps VACUUM from removing
    the dead row version that still holds the wrapped key."""
    import psycopg

    with Personalizer.open(pg_url, keyring=keyring_path) as p:
        p.profiles.put(CANARY_SUBJECT, {"name": CANARY_NAME})
        with psycopg.connect(pg_url) as reader:
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            reader.execute("SELECT count(*) FROM subject_keys").fetchone()
            receipt = p.subjects.erase(CANARY_SUBJECT)
            assert receipt.status == "pending"
            reader.rollback()
        final = p.subjects.finish_erasures()
        assert [r.status for r in final] == ["complete"]
        assert p.subjects.pending_erasures() == []


def test_errors_stay_typed(db_path: Path) -> None:
    with Personalizer.open(db_path) as p, pytest.raises(WhylensError):
        p.keys.set_rotation_schedule(every=timedelta(days=-1), retain=timedelta(days=1))


_ROTATOR = textwrap.dedent(
    """
    import sys, time
    from sdk.crypto.keyring import Keyring
    keyring = Keyring.load(sys.argv[1])
    while time.time() < float(sys.argv[2]):
        time.sleep(0.001)
    print(keyring.rotate_kek(), flush=True)
    """
)


def test_two_processes_rotating_at_once_lose_no_kek(tmp_path: Path) -> None:
    import os
    import time

    from sdk.crypto.keyring import Keyring

    path = tmp_path / "k.keyring.json"
    Keyring.create(path)
    start = str(time.time() + 1.5)  # both load the old file first, then rotate together
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ROTATOR, str(path), start],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        for _ in range(2)
    ]
    made = sorted(int(p.communicate(timeout=60)[0]) for p in procs)
    assert made == [2, 3]  # without the lock and re-read both made "2", one key was lost
    assert Keyring.load(path).kek_versions == (1, 2, 3)


def test_destroyed_kek_versions_in_the_file_are_checked(tmp_path: Path) -> None:
    from sdk.crypto.keyring import Keyring
    from sdk.errors import KeyringError

    path = tmp_path / "k.keyring.json"
    keyring = Keyring.create(path)
    keyring.rotate_kek(now=datetime(2026, 1, 1, tzinfo=UTC))
    keyring.destroy_keks([1])
    fresh = Keyring.load(path)
    assert fresh.kek_versions == (2,) and fresh.destroyed_kek_versions == (1,)
    assert fresh.kek_created_at(2) == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(KeyDestroyed):
        fresh.kek(1)
    with pytest.raises(KeyringError):
        fresh.destroy_keks([2])  # never the current one
    doc = json.loads(path.read_text())
    doc["destroyed_keks"]["2"] = doc["destroyed_keks"]["1"]  # claims 2 destroyed, yet holds it
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyringError, match="destroyed_keks"):
        Keyring.load(path)


def test_an_erasure_made_before_pending_receipts_reads_as_complete(tmp_path: Path) -> None:
    """The v1 store erased member-2 before receipts had a status: its receipt still verifies,
    reads as complete, and nothing of it shows as pending."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "v1-store"
    for name in ("v1.db", "v1.keyring.json"):
        shutil.copyfile(fixture / name, tmp_path / name)
    (tmp_path / "v1.keyring.json").chmod(0o600)
    expected = json.loads((fixture / "expected.json").read_text())
    with Personalizer.open(tmp_path / "v1.db", keyring=tmp_path / "v1.keyring.json") as p:
        assert p.subjects.pending_erasures() == []
        receipt = p.subjects.erase(expected["erased_subject"])
        assert receipt.subject == expected["erased_pseudonym"]
        assert receipt.status == "complete" and receipt.completed_seq is None
        assert verify_erasure_receipt(receipt, public_key=receipt.public_key)
        assert "status" not in receipt.model_dump(exclude_defaults=True)
