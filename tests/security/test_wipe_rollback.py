"""Attacks on the whole ledger, not on one byte of it: wipe every row, cut the tail, put an old
backup back, rewrite and re-sign with the keyring.

Each test is the attack; it must be caught by the checkpoint anchored outside the store (the
witness log beside the keyring by default, see docs/threat-model.md). On the code before the
witness seam every one of these attacks verified ok.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.errors import LedgerRollback

SUBJECTS = [f"cust-{i}" for i in range(4)]


def _history(p: Personalizer) -> int:
    """Some consent history; returns the ledger size."""
    for s in SUBJECTS:
        p.consent.grant(s, "personalization")
    return p.ledger.size


def _meta(store_url: str) -> list[tuple[object, ...]]:
    return tamper(
        store_url,
        "SELECT key, value FROM whylens_meta WHERE key IN ('ledger_head', 'ledger_checkpoint')",
    )


def _restore_meta(store_url: str, rows: list[tuple[object, ...]]) -> None:
    for key, value in rows:
        tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (value, key))


def _open_is_refused(store_url: str, keyring: Path, lost: str) -> None:
    with pytest.raises(LedgerRollback) as caught:
        Personalizer.open(store_url, keyring=keyring)
    assert caught.value.code == "ledger_rollback"
    assert lost in str(caught.value)


def test_wipe_every_row_is_caught(store_url: str, keyring_path: Path) -> None:
    """Delete every ledger row, leaf, the signed head and the checkpoint: not an empty ledger."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        size = _history(p)
    tamper(store_url, "DELETE FROM ledger")
    tamper(store_url, "DELETE FROM ledger_leaves")
    tamper(store_url, "DELETE FROM whylens_meta WHERE key IN ('ledger_head', 'ledger_checkpoint')")
    _open_is_refused(store_url, keyring_path, f"{size} entries")


def test_wipe_seen_by_verify_of_an_open_store(store_url: str, keyring_path: Path) -> None:
    """A store already open when the rows vanish: ``verify()`` fails naming what was lost."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        size = _history(p)
        tamper(store_url, "DELETE FROM ledger")
        tamper(store_url, "DELETE FROM ledger_leaves")
        tamper(
            store_url, "DELETE FROM whylens_meta WHERE key IN ('ledger_head', 'ledger_checkpoint')"
        )
        report = p.audit.verify()
    assert not report.ok
    assert report.first_bad == 1
    assert f"entries 1..{size}" in (report.problem or "")


def test_truncate_tail_with_an_old_head(store_url: str, keyring_path: Path) -> None:
    """Cut the last entries and put back the head and checkpoint saved when the ledger was
    shorter (both authentic: signed by the real keys, just old)."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        kept = _history(p)
        old = _meta(store_url)
        p.consent.withdraw(SUBJECTS[0], "personalization")
        p.consent.withdraw(SUBJECTS[1], "personalization")
        size = p.ledger.size
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    _restore_meta(store_url, old)
    _open_is_refused(store_url, keyring_path, f"entries {kept + 1}..{size}")


@pytest.mark.sqlite_only
def test_old_backup_copied_back(db_path: Path, keyring_path: Path, tmp_path: Path) -> None:
    """Copy an older database file over the current one (the WAL and shared memory too)."""
    with Personalizer.open(db_path, keyring=keyring_path) as p:
        kept = _history(p)
    backup = tmp_path / "backup.db"
    shutil.copy2(db_path, backup)
    with Personalizer.open(db_path, keyring=keyring_path) as p:
        p.consent.withdraw(SUBJECTS[2], "personalization")
        size = p.ledger.size
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    shutil.copy2(backup, db_path)
    _open_is_refused(str(db_path), keyring_path, f"entries {kept + 1}..{size}")


def test_restore_of_an_old_dump(store_url: str, keyring_path: Path) -> None:
    """PostgreSQL's "old backup": every ledger table emptied and refilled with the rows saved
    earlier, as a restore of an old dump into a re-created database leaves them."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        kept = _history(p)
        rows = tamper(store_url, "SELECT * FROM ledger ORDER BY seq")
        leaves = tamper(store_url, "SELECT * FROM ledger_leaves ORDER BY seq")
        old = _meta(store_url)
        p.consent.withdraw(SUBJECTS[3], "personalization")
        size = p.ledger.size
    tamper(store_url, "DELETE FROM ledger")
    tamper(store_url, "DELETE FROM ledger_leaves")
    for row in rows:
        marks = ", ".join("?" for _ in row)
        tamper(store_url, f"INSERT INTO ledger VALUES ({marks})", row)
    for leaf in leaves:
        tamper(store_url, "INSERT INTO ledger_leaves VALUES (?, ?)", leaf)
    _restore_meta(store_url, old)
    _open_is_refused(store_url, keyring_path, f"entries {kept + 1}..{size}")


def test_rewrite_and_resign_with_the_keyring(store_url: str, keyring_path: Path) -> None:
    """An attacker with the database and the keyring drops a withdrawal and re-seals the ledger
    with a fresh head MAC and a freshly signed checkpoint (both valid under the keyring). The
    checkpoint anchored in the witness log still covers the dropped entry."""
    from sdk.crypto.keyring import Keyring
    from sdk.ledger import sign_checkpoint
    from sdk.ledger.merkle import MerkleTree
    from sdk.ledger.verify import encode_head

    with Personalizer.open(store_url, keyring=keyring_path) as p:
        kept = _history(p)
        p.consent.withdraw(SUBJECTS[0], "personalization")
        origin, size = p.ledger.origin, p.ledger.size
    ring = Keyring.load(keyring_path)
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    last = bytes(tamper(store_url, "SELECT hash FROM ledger WHERE seq = ?", (kept,))[0][0])  # type: ignore[arg-type]
    leaves = [bytes(r[0]) for r in tamper(store_url, "SELECT leaf FROM ledger_leaves ORDER BY seq")]  # type: ignore[arg-type]
    cp = sign_checkpoint(origin, kept, MerkleTree(leaves).root(), ring)
    head = encode_head(ring.mac_key, kept, last.hex())
    _restore_meta(store_url, [("ledger_head", head), ("ledger_checkpoint", cp.note)])
    _open_is_refused(store_url, keyring_path, f"entries {kept + 1}..{size}")


def test_a_gap_in_the_middle_opens_and_verify_names_it(store_url: str, keyring_path: Path) -> None:
    """A deleted middle entry leaves the tail (and so the anchored size) in place: the store
    still opens, so tools can read it, and ``verify()`` names the missing entry."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        _history(p)
    tamper(store_url, "DELETE FROM ledger WHERE seq = 2")
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq = 2")
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        report = p.audit.verify()
    assert not report.ok and report.first_bad == 2
    assert "entry 2 is missing" in (report.problem or "")
