"""The storage seam and its backends (private: the SDK's parts use it, applications do not).

* :mod:`sdk._store.abc` — the protocols every backend implements, and what each must guarantee;
* :mod:`sdk._store.schema` — every table, once (SQLAlchemy Core), and the schema version;
* ``sdk/_store/migrations/`` — Alembic revisions, run from code when a store is opened;
* ``sdk/_store/_sqlite/`` — the embedded SQLite file (the default);
* ``sdk/_store/_postgres/`` — PostgreSQL (extra ``whylens[postgres]``), imported lazily.

A backend package exports two functions, which :func:`open_store` and :func:`inspect_store`
dispatch to::

    def open_store(target, *, durability: Durability) -> Store: ...
    def inspect(target) -> dict[str, str] | None: ...
        # the whylens_meta of the store there, read without changing anything; None if there
        # is none; NotAWhylensDatabase for a foreign, corrupt or newer-schema one
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from .abc import Durability

if TYPE_CHECKING:
    from .abc import IndexTagger, Store

__all__ = ["Durability", "inspect_store", "is_postgres_url", "open_store"]

_PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_PG_HINT = "PostgreSQL support is an extra: pip install 'whylens[postgres]'"


def is_postgres_url(target: str | Path) -> bool:
    """True if ``target`` names a PostgreSQL database (``postgresql://...``)."""
    return isinstance(target, str) and target.startswith(_PG_SCHEMES)


def _check_target(target: str | Path) -> None:
    if isinstance(target, str) and "://" in target and not is_postgres_url(target):
        scheme = target.split("://", 1)[0]
        raise ConfigurationError(
            f"unsupported store URL scheme {scheme!r}: give a SQLite file path or a "
            "postgresql://user@host:5432/db URL"
        )


def _postgres_backend() -> ModuleType:
    # not named _postgres: importing the subpackage binds that name on this package
    if importlib.util.find_spec("psycopg") is None:
        raise ConfigurationError(_PG_HINT)
    return importlib.import_module(f"{__name__}._postgres")


def open_store(
    target: str | Path,
    *,
    durability: Durability | str = Durability.FULL,
    index_tag: IndexTagger | None = None,
) -> Store:
    """Open (creating or migrating as needed) the store at a SQLite path or PostgreSQL URL.

    ``index_tag`` (the keyring's :func:`sdk.keys.pseudonyms.index_tag`) tags the subject index
    of a store older than schema 5 while it is migrated; such a store with subjects indexed is
    refused without it (:class:`~sdk.errors.ConfigurationError`, nothing changed).

    Raises :class:`~sdk.errors.NotAWhylensDatabase` for a foreign, corrupt or newer-schema
    database (left untouched), :class:`~sdk.errors.StoreUnavailable` when it cannot be reached,
    and :class:`~sdk.errors.ConfigurationError` for an unknown URL or a missing extra.
    """
    _check_target(target)
    try:
        mode = Durability(durability)
    except ValueError:
        raise ConfigurationError("durability must be 'full' or 'normal'") from None
    if is_postgres_url(target):
        store: Store = _postgres_backend().open_store(
            str(target), durability=mode, index_tag=index_tag
        )
        return store
    from ._sqlite import open_store as open_sqlite

    return open_sqlite(Path(target), durability=mode, index_tag=index_tag)


def inspect_store(target: str | Path) -> dict[str, str] | None:
    """The ``whylens_meta`` values (format, schema version, keyring fingerprint...) of the store
    at ``target``, read without changing anything.

    None for a missing (or empty) file or database; raises
    :class:`~sdk.errors.NotAWhylensDatabase` for a foreign, corrupt or newer-schema one.
    """
    _check_target(target)
    if is_postgres_url(target):
        found: dict[str, str] | None = _postgres_backend().inspect(str(target))
        return found
    from ._sqlite import inspect as inspect_sqlite

    return inspect_sqlite(Path(target))
