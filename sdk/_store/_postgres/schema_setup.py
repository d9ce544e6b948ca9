"""Creating, upgrading and checking a PostgreSQL schema, once, whoever opens the store first.

The tables come from :mod:`sdk._store.schema` and the Alembic revisions (:mod:`sdk._store.migrate`,
the same as for SQLite); PostgreSQL adds its append-only guards (:mod:`.guards`) in the same
transaction. Concurrent openers serialize on a transaction advisory lock, so exactly one creates
or upgrades the schema and the others find it done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import NotAWhylensDatabase, StoreUnavailable
from ..version import FORMAT_NAME, SCHEMA_VERSION
from .connect import PgTarget
from .guards import APPEND_ONLY_TABLES, append_only_ddl

if TYPE_CHECKING:
    from ..abc import IndexTagger

__all__ = ["MIGRATE_LOCK_KEY", "bring_up", "read_meta"]

MIGRATE_LOCK_KEY = 0x77_68_79_6C_6D_69_67  # distinct from the ledger's and the store's locks

_HAS_META = "SELECT to_regclass('whylens_meta') IS NOT NULL"
_TABLE_COUNT = (
    "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
)
_GUARDS = (
    "SELECT count(*) FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c "
    "ON c.oid = t.tgrelid WHERE c.relname = ANY(%s) AND NOT t.tgisinternal "
    "AND t.tgname LIKE '%%no\\_%%'"
)


def read_meta(conn: Any, label: str) -> dict[str, str] | None:
    """The ``whylens_meta`` values of the database on ``conn`` (read-only); None when it has no
    tables at all; :class:`NotAWhylensDatabase` for someone else's tables or a newer schema."""
    if not conn.execute(_HAS_META).fetchone()[0]:
        if int(conn.execute(_TABLE_COUNT).fetchone()[0]):
            raise NotAWhylensDatabase(
                f"{label} has tables but is not a whylens database; it was left untouched"
            )
        return None
    meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM whylens_meta")}
    if meta.get("format") != FORMAT_NAME:
        raise NotAWhylensDatabase(f"{label} is not a whylens database; it was left untouched")
    version = meta.get("schema_version", "")
    if not version.isdigit():
        raise NotAWhylensDatabase(f"{label} has no readable schema version")
    if int(version) > SCHEMA_VERSION:
        raise NotAWhylensDatabase(
            f"{label} uses schema version {version}, newer than this whylens understands "
            f"({SCHEMA_VERSION}); upgrade whylens."
        )
    return meta


def bring_up(target: PgTarget, index_tag: IndexTagger | None = None) -> None:
    """Create or upgrade the schema and its guards (idempotent, safe to race; a no-op, costing
    one read, when everything is in place)."""
    import psycopg

    try:
        with psycopg.connect(target.conninfo(), autocommit=True) as conn:
            meta = read_meta(conn, target.describe())
            if (
                meta is not None
                and meta.get("schema_version") == str(SCHEMA_VERSION)
                and _guarded(conn)
            ):
                return
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot read the schema of {target.describe()}: "
            f"{target.scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"
        ) from None
    _migrate(target, index_tag)


def _guarded(conn: Any) -> bool:
    row = conn.execute(_GUARDS, (list(APPEND_ONLY_TABLES),)).fetchone()
    return int(row[0]) == 2 * len(APPEND_ONLY_TABLES)


def _migrate(target: PgTarget, index_tag: IndexTagger | None) -> None:
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from ..migrate import bring_to_head

    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(target.conninfo()),
        poolclass=NullPool,
    )
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK_KEY})")
            raw = conn.connection.driver_connection
            read_meta(raw, target.describe())  # refuse foreign or newer ones, under the lock
            bring_to_head(conn, index_tag=index_tag)
            if not _guarded(raw):
                for stmt in append_only_ddl():
                    conn.exec_driver_sql(stmt.replace("%", "%%"))
    except DBAPIError as exc:
        orig = exc.orig if exc.orig is not None else exc
        raise StoreUnavailable(
            f"cannot create or upgrade the schema of {target.describe()}: "
            f"{target.scrub(str(orig).splitlines()[0] if str(orig) else type(orig).__name__)}"
        ) from None
    finally:
        engine.dispose()
