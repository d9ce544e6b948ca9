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
and the signed head and checkpoint in one statement, then COMMIT.

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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...errors import StoreUnavailable
from .database import PgDatabase

if TYPE_CHECKING:
    import psycopg

__all__ = ["LEDGER_LOCK_KEY", "PgLedgerTx", "ledger_transaction"]

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
def ledger_transaction(db: PgDatabase) -> Iterator[PgLedgerTx]:
    """One append transaction holding the database's ledger lock until it commits.

    The block computes the batch from :meth:`PgLedgerTx.tail` and queues its writes; they are
    sent with COMMIT when the block ends. Raises :class:`StoreUnavailable` when the commit's
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
            conn.execute("COMMIT")  # releases the lock without waiting for the WAL flush
            committed = True
            # durable before acknowledged: a transaction with an xid commits synchronously, so it
            # returns once the WAL is flushed past its commit record, and so past ours; the
            # flushes of concurrent writers (in any process) are shared by the server
            conn.execute(_FLUSH)
        except psycopg.Error as exc:
            outcome = (
                "it may have been written but is not known to be durable"
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
