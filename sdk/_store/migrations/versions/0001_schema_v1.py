"""Schema version 1, as the first release created it (the baseline).

A version-1 database made by that release has no ``alembic_version`` table; the migration runner
stamps it with this revision before upgrading. ``ledger_leaves`` and ``protected_attributes`` were
made on first use in that release, so they are not part of this revision (0002 adds them).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "whylens_meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("ts", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_index("ledger_by_subject", "ledger", ["subject", "seq"])
    op.create_table(
        "subject_keys",
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("wrapped", sa.LargeBinary),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("erased", sa.Text),
    )
    op.create_table(
        "profile_fields",
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("subject", "field"),
    )
    op.create_table(
        "subject_old_keys",
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("subject", "version"),
    )
    op.create_table(
        "personal_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("ts", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    )
    op.create_index("personal_events_by_subject", "personal_events", ["subject", "ts"])
    op.create_table(
        "blind_index",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("token", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("name", "subject"),
    )
    op.create_index("blind_index_by_token", "blind_index", ["name", "token"])
    op.create_table(
        "models",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("model_text", sa.LargeBinary, nullable=False),
        sa.Column("card", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    meta = sa.table("whylens_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.bulk_insert(
        meta, [{"key": "format", "value": "whylens"}, {"key": "schema_version", "value": "1"}]
    )


def downgrade() -> None:
    raise NotImplementedError("whylens migrations only go forward; restore a backup instead")
