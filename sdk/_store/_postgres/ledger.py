"""The PostgreSQL ledger writer: one hash chain, serialized across every process and host.

Every append transaction first takes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``, one fixed key per database), then re-reads the chain's tail *in a
later statement* (so with a snapshot taken after the lock was granted: another app instance may
have appended since this process last looked). The lock is released by COMMIT or ROLLBACK, so a
writer that dies (kill -9, lost network) releases it as soon as the server sees the connection
close; no lease or timeout logic is needed.

Within one process the ledger's leader-based group commit (:mod:`sdk.ledger.log`) batches
concurrent appenders into one such transaction, so the lock and the commit's WAL flush are paid
once per batch, not once per entry. Round trips are what a lock holder waits for, so they are
few: BEGIN, the lock and the tail go in one round trip, the batch's rows (as arrays), its leaves
and the signed head and checkpoint in one statement, then COMMIT and the flush (below) in a third.

The lock is not held while the commit's WAL is flushed: the append transaction commits with
``synchronous_commit = off`` (COMMIT returns, and releases the lock, at once), then a one-line
transaction that has an xid commits synchronously, which returns only once the WAL is durable
past it, and so past the append. Only then is the batch acknowledged. Meanwhile the next writer
(another process) already holds the lock, and the server shares one flush among all waiting
writers. The price: for those few milliseconds other readers can see entries that a crash of
the *server* would still lose (never acknowledged ones, and any built on them, which come later
in the WAL and are lost with them, so the chain stays a prefix).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...errors import StoreUnavailable
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
from .database import PgDatabase

if TYPE_CHECKING:
    import psycopg

__all__ = ["LEDGER_LOCK_KEY", "PgLedger", "PgLedgerTx", "ledger_transaction"]

LEDGER_LOCK_KEY = 0x77_68_79_6C_65_6E_73  # "whylens": one chain per database, one lock
_HEAD, _CHECKPOINT = "ledger_head", "ledger_checkpoint"
# one simple-protocol round trip: BEGIN, the lock, then (a later statement, so a snapshot taken
# after the lock was granted) the tail and the signed head and checkpoint
_BEGIN_LOCKED = (
    f"BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY}); "
    "SELECT t.seq, t.hash, t.ts, "
    f"(SELECT value FROM whylens_meta WHERE key = '{_HEAD}'), "
    f"(SELECT value FROM whylens_meta WHERE key = '{_CHECKPOINT}') "
    "FROM (SELECT 1) AS one LEFT JOIN "
    "(SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1) AS t ON true"
)
_TAIL = "SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1"
_COMMIT_AND_FLUSH = "COMMIT; BEGIN; SELECT pg_current_xact_id(); COMMIT"
_FLUSH = "BEGIN; SELECT pg_current_xact_id(); COMMIT"
# the whole batch in one statement. A leaf computed for an old entry (a database written before
# leaves were stored) may already exist: DO NOTHING, never an UPDATE (the trigger forbids it)
_WRITE = (
    "WITH e AS (INSERT INTO ledger (seq, stream, kind, subject, ts, body, prev_hash, hash) "
    "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::bytea[], %s::bytea[], %s::bytea[])), "
    "l AS (INSERT INTO ledger_leaves (seq, leaf) SELECT * FROM unnest(%s::bigint[], %s::bytea[]) "
    "ON CONFLICT (seq) DO NOTHING), "
    "m AS (INSERT INTO whylens_meta (key, value) SELECT * FROM unnest(%s::text[], %s::text[]) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value) "
    "SELECT 1"
)

Row = tuple[Any, ...]


class PgLedgerTx:
    """What an append does inside its locked transaction. Writes are sent at commit."""

    def __init__(self, conn: psycopg.Connection[Any], tail: Row | None, metas: dict[str, str]):
        self.conn = conn
        self._tail = tail
        self._metas = metas
        self._entries: list[Row] = []
        self._leaves: list[tuple[int, bytes]] = []
        self._set: dict[str, str] = {}

    def tail(self) -> Row | None:
        """``(seq, hash, ts)`` of the last stored entry, read under the lock; None if empty."""
        return self._tail

    def meta(self, key: str) -> str | None:
        """A ``whylens_meta`` value as of the lock (the head and checkpoint are prefetched)."""
        if key in self._set:
            return self._set[key]
        if key in (_HEAD, _CHECKPOINT):
            return self._metas.get(key)
        row = self.conn.execute("SELECT value FROM whylens_meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Any read inside the transaction (catching the Merkle tree up, for one)."""
        return self.conn.execute(sql, params).fetchall()

    def insert_entries(self, rows: Sequence[Row]) -> None:
        """New entries: ``(seq, stream, kind, subject, ts, body, prev_hash, hash)``."""
        self._entries.extend(rows)

    def insert_leaves(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Merkle leaf hashes: ``(seq, leaf)``."""
        self._leaves.extend(rows)

    def set_meta(self, key: str, value: str) -> None:
        """The signed head and checkpoint, committed with the rows they seal."""
        self._set[key] = value

    def _send_writes(self) -> None:
        entries = [list(col) for col in zip(*self._entries, strict=True)] or [[]] * 8
        leaves = [list(col) for col in zip(*self._leaves, strict=True)] or [[]] * 2
        self.conn.execute(_WRITE, [*entries, *leaves, list(self._set), list(self._set.values())])


@contextmanager
def ledger_transaction(db: PgDatabase, *, durable: bool = True) -> Iterator[PgLedgerTx]:
    """One append transaction holding the database's ledger lock until it commits.

    The block computes the batch from :meth:`PgLedgerTx.tail` and queues its writes; they are
    sent with COMMIT when the block ends; with ``durable`` (the default) it returns only once the
    WAL is flushed past them (``durable=False``: durability NORMAL, the server flushes within
    ``wal_writer_delay``). Raises :class:`StoreUnavailable` when the commit's
    outcome is unknown or failed; then nothing of the batch may be reported as written.
    """
    import psycopg
    from psycopg.pq import TransactionStatus

    with db.connection() as conn:
        committed = False
        try:
            cur = conn.execute(_BEGIN_LOCKED)
            while cur.nextset():
                pass  # the last result set is the tail's
            seq, digest, ts, head, checkpoint = cur.fetchone() or (None,) * 5
            metas = {k: v for k, v in ((_HEAD, head), (_CHECKPOINT, checkpoint)) if v is not None}
            ltx = PgLedgerTx(conn, None if seq is None else (seq, digest, ts), metas)
            yield ltx
            ltx._send_writes()
            committed = True  # from here on the outcome may be unknown
            # COMMIT releases the lock without waiting for the WAL flush; then, in the same round
            # trip, durable before acknowledged: a transaction with an xid commits synchronously,
            # so it returns once the WAL is flushed past its commit record, and so past ours (the
            # flushes of concurrent writers, in any process, are shared by the server)
            conn.execute(_COMMIT_AND_FLUSH if durable else "COMMIT")
        except psycopg.Error as exc:
            outcome = (
                "it may have been written, but is not known to be durable"
                if committed
                else "nothing was written"
            )
            raise StoreUnavailable(
                f"the ledger append on {db.describe()} failed ({outcome}): "
                f"{db.target.scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"
            ) from None
        finally:
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    conn.close()  # unusable: the pool replaces it


_LEAVES = (
    "SELECT seq, leaf FROM ledger_leaves WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
)
_LEAVES_OR_BODIES = (
    "SELECT l.seq, t.leaf, CASE WHEN t.leaf IS NULL THEN l.body END "
    "FROM ledger l LEFT JOIN ledger_leaves t ON t.seq = l.seq "
    "WHERE l.seq > %s AND l.seq <= %s ORDER BY l.seq LIMIT %s"
)
_HAS_ENTRY = (
    "SELECT 1 FROM ledger WHERE subject = %s AND seq > %s AND kind = %s LIMIT 1"
)
_ENTRY_COLUMNS = "SELECT seq, stream, kind, subject, ts, body, hash FROM ledger "
_RAW = (
    "SELECT seq, stream, kind, subject, ts, prev_hash, hash, body FROM ledger "
    "WHERE seq > %s ORDER BY seq LIMIT %s"
)
_WITH_LEAVES = (
    "SELECT l.seq, l.stream, l.kind, l.subject, l.ts, l.body, l.prev_hash, l.hash, t.leaf "
    "FROM ledger l LEFT JOIN ledger_leaves t ON t.seq = l.seq "
    "WHERE l.seq > %s ORDER BY l.seq LIMIT %s"
)

Query = Callable[[str, Sequence[Any]], list[Row]]


def _tail_of(row: Row | None) -> LedgerTail | None:
    if row is None:
        return None
    seq, digest, ts = row
    return LedgerTail(
        int(seq), bytes(digest) if digest is not None else b"", ts if isinstance(ts, str) else ""
    )


class _Reads:
    """:class:`~sdk._store.abc.LedgerReads` over a query function (pool or transaction)."""

    def __init__(self, query: Query) -> None:
        self._q = query

    def tail(self) -> LedgerTail | None:
        rows = self._q(_TAIL, ())
        return _tail_of(rows[0] if rows else None)

    def meta(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM whylens_meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def leaves(self, after: int, upto: int, limit: int) -> list[tuple[int, bytes]]:
        return [(int(s), bytes(x)) for s, x in self._q(_LEAVES, (after, upto, limit))]

    def leaves_or_bodies(self, after: int, upto: int, limit: int) -> list[LeafOrBody]:
        return [
            (int(s), None if x is None else bytes(x), None if b is None else bytes(b))
            for s, x, b in self._q(_LEAVES_OR_BODIES, (after, upto, limit))
        ]

    def has_entry(self, *, subject: str, kind: str, after_seq: int) -> bool:
        return bool(self._q(_HAS_ENTRY, (subject, after_seq, kind)))


class _LockedReads(_Reads):
    """Reads inside the locked append: the tail, head and checkpoint come from the lock's own
    round trip."""

    def __init__(self, ltx: PgLedgerTx) -> None:
        super().__init__(ltx.read)
        self._ltx = ltx

    def tail(self) -> LedgerTail | None:
        return _tail_of(self._ltx.tail())

    def meta(self, key: str) -> str | None:
        return self._ltx.meta(key)


class PgLedger(_Reads):
    """:class:`~sdk._store.abc.LedgerStorage` on PostgreSQL."""

    def __init__(self, db: PgDatabase, *, durable: bool = True) -> None:
        super().__init__(db.query)
        self._db = db
        self._durable = durable

    def append(
        self, build: Callable[[LedgerReads], LedgerBatch], *, durable: bool = True
    ) -> LedgerBatch:
        with ledger_transaction(self._db, durable=self._durable and durable) as ltx:
            batch = build(_LockedReads(ltx))
            ltx.insert_entries(batch.rows)
            ltx.insert_leaves(batch.leaves)
            for key, value in batch.meta.items():
                ltx.set_meta(key, value)
        return batch

    def sync(self) -> None:
        # a transaction with an xid commits synchronously: it returns once the WAL is flushed
        # past it, and so past every commit before it
        with self._db.connection() as conn:
            conn.execute(_FLUSH)

    def count(self, stream: str | None = None) -> int:
        if stream is None:
            row = self._db.query_one("SELECT COUNT(*) FROM ledger")
        else:
            row = self._db.query_one("SELECT COUNT(*) FROM ledger WHERE stream = %s", (stream,))
        return int(row[0]) if row else 0

    def entry(self, seq: int) -> EntryRow | None:
        row = self._db.query_one(_ENTRY_COLUMNS + "WHERE seq = %s", (seq,))
        return None if row is None else _entry(row)

    def entries(
        self,
        *,
        after_seq: int,
        limit: int,
        stream: str | None = None,
        subject: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[EntryRow]:
        where = ["seq > %s"]
        params: list[Any] = [after_seq]
        if stream is not None:
            where.append("stream = %s")
            params.append(stream)
        if subject is not None:
            where.append("subject = %s")
            params.append(subject)
        if kinds is not None:
            where.append("kind = ANY(%s)")
            params.append(sorted(set(kinds)))
        params.append(limit)
        sql = f"{_ENTRY_COLUMNS}WHERE {' AND '.join(where)} ORDER BY seq LIMIT %s"
        return [_entry(r) for r in self._db.query(sql, params)]

    def raw(self, *, after_seq: int, limit: int) -> list[RawRow]:
        return self._db.query(_RAW, (after_seq, limit))

    def with_leaves(self, *, after_seq: int, limit: int) -> list[VerifyRow]:
        return self._db.query(_WITH_LEAVES, (after_seq, limit))

    def read_source(self) -> ReadSource | None:
        return ReadSource("postgres", self._db.target.conninfo(), _WITH_LEAVES, READER)

    def body(self, seq: int) -> bytes | None:
        row = self._db.query_one("SELECT body FROM ledger WHERE seq = %s", (seq,))
        return None if row is None or row[0] is None else bytes(row[0])

    def hash_at(self, seq: int) -> bytes | None:
        row = self._db.query_one("SELECT hash FROM ledger WHERE seq = %s", (seq,))
        return None if row is None or row[0] is None else bytes(row[0])


def _entry(row: Row) -> EntryRow:
    seq, stream, kind, subject, ts, body, digest = row
    return (int(seq), stream, kind, subject, ts, bytes(body), bytes(digest))
