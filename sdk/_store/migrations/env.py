"""Alembic environment: always handed an open SQLAlchemy connection by :mod:`sdk._store.migrate`."""

from __future__ import annotations

from alembic import context

from sdk._store.schema import metadata

_connection = context.config.attributes["connection"]
context.configure(connection=_connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
