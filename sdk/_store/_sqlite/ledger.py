"""The ledger's rows, leaves, head and checkpoint in SQLite (the hot path: the driver directly).

``append`` takes ``BEGIN IMMEDIATE`` before reading the tail: SQLite's one write lock serializes
every writer of the file, across threads, processes and app instances.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from ..abc import (
    EntryRow,
    LeafOrBody,
    LedgerBatch,
    LedgerReads,
    LedgerTail,
    RawRow,
    ReadSource,
    VerifyRow,
)
from ..segment_reader import READER
from .connection import Connection

__all__ = ["SqliteLedger"]

_INSERT = (
    "INSERT INTO ledger (seq, stream, kind, subject, ts, body, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_LEAF = (
    "INSERT INTO ledger_leaves (seq, leaf) VALUES (?, ?) "
    "ON CONFLICT(seq) DO UPDATE SET leaf = excluded.leaf"
)
_SET_META = (
    "INSERT INTO whylens_meta (key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
_TAIL = "SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1"
_META = "SELECT value FROM whylens_meta WHERE key = ?"
_LEAVES = "SELECT seq, leaf FROM ledger_leaves WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
_LEAVES_OR_BODIES = (
    "SELECT l.seq, t.leaf, CASE WHEN t.leaf IS NULL THEN l.body END "
    "FROM ledger l LEFT JOIN ledger_leaves t ON t.seq = l.seq "
    "WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq LIMIT ?"
)
_HAS_ENTRY = (
    "SELECT 1 FROM ledger WHERE subject = ? AND seq > ? AND kind = ? LIMIT 1"
)
_ENTRY_COLUMNS = "SELECT seq, stream, kind, subject, ts, body, hash FROM ledger "
_RAW = (
    "SELECT seq, stream, kind, subject, ts, prev_hash, hash, body FROM ledger "
    "WHERE seq > ? ORDER BY seq LIMIT ?"
)
_WITH_LEAVES = (
    "SELECT l.seq, l.stream, l.kind, l.subject, l.ts, l.body, l.prev_hash, l.hash, t.leaf "
    "FROM ledger l LEFT JOIN ledger_leaves t ON t.seq = l.seq "
    "WHERE l.seq > ? ORDER BY l.seq LIMIT ?"
)

Query = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class _Reads:
    """:class:`~sdk._store.abc.LedgerReads` over any query function (connection or tx)."""

    def __init__(self, query: Query) -> None:
        self._q = query

    def tail(self) -> LedgerTail | None:
        rows = self._q(_TAIL, ())
        if not rows:
            return None
        seq, digest, ts = rows[0]
        return LedgerTail(
            int(seq),
            digest if isinstance(digest, bytes) else b"",
            ts if isinstance(ts, str) else "",
        )

    def meta(self, key: str) -> str | None:
        rows = self._q(_META, (key,))
        return str(rows[0][0]) if rows else None

    def leaves(self, after: int, upto: int, limit: int) -> list[tuple[int, bytes]]:
        return self._q(_LEAVES, (after, upto, limit))

    def leaves_or_bodies(self, after: int, upto: int, limit: int) -> list[LeafOrBody]:
        return self._q(_LEAVES_OR_BODIES, (after, upto, limit))

    def has_entry(self, *, subject: str, kind: str, after_seq: int) -> bool:
        return bool(self._q(_HAS_ENTRY, (subject, after_seq, kind)))


class SqliteLedger(_Reads):
    """:class:`~sdk._store.abc.LedgerStorage` on a :class:`Connection`."""

    def __init__(self, db: Connection) -> None:
        super().__init__(db.query)
        self._db = db

    def append(
        self, build: Callable[[LedgerReads], LedgerBatch], *, durable: bool = True
    ) -> LedgerBatch:
        with self._db.raw_transaction(durable=durable) as conn:

            def read(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                return conn.execute(sql, params).fetchall()

            batch = build(_Reads(read))
            conn.executemany(_INSERT, batch.rows)
            if batch.leaves:
                conn.executemany(_UPSERT_LEAF, batch.leaves)
            if batch.meta:
                conn.executemany(_SET_META, list(batch.meta.items()))
        return batch

    def sync(self) -> None:
        self._db.sync()

    def count(self, stream: str | None = None) -> int:
        if stream is None:
            row = self._db.query_one("SELECT COUNT(*) FROM ledger")
        else:
            row = self._db.query_one("SELECT COUNT(*) FROM ledger WHERE stream = ?", (stream,))
        return int(row[0]) if row else 0

    def entry(self, seq: int) -> EntryRow | None:
        row = self._db.query_one(_ENTRY_COLUMNS + "WHERE seq = ?", (seq,))
        return row

    def entries(
        self,
        *,
        after_seq: int,
        limit: int,
        stream: str | None = None,
        subject: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[EntryRow]:
        sql = _entries_sql(stream is not None, subject is not None, kinds, limit)
        params: list[Any] = [after_seq]
        if stream is not None:
            params.append(stream)
        if subject is not None:
            params.append(subject)
        if kinds is not None:
            params.extend(sorted(set(kinds)))
        return self._db.query(sql, params)

    def raw(self, *, after_seq: int, limit: int) -> list[RawRow]:
        return self._db.query(_RAW, (after_seq, limit))

    def with_leaves(self, *, after_seq: int, limit: int) -> list[VerifyRow]:
        return self._db.query(_WITH_LEAVES, (after_seq, limit))

    def read_source(self) -> ReadSource | None:
        path = Path(self._db.path)
        if not path.is_file():
            return None
        return ReadSource("sqlite", str(path.resolve()), _WITH_LEAVES, READER)

    def body(self, seq: int) -> bytes | None:
        row = self._db.query_one("SELECT body FROM ledger WHERE seq = ?", (seq,))
        return bytes(row[0]) if row is not None and isinstance(row[0], bytes) else None

    def hash_at(self, seq: int) -> bytes | None:
        row = self._db.query_one("SELECT hash FROM ledger WHERE seq = ?", (seq,))
        return row[0] if row is not None and isinstance(row[0], bytes) else None




@functools.lru_cache(maxsize=256)
def _entries_sql_for(stream: bool, subject: bool, kinds: int, limit: int) -> str:
    where = ["seq > ?"]
    if stream:
        where.append("stream = ?")
    if subject:
        where.append("subject = ?")
    if kinds >= 0:
        where.append(f"kind IN ({', '.join('?' * kinds)})")
    return f"{_ENTRY_COLUMNS}WHERE {' AND '.join(where)} ORDER BY seq LIMIT {int(limit)}"


def _entries_sql(
    stream: bool, subject: bool, kinds: Collection[str] | None, limit: int
) -> str:
    return _entries_sql_for(stream, subject, -1 if kinds is None else len(set(kinds)), limit)
