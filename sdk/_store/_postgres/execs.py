"""Where the PostgreSQL backend's statements run: auto-commit, or inside one open transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from ...errors import StoreError
from .database import PgDatabase

if TYPE_CHECKING:
    import psycopg

__all__ = ["AutoExec", "Exec", "PgMeta", "TxExec", "locked_transaction"]

STORE_LOCK_KEY = 0x77_68_79_73_74_6F_72  # "whystor": multi-statement writes, one at a time

Row = tuple[Any, ...]


class Exec:
    """Where statements run: subclasses bind it to auto-commit or to one transaction."""

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write; the number of rows it changed."""
        raise NotImplementedError

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def atomic(self) -> AbstractContextManager[Exec]:
        """Several statements that must commit together."""
        raise NotImplementedError


@contextmanager
def locked_transaction(db: PgDatabase) -> Iterator[psycopg.Connection[Any]]:
    """A transaction holding the store's write lock.

    Every multi-statement write of the store (not the ledger's appends, which have their own
    lock) holds one advisory lock, so they run one at a time across processes as they do on
    SQLite's single write lock: a read followed by a write inside one sees no other writer
    between them. Single-statement writes need no lock (each is atomic and the compare-and-set
    ones re-check their condition on the locked row).
    """
    with db.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (STORE_LOCK_KEY,))
        yield conn


class AutoExec(Exec):
    """Each write in a transaction of its own; reads see committed data."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._db.connection() as conn:
            return _run(conn, sql, params)

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._db.connection() as conn, conn.transaction():
                _run_many(conn, sql, rows)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._db.query(sql, params)

    @contextmanager
    def atomic(self) -> Iterator[Exec]:
        with locked_transaction(self._db) as conn:
            yield TxExec(conn)


class TxExec(Exec):
    """Every statement inside one open transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _run(self._conn, sql, params)

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            _run_many(self._conn, sql, rows)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def atomic(self) -> Iterator[Exec]:
        yield self


def _run(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any]) -> int:
    import psycopg

    try:
        return max(conn.execute(sql, params).rowcount, 0)
    except psycopg.IntegrityError as exc:
        raise StoreError(f"the store refused a write: {exc.diag.message_primary}") from None


def _run_many(conn: psycopg.Connection[Any], sql: str, rows: Sequence[Sequence[Any]]) -> None:
    import psycopg

    try:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)
    except psycopg.IntegrityError as exc:
        raise StoreError(f"the store refused a write: {exc.diag.message_primary}") from None


class PgMeta:
    """:class:`~sdk._store.abc.MetaStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def get(self, key: str) -> str | None:
        row = self._x.read_one("SELECT value FROM whylens_meta WHERE key = %s", (key,))
        return None if row is None else str(row[0])

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        # left(), not LIKE: "_" in a prefix would be a wildcard; byte order as on SQLite
        rows = self._x.read(
            "SELECT key, value FROM whylens_meta WHERE left(key, %s) = %s "
            'ORDER BY key COLLATE "C"',
            (len(prefix), prefix),
        )
        return [(str(k), str(v)) for k, v in rows]

    def set(self, key: str, value: str) -> None:
        self._x.write(
            "INSERT INTO whylens_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def set_default(self, key: str, value: str) -> None:
        self._x.write(
            "INSERT INTO whylens_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
            (key, value),
        )
