"""Bringing a PostgreSQL database to the current schema, once, whoever opens it first.

Concurrent openers of a new database serialize on a session advisory lock, so exactly one of them
creates the tables (and the append-only guards, :mod:`.guards`); the others find them done.
"""

from __future__ import annotations

from .database import PgDatabase
from .guards import append_only_ddl

__all__ = ["MIGRATE_LOCK_KEY", "upgrade"]

MIGRATE_LOCK_KEY = 0x77_68_79_6C_6D_69_67  # distinct from the ledger's lock

# interim DDL, mirroring the SQLite schema, until the shared SQLAlchemy schema and its Alembic
# migrations take over
_TABLES = """
CREATE TABLE IF NOT EXISTS whylens_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    seq BIGINT PRIMARY KEY, stream TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT,
    ts TEXT NOT NULL, body BYTEA NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_subject ON ledger (subject, seq);
CREATE TABLE IF NOT EXISTS ledger_leaves (seq BIGINT PRIMARY KEY, leaf BYTEA NOT NULL)
"""


def upgrade(db: PgDatabase) -> None:
    """Create or upgrade the schema of ``db`` (idempotent, safe to race)."""
    with db.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
        try:
            with conn.transaction():
                for stmt in _TABLES.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                for stmt in append_only_ddl():
                    conn.execute(stmt)
                conn.execute(
                    "INSERT INTO whylens_meta (key, value) VALUES ('format', 'whylens'), "
                    "('schema_version', '1') ON CONFLICT (key) DO NOTHING"
                )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))
