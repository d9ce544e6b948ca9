"""The SQLite :class:`~sdk._store.abc.Store`: one file, its aggregates, its transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..abc import Durability, IndexTagger
from .connection import Connection, RawTx
from .execs import AutoExec, Exec, SqliteMeta, TxExec
from .index import SqliteSubjectIndex
from .keys import SqliteKeys
from .ledger import SqliteLedger
from .records import (
    SqliteBlindIndex,
    SqliteEvents,
    SqliteIntegrity,
    SqliteModels,
    SqliteProfiles,
    SqliteProtected,
)

__all__ = ["SqliteStore", "SqliteTx"]


class _Aggregates:
    """Every aggregate but the ledger, over one executor."""

    def __init__(self, x: Exec) -> None:
        self.keys = SqliteKeys(x)
        self.profiles = SqliteProfiles(x)
        self.events = SqliteEvents(x)
        self.integrity = SqliteIntegrity(x)
        self.blind_index = SqliteBlindIndex(x)
        self.subject_index = SqliteSubjectIndex(x)
        self.protected = SqliteProtected(x)
        self.models = SqliteModels(x)
        self.meta = SqliteMeta(x)


class SqliteTx(RawTx, _Aggregates):
    """One open transaction: the aggregates (:class:`~sdk._store.abc.StoreTx`), and plain
    statements for SQLite-level tools and byte-level tests."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        RawTx.__init__(self, conn)
        _Aggregates.__init__(self, TxExec(conn))


class SqliteStore(Connection, _Aggregates):
    """A whylens SQLite file (:class:`~sdk._store.abc.Store`)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, durability: Durability) -> None:
        Connection.__init__(self, path, conn, durability)
        _Aggregates.__init__(self, AutoExec(self))
        self.ledger = SqliteLedger(self)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        durability: Durability = Durability.FULL,
        index_tag: IndexTagger | None = None,
    ) -> SqliteStore:
        """Open ``path``, creating a new whylens database if the file does not exist (or is
        empty) and migrating an older one in place.

        Raises :class:`~sdk.errors.NotAWhylensDatabase` for a corrupt, foreign or newer file
        (left untouched) and :class:`~sdk.errors.StoreUnavailable` when it cannot be opened.
        ``index_tag`` tags an older store's subject index when it is migrated (see
        :func:`sdk._store.migrate.bring_to_head`).
        """
        path = Path(path)
        mode = Durability(durability)
        return cls(path, cls.connect(path, mode, index_tag), mode)

    @contextmanager
    def transaction(self) -> Iterator[SqliteTx]:
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on error."""
        with self.raw_transaction() as conn:
            yield SqliteTx(conn)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path.name!r})"
