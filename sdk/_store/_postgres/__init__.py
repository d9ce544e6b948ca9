"""The PostgreSQL backend (``whylens[postgres]``): many processes and hosts, one database.

:func:`open_store` and :func:`inspect` are what :func:`sdk._store.open_store` and
:func:`sdk._store.inspect_store` dispatch ``postgresql://`` URLs to. The driver is imported here,
so this package is only imported when a PostgreSQL URL is used.
"""

from __future__ import annotations

from ..abc import Durability, IndexTagger
from .connect import PgTarget, is_postgres_url, parse_url, require_driver

require_driver()

from .store import PgStore, PgStoreTx, inspect  # noqa: E402

__all__ = [
    "PgStore",
    "PgStoreTx",
    "PgTarget",
    "inspect",
    "is_postgres_url",
    "open_store",
    "parse_url",
]


def open_store(
    target: str, *, durability: Durability, index_tag: IndexTagger | None = None
) -> PgStore:
    """Open (create, migrate) the PostgreSQL store at the URL ``target``."""
    return PgStore.open(target, durability=durability, index_tag=index_tag)
