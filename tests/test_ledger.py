"""The ledger: append/read, the hash chain, tamper detection, validation, group commit."""

from __future__ import annotations

import hashlib
import itertools
import math
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdk.ledger.log as ledger_log
from sdk._canonical import canonical_json
from sdk.errors import ConfigurationError, LedgerError, LedgerIntegrityError
from sdk.ledger import GENESIS_HASH, Ledger, LedgerEntry, PendingEntry
from sdk.ledger.entry import encode_body, format_ts, prepare
from sdk.ledger.verify import encode_head
from sdk.store import Database, Durability

KEY = b"k" * 32
SUBJ = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def ledger(db: Database) -> Ledger:
    return Ledger(db, mac_key=KEY)


def raw(db: Database) -> sqlite3.Connection:
    """A second, plain sqlite3 connection: how an attacker with file access edits the ledger."""
    return sqlite3.connect(db.path, isolation_level=None)


def fill(ledger: Ledger, n: int) -> list[LedgerEntry]:
    return [
        ledger.append("audit" if i % 2 else "consent", "decision", {"i": i}, subject=SUBJ)
        for i in range(n)
    ]


def row_count(db: Database) -> int:
    row = db.query_one("SELECT COUNT(*) FROM ledger")
    assert row is not None
    return int(row[0])


# -- round trip and chain ------------------------------------------------------------------------


def test_append_and_read_round_trip(ledger: Ledger) -> None:
    e = ledger.append(
        "consent",
        "consent.grant",
        {"purposes": ("ads", "email"), "w": 1.0, "n": None},
        subject=SUBJ,
    )
    assert e.seq == 1
    assert (e.stream, e.kind, e.subject) == ("consent", "consent.grant", SUBJ)
    assert e.ts.tzinfo is UTC or e.ts.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - e.ts) < timedelta(minutes=1)
    # data comes back as what the canonical JSON holds: tuples are lists, 1.0 is 1
    assert e.data == {"purposes": ["ads", "email"], "w": 1, "n": None}
    assert ledger.get(1) == e
    assert list(ledger.entries()) == [e]
    assert ledger.size == 1
    assert ledger.head_hash == e.hash
    assert ledger.entry_count() == 1
    assert ledger.entry_count("audit") == 0


def test_chain_links_and_body_bytes(ledger: Ledger, db: Database) -> None:
    entries = fill(ledger, 5)
    assert entries[0].prev_hash == GENESIS_HASH
    for a, b in itertools.pairwise(entries):
        assert b.prev_hash == a.hash
        assert b.seq == a.seq + 1
        assert b.ts >= a.ts
    for seq, body, prev, digest, ts in db.query(
        "SELECT seq, body, prev_hash, hash, ts FROM ledger ORDER BY seq"
    ):
        e = entries[seq - 1]
        assert hashlib.sha256(body).hexdigest() == e.hash == digest.hex()
        assert prev.hex() == e.prev_hash
        assert ts == format_ts(e.ts)
        assert body == canonical_json(
            {
                "v": 1,
                "seq": e.seq,
                "stream": e.stream,
                "kind": e.kind,
                "subject": e.subject,
                "ts": ts,
                "data": e.data,
                "prev": e.prev_hash,
            }
        )


def test_verify_ok(ledger: Ledger) -> None:
    assert ledger.verify().ok  # empty
    entries = fill(ledger, 30)
    report = ledger.verify()
    assert report.ok, report.problem
    assert report.checked == 30
    assert report.first_bad is None
    assert report.head_hash == entries[-1].hash
    assert ledger.stats.appends == 30
    assert ledger.stats.commits == 30  # single-threaded: one transaction per append


def test_entries_filters_and_paging(ledger: Ledger) -> None:
    other = "f" * 32
    items = [
        PendingEntry(
            "audit",
            "decision" if i % 3 else "review.override",
            {"i": i},
            subject=SUBJ if i % 2 else other,
        )
        for i in range(1200)
    ]
    ledger.append_many(items)
    ledger.append("consent", "consent.grant", {"p": 1}, subject=SUBJ)
    assert [e.seq for e in ledger.entries()] == list(range(1, 1202))
    assert [e.seq for e in ledger.entries(after_seq=1190)] == list(range(1191, 1202))
    assert [e.seq for e in ledger.entries(stream="consent")] == [1201]
    mine = list(ledger.entries(stream="audit", subject=SUBJ))
    assert len(mine) == 600 and all(e.subject == SUBJ for e in mine)
    overrides = list(ledger.entries(kinds={"review.override"}))
    assert [e.data["i"] for e in overrides] == list(range(0, 1200, 3))
    assert list(ledger.entries(kinds=[])) == []
    with pytest.raises(LedgerError):
        list(ledger.entries(kinds="decision"))
    assert ledger.entry_count("audit") == 1200
    with pytest.raises(LedgerError, match="no ledger entry 5000"):
        ledger.get(5000)


# -- tampering -----------------------------------------------------------------------------------


def test_flipped_byte_names_the_entry(ledger: Ledger, db: Database) -> None:
    fill(ledger, 30)
    conn = raw(db)
    (body,) = conn.execute("SELECT body FROM ledger WHERE seq = 17").fetchone()
    i = body.index(b'"i":') + 4
    altered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
    conn.execute("UPDATE ledger SET body = ? WHERE seq = 17", (altered,))
    conn.close()
    report = ledger.verify()
    assert not report.ok
    assert report.first_bad == 17
    assert report.problem is not None
    assert "entry 17" in report.problem and "altered" in report.problem
    with pytest.raises(LedgerIntegrityError, match="17"):
        list(ledger.entries())


def test_rewritten_entry_with_recomputed_hash_breaks_the_next_link(
    ledger: Ledger, db: Database
) -> None:
    entries = fill(ledger, 10)
    e = entries[4]
    body = encode_body(
        seq=e.seq,
        stream=e.stream,
        kind=e.kind,
        subject=e.subject,
        ts=format_ts(e.ts),
        data_bytes=canonical_json({"i": 999}),
        prev=e.prev_hash,
    )
    conn = raw(db)
    conn.execute(
        "UPDATE ledger SET body = ?, hash = ? WHERE seq = 5",
        (body, hashlib.sha256(body).digest()),
    )
    report = ledger.verify()
    # the cached Merkle leaf still commits to the original bytes: the altered entry is named
    assert not report.ok and report.first_bad == 5
    assert "Merkle leaf" in (report.problem or "")
    # an attacker who also rewrites the leaf cache still breaks the link to the next entry
    conn.execute(
        "UPDATE ledger_leaves SET leaf = ? WHERE seq = 5",
        (hashlib.sha256(b"\x00" + body).digest(),),
    )
    conn.close()
    report = ledger.verify()
    assert not report.ok and report.first_bad == 6


def test_deleted_last_row_is_detected(ledger: Ledger, db: Database) -> None:
    fill(ledger, 10)
    conn = raw(db)
    conn.execute("DELETE FROM ledger WHERE seq = 10")
    conn.close()
    report = ledger.verify()
    assert not report.ok
    assert report.first_bad is None
    assert report.problem is not None and "removed from the end" in report.problem
    # appending would seal the cut under a new valid head: refused, nothing written
    with pytest.raises(LedgerIntegrityError, match="removed"):
        ledger.append("audit", "decision", {})
    assert row_count(db) == 9
    # a fresh Ledger on the damaged file opens fine and reports the same
    again = Ledger(db, mac_key=KEY)
    assert again.verify().first_bad is None and not again.verify().ok


def test_deleted_middle_row_is_detected(ledger: Ledger, db: Database) -> None:
    fill(ledger, 10)
    conn = raw(db)
    conn.execute("DELETE FROM ledger WHERE seq = 4")
    conn.close()
    report = ledger.verify()
    assert not report.ok and report.first_bad == 4
    assert report.problem is not None and "missing" in report.problem


def test_head_changed_without_the_key_is_detected(ledger: Ledger, db: Database) -> None:
    entries = fill(ledger, 10)
    # cut the last two entries and write a head that matches the cut chain, but without the key
    conn = raw(db)
    conn.execute("DELETE FROM ledger WHERE seq > 8")
    forged = encode_head(b"not-the-key-" * 3, 8, entries[7].hash)
    conn.execute("UPDATE whylens_meta SET value = ? WHERE key = 'ledger_head'", (forged,))
    conn.close()
    reopened = Ledger(db, mac_key=KEY)  # must not raise
    report = reopened.verify()
    assert not report.ok
    assert report.first_bad is None
    assert report.problem is not None and "without the key" in report.problem
    with pytest.raises(LedgerIntegrityError):
        reopened.append("audit", "decision", {})


def test_head_deleted_or_garbled_is_detected(ledger: Ledger, db: Database) -> None:
    fill(ledger, 3)
    conn = raw(db)
    conn.execute("UPDATE whylens_meta SET value = 'xx' WHERE key = 'ledger_head'")
    assert "unreadable" in (Ledger(db, mac_key=KEY).verify().problem or "")
    conn.execute("DELETE FROM whylens_meta WHERE key = 'ledger_head'")
    conn.close()
    report = Ledger(db, mac_key=KEY).verify()
    assert not report.ok and "missing" in (report.problem or "")


def test_wrong_key_is_reported_not_raised(ledger: Ledger, db: Database) -> None:
    fill(ledger, 3)
    other = Ledger(db, mac_key=b"x" * 32)
    assert not other.verify().ok
    assert len(list(other.entries())) == 3  # still readable


def test_rows_added_without_the_key_are_detected(ledger: Ledger, db: Database) -> None:
    entries = fill(ledger, 5)
    last = entries[-1]
    body = encode_body(
        seq=6,
        stream="audit",
        kind="review.override",
        subject=None,
        ts=format_ts(last.ts),
        data_bytes=canonical_json({"outcome": "approve"}),
        prev=last.hash,
    )
    conn = raw(db)
    conn.execute(
        "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            6,
            "audit",
            "review.override",
            None,
            format_ts(last.ts),
            body,
            bytes.fromhex(last.hash),
            hashlib.sha256(body).digest(),
        ),
    )
    conn.close()
    report = ledger.verify()
    assert not report.ok
    assert report.first_bad == 6
    assert report.problem is not None and "without the ledger key" in report.problem


def test_column_disagreeing_with_body_is_detected(ledger: Ledger, db: Database) -> None:
    fill(ledger, 5)
    conn = raw(db)
    conn.execute("UPDATE ledger SET subject = ? WHERE seq = 3", ("e" * 32,))
    conn.close()
    report = ledger.verify()
    assert not report.ok and report.first_bad == 3
    assert "subject column" in (report.problem or "")


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "kind", "data", "subject", "needle"),
    [
        ("Audit", "decision", {}, None, "stream"),
        ("audit", "decision!", {}, None, "kind"),
        ("audit", "decision", {}, "alice@example.com", "pseudonym"),
        ("audit", "decision", ["alice@example.com"], None, "mapping"),
        ("audit", "decision", {"a": {"b": [1, math.nan]}}, None, "data['a']['b'][1]"),
        ("audit", "decision", {"score": math.inf}, None, "data['score']"),
        ("audit", "decision", {"a": {1: "alice@example.com"}}, None, "keys must be strings"),
        ("audit", "decision", {"tags": {"alice@example.com"}}, None, "data['tags']"),
        ("audit", "decision", {"big": 2**60}, None, "data['big']"),
        ("audit", "decision", {"t": datetime.now(UTC)}, None, "data['t']"),
        ("audit", "decision", {"s": "alice\ud800"}, None, "data['s']"),
    ],
)
def test_invalid_input_raises_and_writes_nothing(
    ledger: Ledger,
    db: Database,
    stream: str,
    kind: str,
    data: Any,
    subject: str | None,
    needle: str,
) -> None:
    ledger.append("audit", "decision", {"ok": True})
    with pytest.raises(LedgerError) as info:
        ledger.append(stream, kind, data, subject=subject)
    message = str(info.value)
    assert needle in message
    assert "alice" not in message and "example.com" not in message
    assert row_count(db) == 1
    assert ledger.stats.appends == 1
    assert ledger.verify().ok


def test_bad_key_is_a_configuration_error(db: Database) -> None:
    with pytest.raises(ConfigurationError):
        Ledger(db, mac_key=b"short")


def test_append_many_is_atomic(ledger: Ledger, db: Database) -> None:
    good = [PendingEntry("audit", "decision", {"i": i}, subject=SUBJ) for i in range(3)]
    bad = PendingEntry("audit", "decision", {"x": math.nan})
    with pytest.raises(LedgerError, match="item 2"):
        ledger.append_many([*good[:2], bad, good[2]])
    assert row_count(db) == 0
    assert ledger.append_many([]) == []
    out = ledger.append_many(good)
    assert [e.seq for e in out] == [1, 2, 3]
    assert ledger.stats.commits == 1 and ledger.stats.appends == 3
    assert list(ledger.entries()) == out


def test_failed_commit_writes_nothing(ledger: Ledger, db: Database) -> None:
    fill(ledger, 2)
    conn = raw(db)
    conn.execute("DELETE FROM ledger WHERE seq = 2")
    conn.close()
    with pytest.raises(LedgerIntegrityError):
        ledger.append_many([PendingEntry("audit", "decision", {})] * 3)
    assert row_count(db) == 1


# -- concurrency, durability, reopening ----------------------------------------------------------


def test_concurrent_appends_share_commits(ledger: Ledger) -> None:
    threads, per_thread = 8, 200
    results: list[list[LedgerEntry]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                results[t].append(ledger.append("audit", "decision", {"t": t, "i": i}))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors
    total = threads * per_thread
    seqs = sorted(e.seq for r in results for e in r)
    assert seqs == list(range(1, total + 1))
    for t, r in enumerate(results):
        assert [e.data for e in r] == [{"t": t, "i": i} for i in range(per_thread)]
        assert [e.seq for e in r] == sorted(e.seq for e in r)  # each thread's order kept
    report = ledger.verify()
    assert report.ok, report.problem
    assert report.checked == total
    assert ledger.stats.appends == total
    assert ledger.stats.commits < total
    stored = list(ledger.entries())
    by_seq = {e.seq: e for r in results for e in r}
    assert all(by_seq[e.seq] == e for e in stored)


def test_reopen_and_continue(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = Database.open(path, durability=Durability.NORMAL)
    first = fill(Ledger(db, mac_key=KEY), 4)
    db.close()
    db = Database.open(path)
    ledger = Ledger(db, mac_key=KEY)
    assert ledger.size == 4 and ledger.head_hash == first[-1].hash
    e = ledger.append("subjects", "subject.erase", {}, subject=SUBJ)
    assert e.seq == 5 and e.prev_hash == first[-1].hash and e.ts >= first[-1].ts
    assert ledger.verify().ok
    db.close()


def test_two_ledgers_on_one_database_keep_one_chain(db: Database) -> None:
    a, b = Ledger(db, mac_key=KEY), Ledger(db, mac_key=KEY)
    for i in range(6):
        (a if i % 2 else b).append("audit", "decision", {"i": i})
    assert [e.data["i"] for e in a.entries()] == list(range(6))
    assert a.verify().ok


def test_timestamps_never_go_backwards(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ledger.append("audit", "decision", {})

    class Past(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Past:
            return cls(2000, 1, 1, tzinfo=UTC)

    monkeypatch.setattr(ledger_log, "datetime", Past)
    second = ledger.append("audit", "decision", {})
    assert second.ts == first.ts
    assert ledger.verify().ok


# -- property ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.dictionaries(st.text(max_size=6), json_values, max_size=5),
    seq=st.integers(1, 2**40),
    subject=st.none() | st.text("0123456789abcdef", min_size=1, max_size=64),
)
def test_body_encoding_is_canonical_json(
    data: dict[str, Any], seq: int, subject: str | None
) -> None:
    item = prepare("consent", "consent.grant", data, subject)
    ts = "2024-05-01T12:00:00.123456Z"
    body = encode_body(
        seq=seq,
        stream="consent",
        kind="consent.grant",
        subject=subject,
        ts=ts,
        data_bytes=item.data_bytes,
        prev="ab" * 32,
    )
    expected = canonical_json(
        {
            "v": 1,
            "seq": seq,
            "stream": "consent",
            "kind": "consent.grant",
            "subject": subject,
            "ts": ts,
            "data": data,
            "prev": "ab" * 32,
        }
    )
    assert body == expected
    assert canonical_json(item.data) == canonical_json(data)


def test_every_appender_of_a_failed_batch_gets_the_error(ledger: Ledger, db: Database) -> None:
    fill(ledger, 3)
    conn = raw(db)
    conn.execute("DELETE FROM ledger WHERE seq = 3")
    conn.close()
    caught: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(20):
            try:
                ledger.append("audit", "decision", {})
            except LedgerError as exc:
                with lock:
                    caught.append(exc)

    pool = [threading.Thread(target=work) for _ in range(8)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert len(caught) == 160
    assert all(isinstance(e, LedgerIntegrityError) for e in caught)
    assert row_count(db) == 2


def test_verify_while_appending(ledger: Ledger) -> None:
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            ledger.append("audit", "decision", {"i": i})
            i += 1

    th = threading.Thread(target=writer)
    th.start()
    try:
        reports = [ledger.verify() for _ in range(20)]
    finally:
        stop.set()
        th.join()
    assert all(r.ok for r in reports), [r.problem for r in reports if not r.ok]
    assert ledger.verify().checked == ledger.size
