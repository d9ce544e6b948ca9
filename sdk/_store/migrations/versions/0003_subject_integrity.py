"""Schema version 3: ``subject_integrity``, one sealed integrity record per subject.

Subjects stored before this revision have none until their next profile or event write (see
``docs/guides`` on what per-subject integrity covers for them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_integrity",
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("seal", sa.LargeBinary, nullable=False),
    )
    meta = sa.table("whylens_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="3"))


def downgrade() -> None:
    raise NotImplementedError("whylens migrations only go forward; restore a backup instead")
