"""Interim: today's :class:`~sdk.ledger.Ledger` running on PostgreSQL, before the storage seam.

The ledger still speaks the SQLite file's SQL (``?`` placeholders, ``INSERT OR REPLACE``, a look
at ``sqlite_master``). This adapter gives it the :class:`~sdk.store.Database` surface on top of
:class:`PgDatabase`: every write transaction holds the ledger's advisory lock (as SQLite's
``BEGIN IMMEDIATE`` holds its file lock), the ledger's inserts go in with ``COPY``. It lets the
cross-process tests and the benchmarks exercise the real ledger code on the real server; it goes
away when the ledger calls the backend's protocol instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .database import PgDatabase
from .ledger import PgLedgerTx, ledger_transaction

__all__ = ["LedgerDatabase"]

Row = tuple[Any, ...]


class _Rows:
    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Row]:
        return self._rows


class _Tx:
    def __init__(self, ltx: PgLedgerTx) -> None:
        self._ltx = ltx

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        if "sqlite_master" in sql:
            return _Rows([(1,)])
        if sql.startswith("SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1"):
            tail = self._ltx.tail()
            return _Rows([] if tail is None else [tail])
        if sql.startswith("SELECT value FROM whylens_meta WHERE key = ?"):
            value = self._ltx.meta(str(params[0]))
            return _Rows([] if value is None else [(value,)])
        return _Rows(self._ltx.read(_pg(sql), params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if sql.startswith("INSERT INTO ledger ("):
            self._ltx.insert_entries([tuple(r) for r in rows])
        elif "INTO ledger_leaves" in sql:
            self._ltx.insert_leaves([(int(r[0]), bytes(r[1])) for r in rows])
        else:
            raise NotImplementedError(sql)

    def set_meta(self, key: str, value: str) -> None:
        self._ltx.set_meta(key, value)


class LedgerDatabase:
    """The :class:`~sdk.store.Database` surface the ledger uses, on a PostgreSQL database."""

    def __init__(self, db: PgDatabase) -> None:
        self.pg = db

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        with ledger_transaction(self.pg) as ltx:
            yield _Tx(ltx)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if "sqlite_master" in sql:
            return [(1,)]
        return self.pg.query(_pg(sql), params)

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def meta(self, key: str) -> str | None:
        return self.pg.meta(key)

    def close(self) -> None:
        self.pg.close()


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")
