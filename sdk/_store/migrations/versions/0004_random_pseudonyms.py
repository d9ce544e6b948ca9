"""Schema version 4: ``subject_index`` maps a subject id's keyed token to a random pseudonym.

Stores made before it named subjects by ``HMAC(pseudonym key, id)``; a store that already holds
subjects is marked ``pseudonyms = hmac-v1`` so that such a pseudonym is still found (and then
indexed) on a lookup miss. A store with no subject yet needs no mark.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_index",
        sa.Column("token", sa.LargeBinary, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
    )
    op.create_index("subject_index_by_subject", "subject_index", ["subject"])
    op.execute(
        "INSERT INTO whylens_meta (key, value) SELECT 'pseudonyms', 'hmac-v1' "
        "WHERE EXISTS (SELECT 1 FROM subject_keys) "
        "OR EXISTS (SELECT 1 FROM ledger WHERE subject IS NOT NULL)"
    )
    meta = sa.table("whylens_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="4"))


def downgrade() -> None:
    raise NotImplementedError("whylens migrations only go forward; restore a backup instead")
