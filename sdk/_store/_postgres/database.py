"""A whylens PostgreSQL database: a connection pool, transactions, reads, and the meta table.

Connections run in autocommit mode; :meth:`PgDatabase.transaction` opens an explicit one.
Statements use psycopg's ``%s`` placeholders. Reads take any free pooled connection, so readers
never wait for a committing writer (MVCC), and each read sees the latest committed state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...errors import StoreUnavailable
from .connect import PgTarget, open_pool, parse_url

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PgDatabase", "PgTx"]

logger = logging.getLogger(__name__)

Row = tuple[Any, ...]


class PgTx:
    """The statements allowed inside :meth:`PgDatabase.transaction` (one connection)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        """The driver connection, for hot paths (``COPY``, pipelines)."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; its rows (empty for statements that return none)."""
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description is not None else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row (pipelined by the driver)."""
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(sql, rows)

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace one ``whylens_meta`` value."""
        self.conn.execute(
            "INSERT INTO whylens_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class PgDatabase:
    """One whylens database on a PostgreSQL server, shared by any number of processes."""

    def __init__(self, target: PgTarget, pool: ConnectionPool) -> None:
        self.target = target
        self._pool = pool
        self._closed = False

    @classmethod
    def open(cls, url: str, *, max_size: int = 8) -> PgDatabase:
        """Connect to the database at ``url`` (:class:`StoreUnavailable` if it does not answer)."""
        target = parse_url(url)
        return cls(target, open_pool(target, max_size=max_size))

    def describe(self) -> str:
        """The server and database, as messages name them (no password)."""
        return self.target.describe()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (autocommit) for the duration of the block."""
        import psycopg
        from psycopg_pool import PoolTimeout

        self._ensure_open()
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"no connection to {self.describe()} became free in time"
            ) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"lost the connection to {self.describe()}: "
                f"{self.target.scrub(str(exc).splitlines()[0] if str(exc) else '')}"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[PgTx]:
        """A transaction: commits when the block ends, rolls back if it raises.

        A failed COMMIT (the server went away) raises :class:`StoreUnavailable`; nothing of the
        transaction is then acknowledged.
        """
        with self.connection() as conn, conn.transaction():
            yield PgTx(conn)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a read statement and return all rows."""
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a read statement and return its first row, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def meta(self, key: str) -> str | None:
        """A value from the ``whylens_meta`` table."""
        row = self.query_one("SELECT value FROM whylens_meta WHERE key = %s", (key,))
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        if not self._closed:
            self._closed = True
            self._pool.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the database is closed; open a new Personalizer")
