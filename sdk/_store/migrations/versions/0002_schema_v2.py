"""Schema version 2: ``ledger_leaves`` and ``protected_attributes`` always exist.

Version-1 files made them on first use (by the ledger and the audit), so either may be missing or
already present; both cases end in the same schema.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "ledger_leaves" not in existing:
        op.create_table(
            "ledger_leaves",
            sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
            sa.Column("leaf", sa.LargeBinary, nullable=False),
        )
    if "protected_attributes" not in existing:
        op.create_table(
            "protected_attributes",
            sa.Column("subject", sa.Text, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
            sa.Column("value", sa.LargeBinary, nullable=False),
            sa.Column("updated", sa.Text, nullable=False),
            sa.PrimaryKeyConstraint("subject", "name"),
        )
    meta = sa.table("whylens_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="2"))


def downgrade() -> None:
    raise NotImplementedError("whylens migrations only go forward; restore a backup instead")
