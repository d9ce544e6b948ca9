"""The embedded SQLite backend (the default): one file with WAL, ``secure_delete`` and checked
opening; hot paths through the ``sqlite3`` driver, the schema from :mod:`sdk._store.schema`."""

from __future__ import annotations

from pathlib import Path

from ..abc import Durability, IndexTagger
from .connection import check_database
from .store import SqliteStore, SqliteTx

__all__ = ["SqliteStore", "SqliteTx", "check_database", "inspect", "open_store"]


def open_store(
    target: Path, *, durability: Durability, index_tag: IndexTagger | None = None
) -> SqliteStore:
    """Open (create, migrate) the SQLite file ``target``."""
    return SqliteStore.open(target, durability=durability, index_tag=index_tag)


def inspect(target: Path) -> dict[str, str] | None:
    """The ``whylens_meta`` of the whylens file at ``target`` (read-only), None if none."""
    if not target.exists() or target.stat().st_size == 0:
        return None
    return check_database(target)
