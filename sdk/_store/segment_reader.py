"""Read connections for the ledger's verification workers (:mod:`sdk.ledger.parallel`).

Standard library and the database driver only, no ``sdk`` import: a worker process loads this
file by its path (:attr:`~sdk._store.abc.ReadSource.reader`) and calls :func:`open_reader`, so the
drivers stay inside the store layer while the worker starts in a few milliseconds.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["READER", "open_reader"]

READER = str(Path(__file__).resolve())
"""This file's path, for :class:`~sdk._store.abc.ReadSource`."""

Fetch = Callable[[int, int], list[tuple[Any, ...]]]


def open_reader(driver: str, target: str, sql: str) -> Fetch:
    """``fetch(after_seq, limit)``: the ``with_leaves`` query over a new read-only connection."""
    if driver == "sqlite":
        import sqlite3

        uri = f"file:{urllib.parse.quote(target)}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=10.0)
        # map the file instead of copying every page through read(): the walk is sequential
        conn.execute("PRAGMA mmap_size=1073741824")

        def fetch_sqlite(after: int, limit: int) -> list[tuple[Any, ...]]:
            return conn.execute(sql, (after, limit)).fetchall()

        return fetch_sqlite
    if driver == "postgres":
        import psycopg

        pg = psycopg.connect(target, autocommit=True)

        def fetch_pg(after: int, limit: int) -> list[tuple[Any, ...]]:
            return pg.execute(sql, (after, limit)).fetchall()

        return fetch_pg
    raise ValueError("unknown driver")
