"""Alembic revisions of the whylens schema (run by :mod:`sdk._store.migrate`, not by hand)."""
