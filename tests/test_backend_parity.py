"""Every backend keeps the seam's contract (``sdk/_store/abc.py``) the same way: each test runs on
SQLite and on PostgreSQL through ``open_store(store_url)`` and checks the same results."""

from __future__ import annotations

import hashlib

import pytest

from sdk._store import open_store
from sdk._store.abc import LedgerBatch, LedgerReads, Store
from sdk.errors import StoreError

P1, P2 = "a" * 32, "b" * 32


@pytest.fixture
def store(store_url: str) -> Store:
    s = open_store(store_url)
    yield s  # type: ignore[misc]
    s.close()


def _batch(reads: LedgerReads, n: int, stream: str = "s") -> LedgerBatch:
    tail = reads.tail()
    seq, prev = (0, b"\0" * 32) if tail is None else (tail.seq, tail.hash)
    rows, leaves = [], []
    for _ in range(n):
        seq += 1
        body = b"body-%d" % seq
        digest = hashlib.sha256(body).digest()
        rows.append((seq, stream, "k", P1 if seq % 2 else None, f"t{seq:04d}", body, prev, digest))
        leaves.append((seq, hashlib.sha256(b"\0" + body).digest()))
        prev = digest
    return LedgerBatch(rows, leaves, {"ledger_head": f"head-{seq}"})


def test_ledger_rows_pages_and_tail(store: Store) -> None:
    assert store.ledger.tail() is None
    store.ledger.append(lambda r: _batch(r, 3))
    store.ledger.append(lambda r: _batch(r, 2, stream="t"))
    tail = store.ledger.tail()
    assert tail is not None and tail.seq == 5 and tail.ts == "t0005"
    assert store.ledger.meta("ledger_head") == "head-5"
    assert store.ledger.count() == 5 and store.ledger.count("t") == 2
    page = store.ledger.entries(after_seq=1, limit=2)
    assert [r[0] for r in page] == [2, 3]
    assert all(isinstance(r[5], bytes) for r in page)
    assert [r[0] for r in store.ledger.entries(after_seq=0, limit=9, subject=P1)] == [1, 3, 5]
    assert [r[0] for r in store.ledger.entries(after_seq=0, limit=9, kinds={"k"}, stream="t")] == [
        4, 5,
    ]
    assert store.ledger.body(2) == b"body-2" and store.ledger.body(9) is None
    assert store.ledger.hash_at(2) == hashlib.sha256(b"body-2").digest()
    walk = store.ledger.with_leaves(after_seq=3, limit=10)
    assert [(r[0], r[8] is not None) for r in walk] == [(4, True), (5, True)]
    assert [s for s, _ in store.ledger.leaves(0, 5, 10)] == [1, 2, 3, 4, 5]
    raw = store.ledger.raw(after_seq=4, limit=10)
    assert raw[0][0] == 5 and raw[0][7] == b"body-5"


def test_a_failing_build_writes_nothing(store: Store) -> None:
    store.ledger.append(lambda r: _batch(r, 1))

    def broken(reads: LedgerReads) -> LedgerBatch:
        _batch(reads, 1)
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError):
        store.ledger.append(broken)
    assert store.ledger.count() == 1
    store.ledger.append(lambda r: _batch(r, 1))  # the lock was released
    assert store.ledger.count() == 2


def test_keys_compare_and_set_and_tombstones(store: Store) -> None:
    store.keys.create(P1, 1, b"w1", "c")
    store.keys.create(P1, 1, b"other", "c")  # never overwrites
    assert store.keys.current(P1) == (1, b"w1", None, 1)
    assert not store.keys.rotate(
        P1, expected=b"stale", new_kek=1, new_wrapped=b"w2", old_version=1, old_kek=1, created="c"
    )
    assert store.keys.rotate(
        P1, expected=b"w1", new_kek=2, new_wrapped=b"w2", old_version=1, old_kek=1, created="c"
    )
    assert store.keys.current(P1) == (2, b"w2", None, 2)
    assert store.keys.old_keys(P1, 1) == [(1, 1, b"w1")]
    assert store.keys.count_below(2) == 1
    assert [r[0] for r in store.keys.old_below(2, ("", 0), 10)] == [P1]
    assert store.keys.rewrap_old(P1, 1, expected=b"w1", new_kek=2, new_wrapped=b"w1b")
    assert store.keys.count_below(2) == 0
    assert store.keys.destroy(P1, kek_version=2, now="e1") == 2
    assert store.keys.destroy(P2, kek_version=2, now="e2") == 0  # a tombstone all the same
    assert store.keys.state(P1) is not None and store.keys.state(P1).erased == "e1"  # type: ignore[union-attr]
    assert store.keys.state(P2) is not None and not store.keys.state(P2).has_key  # type: ignore[union-attr]
    assert store.keys.destroy(P1, kek_version=2, now="later") == 0
    assert store.keys.state(P1).erased == "e1"  # type: ignore[union-attr]


def test_records_in_the_same_order_on_every_backend(store: Store) -> None:
    # byte order, whatever the database's collation ("_" sorts before lower-case letters)
    store.profiles.upsert(P1, [("zip", b"1"), ("a_b", b"2"), ("ab", b"3"), ("B", b"4")], "u")
    assert [f for f, _ in store.profiles.fields(P1)] == ["B", "a_b", "ab", "zip"]
    store.profiles.compare_and_set([(P1, "ab", b"new", b"wrong"), (P1, "zip", b"z2", b"1")])
    assert dict(store.profiles.fields(P1))["zip"] == b"z2"
    assert dict(store.profiles.fields(P1))["ab"] == b"3"
    store.events.insert("e2", P1, "view", "analytics", "2026-01-02", b"\x01\x00\x00\x00\x02x")
    store.events.insert("e1", P1, "buy", "profiling", "2026-01-02", b"\x01\x00\x00\x00\x01x")
    assert [e[0] for e in store.events.of_subject(P1)] == ["e1", "e2"]
    assert [e[0] for e in store.events.of_subject(P1, kind="view")] == ["e2"]
    assert [e[0] for e in store.events.of_subject(P1, purpose="profiling")] == ["e1"]
    store.blind_index.upsert([("email", P2, b"t"), ("email", P1, b"t"), ("email", "c" * 32, b"u")])
    assert store.blind_index.find("email", b"t") == [P1, P2]
    store.blind_index.rebuild("email", [(P2, b"v")])
    assert store.blind_index.find("email", b"t") == [] and store.blind_index.find("email", b"v")
    store.protected.put([(P1, "sex", b"x", "u"), (P2, "sex", b"y", "u")])
    assert store.protected.names() == {"sex"}
    store.models.insert("m", 1, "classifier", "h1", b"trees", "{}")
    with pytest.raises(StoreError):
        store.models.insert("m", 1, "classifier", "h1", b"trees", "{}")
    assert store.models.latest_version("m") == 1 and store.models.get("m", 1) == (
        "h1", b"trees", "{}",
    )
    store.meta.set("x_1", "a")
    store.meta.set("xa1", "b")
    store.meta.set_default("x_1", "ignored")
    assert store.meta.with_prefix("x_") == [("x_1", "a")]


def test_a_transaction_commits_all_aggregates_or_none(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.keys.create(P1, 1, b"w", "c")
        tx.profiles.upsert(P1, [("f", b"v")], "u")
        assert tx.profiles.fields(P1) == [("f", b"v")]  # sees its own writes
        raise RuntimeError("abort")
    assert store.keys.current(P1) is None and store.profiles.fields(P1) == []
    with store.transaction() as tx:
        tx.keys.create(P1, 1, b"w", "c")
        tx.profiles.upsert(P1, [("f", b"v")], "u")
    assert store.profiles.of_live_subjects("f") == [(P1, b"v")]
