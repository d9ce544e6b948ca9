"""The PostgreSQL ledger writer: one hash chain, serialized across every process and host.

Every append transaction first takes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``, one fixed key per database), then re-reads the chain's tail *inside*
the lock, because another app instance may have appended since this process last looked. The
lock is released by COMMIT or ROLLBACK, so a writer that dies (kill -9, lost network) releases it
when the server notices the closed connection; no lease or timeout logic is needed.

Within one process the ledger's leader-based group commit (:mod:`sdk.ledger.log`) batches
concurrent appenders into one such transaction, so the lock (and the commit's WAL flush) is paid
once per batch, not once per entry. Entry and leaf rows go in with ``COPY`` (one round trip for
the whole batch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .database import PgDatabase, PgTx

__all__ = ["LEDGER_LOCK_KEY", "PgLedgerTx", "ledger_transaction"]

LEDGER_LOCK_KEY = 0x77_68_79_6C_65_6E_73  # "whylens": one chain per database, one lock
_TAIL = "SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1"
_COPY_ENTRIES = "COPY ledger (seq, stream, kind, subject, ts, body, prev_hash, hash) FROM STDIN"
_COPY_LEAVES = "COPY ledger_leaves (seq, leaf) FROM STDIN"

Row = tuple[Any, ...]


class PgLedgerTx:
    """What an append does inside its locked transaction."""

    def __init__(self, tx: PgTx) -> None:
        self.tx = tx

    def tail(self) -> Row | None:
        """``(seq, hash, ts)`` of the last stored entry, read under the lock; None if empty."""
        rows = self.tx.execute(_TAIL)
        return rows[0] if rows else None

    def meta(self, key: str) -> str | None:
        """A ``whylens_meta`` value, read under the lock."""
        rows = self.tx.execute("SELECT value FROM whylens_meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Any read inside the transaction (catching the Merkle tree up, for one)."""
        return self.tx.execute(sql, params)

    def insert_entries(self, rows: Sequence[Row]) -> None:
        """The new entries: ``(seq, stream, kind, subject, ts, body, prev_hash, hash)``."""
        _copy(self.tx, _COPY_ENTRIES, rows)

    def insert_leaves(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Their Merkle leaf hashes: ``(seq, leaf)``."""
        _copy(self.tx, _COPY_LEAVES, rows)

    def set_meta(self, key: str, value: str) -> None:
        """The signed head and checkpoint, in the same transaction as the rows they seal."""
        self.tx.set_meta(key, value)


@contextmanager
def ledger_transaction(db: PgDatabase) -> Iterator[PgLedgerTx]:
    """One append transaction holding the database's ledger lock until it commits."""
    with db.transaction() as tx:
        tx.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK_KEY,))
        yield PgLedgerTx(tx)


def _copy(tx: PgTx, sql: str, rows: Sequence[Row]) -> None:
    if not rows:
        return
    with tx.conn.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
