"""Create or upgrade a whylens schema from code, on a SQLAlchemy connection, in one transaction.

:func:`bring_to_head` is what every backend calls when it opens a store; it needs no
``alembic.ini``: the revisions are found beside this module. The caller holds the connection in a
transaction that excludes other migrators (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory
lock), so two processes opening the same new store create it once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, select

from ..errors import NotAWhylensDatabase
from .schema import FORMAT_NAME, SCHEMA_VERSION, metadata, whylens_meta

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

    from .abc import IndexTagger

__all__ = ["HEAD_REVISION", "INDEX_TAGGER", "bring_to_head", "revision_of"]

logger = logging.getLogger(__name__)

HEAD_REVISION = f"{SCHEMA_VERSION:04d}"
"""The Alembic revision of :data:`~sdk._store.schema.SCHEMA_VERSION` (revision N is version N)."""

_MIGRATIONS = Path(__file__).with_name("migrations")


INDEX_TAGGER = "index_tag"
"""The ``Config.attributes`` entry revision 0005 computes ``subject_index`` tags with."""


def _config(connection: Connection, index_tag: IndexTagger | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes[INDEX_TAGGER] = index_tag
    return cfg


def revision_of(connection: Connection) -> str | None:
    """The Alembic revision stamped in the database, or None (new, or made by schema 1)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


def bring_to_head(connection: Connection, *, index_tag: IndexTagger | None = None) -> bool:
    """Create the schema in an empty database, or upgrade an older one to the head revision.

    ``index_tag`` (from the keyring: the opener checked it is this store's) tags the existing
    ``subject_index`` rows of a store below schema 5; without it such a store with rows in its
    index is refused (:class:`~sdk.errors.ConfigurationError`, nothing changed). Returns True
    if anything changed. Raises :class:`NotAWhylensDatabase` for tables that are
    not a whylens schema (nothing is changed then).
    """
    from alembic import command

    names = set(inspect(connection).get_table_names())
    revision = revision_of(connection) if "alembic_version" in names else None
    if revision == HEAD_REVISION:
        return False
    cfg = _config(connection, index_tag)
    if not names:
        metadata.create_all(connection)
        connection.execute(
            whylens_meta.insert(),
            [
                {"key": "format", "value": FORMAT_NAME},
                {"key": "schema_version", "value": str(SCHEMA_VERSION)},
            ],
        )
        command.stamp(cfg, HEAD_REVISION)
        return True
    if "whylens_meta" not in names:
        raise NotAWhylensDatabase("the database has tables but is not a whylens store")
    version = connection.execute(
        select(whylens_meta.c.value).where(whylens_meta.c.key == "schema_version")
    ).scalar()
    if revision is None:
        if version != "1":
            raise NotAWhylensDatabase(
                f"the store has schema version {version!r} but no migration record"
            )
        command.stamp(cfg, "0001")  # made by the first release, before migrations existed
    logger.info("upgrading the whylens schema to version %s", SCHEMA_VERSION)
    command.upgrade(cfg, HEAD_REVISION)
    return True
