"""The store format's name and schema version, importable without SQLAlchemy (opening an
up-to-date store needs only these; :mod:`sdk._store.schema` holds the tables)."""

from __future__ import annotations

__all__ = ["FORMAT_NAME", "SCHEMA_VERSION"]

FORMAT_NAME = "whylens"
"""``whylens_meta['format']`` of every whylens database (how a foreign file is told apart)."""

SCHEMA_VERSION = 5
"""``whylens_meta['schema_version']`` this code writes; a newer file is refused. Bump it with a
new revision in ``sdk/_store/migrations/versions/`` (revision N brings a store to version N)."""
