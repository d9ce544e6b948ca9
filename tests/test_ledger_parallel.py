"""The parallel verification walk: segments checked in worker processes report exactly what the
serial walk reports, for every kind of damage, at every position around segment boundaries."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.crypto.keyring import Keyring
from sdk.ledger import Ledger, PendingEntry
from sdk.ledger._segment import WalkState
from sdk.ledger.merkle import MerkleTree, reference_root
from sdk.ledger.parallel import walk_segments
from sdk.ledger.verify import PATTERNS, verify_ledger
from sdk.store import Database

KEY = b"k" * 32
SUBJ = "0123456789abcdef0123456789abcdef"
N = 37  # nine segments of 4 and a partial one
SEG = 4


def _filled(path: Path, ring: Keyring) -> Ledger:
    db = Database.open(path)
    ledger = Ledger(db, mac_key=KEY, signer=ring, origin="test/parallel")
    ledger.append_many(
        [
            PendingEntry(
                "audit" if i % 3 else "consent", "decision", {"i": i, "pad": "x" * (i % 7)},
                SUBJ if i % 2 else None,
            )
            for i in range(N)
        ]
    )
    return ledger


def _reports(ledger: Ledger, ring: Keyring) -> tuple[object, object]:
    rows = ledger._rows
    common = {"public_key": ring.public_key_bytes(), "origin": "test/parallel"}
    serial = verify_ledger(rows, KEY, workers=0, **common)  # type: ignore[arg-type]
    parallel = verify_ledger(rows, KEY, workers=2, segment_rows=SEG, **common)  # type: ignore[arg-type]
    return serial, parallel


def test_a_good_ledger_is_walked_by_the_workers_to_the_same_tree(
    tmp_path: Path, keyring: Keyring
) -> None:
    ledger = _filled(tmp_path / "w.db", keyring)
    state, tree = WalkState(prev=bytes(32)), MerkleTree()
    source = ledger._rows.read_source()
    assert source is not None
    walk_segments(source, PATTERNS, state, tree, end=N, workers=2, segment_rows=SEG)
    assert state.size == N  # every segment was proven by a worker, none left to the serial walk
    assert state.prev == ledger._rows.hash_at(N)
    leaves = [leaf for _, leaf in ledger._rows.leaves(0, N, N)]
    assert tree.root() == reference_root(leaves)
    assert tree.leaves() == leaves
    serial, parallel = _reports(ledger, keyring)
    assert serial == parallel
    assert getattr(parallel, "ok", False)


def _flip_body(seq: int) -> Callable[[sqlite3.Connection], None]:
    def go(conn: sqlite3.Connection) -> None:
        (body,) = conn.execute("SELECT body FROM ledger WHERE seq = ?", (seq,)).fetchone()
        i = body.index(b'"i":') + 4
        conn.execute(
            "UPDATE ledger SET body = ? WHERE seq = ?",
            (body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :], seq),
        )

    return go


def _rehash_body(seq: int) -> Callable[[sqlite3.Connection], None]:
    """A rewritten body with its hash and cached leaf recomputed: the next link breaks."""

    def go(conn: sqlite3.Connection) -> None:
        (body,) = conn.execute("SELECT body FROM ledger WHERE seq = ?", (seq,)).fetchone()
        forged = body.replace(b'"pad":"', b'"pad":"y', 1)
        conn.execute(
            "UPDATE ledger SET body = ?, hash = ? WHERE seq = ?",
            (forged, hashlib.sha256(forged).digest(), seq),
        )
        conn.execute(
            "UPDATE ledger_leaves SET leaf = ? WHERE seq = ?",
            (hashlib.sha256(b"\x00" + forged).digest(), seq),
        )

    return go


def _sql(statement: str, seq: int) -> Callable[[sqlite3.Connection], None]:
    def go(conn: sqlite3.Connection) -> None:
        conn.execute(statement, (seq,))

    return go


DAMAGE = {
    "flipped body byte": _flip_body,
    "rewritten body, hash and leaf": _rehash_body,
    "deleted row": lambda s: _sql("DELETE FROM ledger WHERE seq = ?", s),
    "wrong leaf": lambda s: _sql("UPDATE ledger_leaves SET leaf = zeroblob(32) WHERE seq = ?", s),
    "missing leaf": lambda s: _sql("DELETE FROM ledger_leaves WHERE seq = ?", s),
    "earlier timestamp": lambda s: _sql(
        "UPDATE ledger SET ts = '2000-01-01T00:00:00.000000Z' WHERE seq = ?", s
    ),
    "malformed timestamp": lambda s: _sql("UPDATE ledger SET ts = 'yesterday' WHERE seq = ?", s),
    "stream column": lambda s: _sql("UPDATE ledger SET stream = 'other' WHERE seq = ?", s),
    "bad stream column": lambda s: _sql("UPDATE ledger SET stream = 'X!' WHERE seq = ?", s),
    "subject column": lambda s: _sql("UPDATE ledger SET subject = 'abc' WHERE seq = ?", s),
    "prev column": lambda s: _sql("UPDATE ledger SET prev_hash = hash WHERE seq = ?", s),
    "text body": lambda s: _sql("UPDATE ledger SET body = CAST(body AS TEXT) WHERE seq = ?", s),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("seq", [1, 4, 5, 9, 36, 37])
def test_damage_is_named_as_the_serial_walk_names_it(
    tmp_path: Path, keyring: Keyring, damage: str, seq: int
) -> None:
    ledger = _filled(tmp_path / "w.db", keyring)
    conn = sqlite3.connect(ledger._rows.read_source().target, isolation_level=None)  # type: ignore[union-attr]
    DAMAGE[damage](seq)(conn)
    conn.close()
    serial, parallel = _reports(ledger, keyring)
    # a missing cached leaf is no damage (the walk computes it): ok either way, but the same
    assert getattr(serial, "ok", True) is (damage == "missing leaf")
    assert parallel == serial


def test_a_worker_that_cannot_read_leaves_the_walk_to_this_process(
    tmp_path: Path, keyring: Keyring
) -> None:
    """A source the workers cannot open: the walk does not fail, it goes on serially."""
    ledger = _filled(tmp_path / "w.db", keyring)
    source = ledger._rows.read_source()
    assert source is not None
    gone = type(source)(source.driver, str(tmp_path / "missing.db"), source.sql, source.reader)
    state, tree = WalkState(prev=bytes(32)), MerkleTree()
    walk_segments(gone, PATTERNS, state, tree, end=N, workers=2, segment_rows=SEG)
    assert state.size == 0 and tree.size == 0


@pytest.mark.parametrize("statement", [None, "UPDATE ledger SET ts = 'yesterday' WHERE seq = ?"])
def test_both_backends_walk_in_workers_and_report_as_the_serial_walk(
    p: Personalizer, store_url: str, statement: str | None
) -> None:
    """SQLite and PostgreSQL: the workers read through their own connection (read_source)."""
    ledger = p.ledger
    ledger.append_many([PendingEntry("audit", "decision", {"i": i}, SUBJ) for i in range(N)])
    rows = ledger._rows
    end = ledger.size
    source = rows.read_source()
    assert source is not None
    state, tree = WalkState(prev=bytes(32)), MerkleTree()
    walk_segments(source, PATTERNS, state, tree, end=end, workers=2, segment_rows=SEG)
    assert state.size == end and state.prev == rows.hash_at(end)
    if statement is not None:
        tamper(store_url, statement, (end - 5,))
    serial = verify_ledger(rows, ledger._key, workers=0)
    parallel = verify_ledger(rows, ledger._key, workers=2, segment_rows=SEG)
    assert parallel == serial
    assert serial.ok is (statement is None)
    if statement is not None:
        assert serial.first_bad == end - 5
