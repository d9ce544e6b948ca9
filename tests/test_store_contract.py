"""What sdk/_store/abc.py promises, checked on a real store opened from ``store_url`` (so the
backend parametrization runs it against every backend): atomic transactions across aggregates,
compare-and-set key writes, first-writer-wins inserts, the ledger append's atomicity, ordering and
page reads, and a two-process append on one chain."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk._store import open_store
from sdk._store.abc import LedgerBatch, LedgerReads, Store
from sdk.crypto import Keyring
from sdk.errors import StoreError
from sdk.ledger import Ledger
from sdk.ledger.entry import PendingEntry

A = "a" * 32
B = "b" * 32


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def test_a_failed_transaction_writes_nothing_in_any_aggregate(store: Store) -> None:
    store.keys.create(A, 1, b"wrapped-a", "2026-01-01T00:00:00Z")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.profiles.upsert(A, [("city", b"ct")], "2026-01-01T00:00:00Z")
        tx.events.insert("evt_1", A, "page.viewed", "service", "2026-01-01T00:00:00Z", b"ct")
        tx.blind_index.upsert([("email", A, b"tok")])
        tx.keys.destroy(A, kek_version=1, now="2026-01-02T00:00:00Z")
        tx.meta.set("k", "v")
        raise RuntimeError("boom")
    assert store.profiles.fields(A) == []
    assert store.events.of_subject(A) == []
    assert store.blind_index.find("email", b"tok") == []
    assert store.meta.get("k") is None
    state = store.keys.state(A)
    assert state is not None and state.has_key and state.erased is None


def test_reads_in_a_transaction_see_its_writes(store: Store) -> None:
    with store.transaction() as tx:
        tx.profiles.upsert(A, [("b", b"2"), ("a", b"1")], "t")
        assert tx.profiles.fields(A) == [("a", b"1"), ("b", b"2")]
        tx.profiles.upsert(A, [("a", b"3")], "t2")
    assert store.profiles.fields(A) == [("a", b"3"), ("b", b"2")]


def test_key_writes_never_overwrite_and_compare_and_set(store: Store) -> None:
    store.keys.create(A, 1, b"first", "t")
    store.keys.create(A, 2, b"second", "t")  # another writer's key wins: no overwrite
    assert store.keys.current(A) == (1, b"first", None, 1)
    assert not store.keys.rotate(
        A, expected=b"stale", new_kek=1, new_wrapped=b"x", old_version=1, old_kek=1, created="t"
    )
    assert store.keys.rotate(
        A, expected=b"first", new_kek=1, new_wrapped=b"v2", old_version=1, old_kek=1, created="t"
    )
    assert store.keys.current(A) == (1, b"v2", None, 2)
    assert store.keys.old_keys(A, 1) == [(1, 1, b"first")]
    assert store.keys.count_below(2) == 2
    assert store.keys.destroy(A, kek_version=1, now="2026-05-01") == 2
    assert store.keys.destroy(A, kek_version=1, now="2026-06-01") == 0
    assert store.keys.current(A) == (1, None, "2026-05-01", 1)  # the first erasure time stays
    assert store.keys.destroy(B, kek_version=1, now="2026-05-02") == 0  # tombstone, no key
    state = store.keys.state(B)
    assert state is not None and not state.has_key and state.erased == "2026-05-02"
    store.keys.create(B, 1, b"late", "t")  # a tombstone is never replaced by a new key
    assert store.keys.current(B) == (1, None, "2026-05-02", 1)


def test_rewrap_pages_and_compare_and_set(store: Store) -> None:
    pseudos = [f"{i:032x}" for i in range(5)]
    for p in pseudos:
        store.keys.create(p, 1, b"w" + p.encode(), "t")
    page = store.keys.current_below(2, ("", 0), 3)
    assert [r[0] for r in page] == pseudos[:3]
    assert [r[0] for r in store.keys.current_below(2, (page[-1][0], page[-1][1]), 3)] == pseudos[
        3:
    ]
    assert store.keys.rewrap_current(pseudos[0], expected=page[0][3], new_kek=2, new_wrapped=b"n")
    assert not store.keys.rewrap_current(
        pseudos[0], expected=page[0][3], new_kek=2, new_wrapped=b"m"
    )
    assert store.keys.count_below(2) == 4


def test_meta_prefix_is_literal_and_first_writer_wins(store: Store) -> None:
    store.meta.set("blind_index.email", "1")
    store.meta.set("blindXindex.phone", "2")  # "_" would match any character in LIKE
    assert store.meta.with_prefix("blind_index.") == [("blind_index.email", "1")]
    store.meta.set_default("provider", "keyring")
    store.meta.set_default("provider", "kms")
    assert store.meta.get("provider") == "keyring"
    assert store.meta.get("format") == "whylens"


def test_blind_index_and_events_and_protected(store: Store) -> None:
    store.blind_index.upsert([("email", B, b"t1"), ("email", A, b"t1"), ("phone", A, b"t2")])
    assert store.blind_index.find("email", b"t1") == [A, B]
    store.blind_index.rebuild("email", [(A, b"t9")])
    assert store.blind_index.find("email", b"t1") == []
    assert store.blind_index.delete_subject(A) == 2
    store.events.insert("e2", A, "k", "service", "2026-01-02", b"\x01\x01\x00\x00\x00\x01x")
    store.events.insert("e1", A, "k", "analytics", "2026-01-01", b"\x01\x01\x00\x00\x00\x02x")
    assert [e[0] for e in store.events.of_subject(A)] == ["e1", "e2"]
    assert [e[0] for e in store.events.of_subject(A, purpose="service")] == ["e2"]
    # stale: not under the current header, and at or above the minimum version
    assert [e[0] for e in store.events.stale(A, b"\x01\x01\x00\x00\x00\x02", 1, 10)] == ["e2"]
    assert store.events.stale(A, b"\x01\x01\x00\x00\x00\x03", 2, 10)[0][0] == "e1"
    store.protected.put([(A, "gender", b"c1", "t"), (B, "gender", b"c2", "t")])
    store.protected.put([(A, "gender", b"c3", "t2")])  # replaces
    assert sorted(store.protected.values("gender")) == [(A, b"c3"), (B, b"c2")]
    assert store.protected.names() == {"gender"}


def test_a_model_version_is_written_once(store: Store) -> None:
    store.models.insert("credit", 1, "classifier", "h", b"trees", '{"card": {}}')
    assert store.models.latest_version("credit") == 1
    with pytest.raises(StoreError):
        store.models.insert("credit", 1, "classifier", "h2", b"other", "{}")
    assert store.models.get("credit", 1) == ("h", b"trees", '{"card": {}}')
    assert store.models.latest_version("nope") is None


def test_a_ledger_append_whose_build_fails_writes_nothing(store: Store) -> None:
    def build(read: LedgerReads) -> LedgerBatch:
        assert read.tail() is None
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        store.ledger.append(build)
    assert store.ledger.tail() is None and store.ledger.count() == 0


def test_ledger_pages_by_seq_and_filters(store: Store, tmp_path: Path) -> None:
    ledger = Ledger(store, mac_key=b"k" * 32, signer=Keyring.create(tmp_path / "r.json"))
    ledger.append_many(
        [PendingEntry("consent", "consent.grant", {"i": i}, A if i % 2 else B) for i in range(1203)]
    )
    rows = store.ledger.entries(after_seq=100, limit=50, subject=A, kinds=["consent.grant"])
    assert len(rows) == 50 and rows[0][0] == 102 and all(r[3] == A for r in rows)
    assert [r[0] for r in store.ledger.raw(after_seq=1200, limit=10)] == [1201, 1202, 1203]
    assert sum(1 for _ in ledger.entries(subject=B)) == 602
    assert store.ledger.count("consent") == 1203
    tail = store.ledger.tail()
    assert tail is not None and tail.seq == 1203 == ledger.size
    assert ledger.verify().ok


def _append_many_times(url: str, ring: str, n: int) -> int:
    store = open_store(url)
    try:
        ledger = Ledger(store, mac_key=b"k" * 32, signer=Keyring.load(ring))
        for i in range(n):
            ledger.append("consent", "consent.grant", {"i": i})
        return ledger.size
    finally:
        store.close()


def test_two_processes_append_to_one_chain(store_url: str, tmp_path: Path) -> None:
    ring = tmp_path / "r.json"
    Keyring.create(ring)
    open_store(store_url).close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.starmap(_append_many_times, [(store_url, str(ring), 150)] * 2)
    store = open_store(store_url)
    try:
        ledger = Ledger(store, mac_key=b"k" * 32, signer=Keyring.load(ring))
        assert ledger.size == 300
        assert [e.seq for e in ledger.entries()] == list(range(1, 301))
        assert ledger.verify().ok
    finally:
        store.close()
