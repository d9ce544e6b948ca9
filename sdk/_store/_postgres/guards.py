"""Append-only, enforced by PostgreSQL itself: triggers that reject changes to the ledger tables.

The application only ever INSERTs into ``ledger`` and ``ledger_leaves``. A row-level trigger
rejects every UPDATE and DELETE, and a statement-level trigger rejects TRUNCATE, whoever runs them
(the application's own role included, through any client), so a bug or a stolen application
password cannot rewrite history in place. A superuser can still drop the triggers: the hash chain,
the signed head and the signed checkpoints (:mod:`sdk.ledger.verify`) are what detect that.

The migration that creates the tables calls :func:`append_only_ddl` on PostgreSQL.
"""

from __future__ import annotations

__all__ = ["APPEND_ONLY_TABLES", "REJECT_FUNCTION", "append_only_ddl", "drop_append_only_ddl"]

APPEND_ONLY_TABLES = ("ledger", "ledger_leaves")
REJECT_FUNCTION = "whylens_reject_change"
SQLSTATE = "WL001"
"""The SQLSTATE the trigger raises (class WL: whylens); callers can tell it from other errors."""

_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {REJECT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'whylens: % on % is rejected: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = '{SQLSTATE}';
END
$$
"""


def append_only_ddl() -> list[str]:
    """The statements that install the guards (idempotent)."""
    out = [_FUNCTION.strip()]
    for table in APPEND_ONLY_TABLES:
        out += [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {REJECT_FUNCTION}()",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {REJECT_FUNCTION}()",
        ]
    return out


def drop_append_only_ddl() -> list[str]:
    """The statements that remove the guards (a migration's downgrade)."""
    out: list[str] = []
    for table in APPEND_ONLY_TABLES:
        out += [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        ]
    return [*out, f"DROP FUNCTION IF EXISTS {REJECT_FUNCTION}()"]
