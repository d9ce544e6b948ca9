"""Where the SQLite backend's statements run: auto-commit, or inside one open transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ...errors import StoreError
from .connection import Connection

__all__ = ["AutoExec", "Exec", "SqliteMeta", "TxExec"]


class Exec:
    """Where statements run: subclasses bind it to auto-commit or to one transaction."""

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write; the number of rows it changed."""
        raise NotImplementedError

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.read(sql, params)
        return rows[0] if rows else None

    def atomic(self) -> AbstractContextManager[Exec]:
        """Several statements that must commit together."""
        raise NotImplementedError


class AutoExec(Exec):
    """Each write in a transaction of its own; reads see committed data."""

    def __init__(self, db: Connection) -> None:
        self._db = db

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._db.raw_transaction() as conn:
            return max(_run(conn, sql, params).rowcount, 0)

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._db.raw_transaction() as conn:
                conn.executemany(sql, rows)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.query(sql, params)

    @contextmanager
    def atomic(self) -> Iterator[Exec]:
        with self._db.raw_transaction() as conn:
            yield TxExec(conn)


class TxExec(Exec):
    """Every statement inside one open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        return max(_run(self._conn, sql, params).rowcount, 0)

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._conn.executemany(sql, rows)

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def atomic(self) -> Iterator[Exec]:
        yield self


def _run(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"the store refused a write: {exc}") from exc


class SqliteMeta:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def get(self, key: str) -> str | None:
        row = self._x.read_one("SELECT value FROM whylens_meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        # substr, not LIKE: "_" in a prefix would be a LIKE wildcard
        rows = self._x.read(
            "SELECT key, value FROM whylens_meta WHERE substr(key, 1, ?) = ? ORDER BY key",
            (len(prefix), prefix),
        )
        return [(str(k), str(v)) for k, v in rows]

    def set(self, key: str, value: str) -> None:
        self._x.write(
            "INSERT INTO whylens_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def set_default(self, key: str, value: str) -> None:
        self._x.write(
            "INSERT INTO whylens_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
            (key, value),
        )
