"""Schema version 5: tagged ``subject_index`` rows, and tables whose row order dates nothing.

* Each ``subject_index`` row gets ``tag`` = an HMAC over (token, pseudonym) under a key derived
  from the keyring's pseudonym key, so a database-only attacker can no longer swap two rows
  (one id reading, exporting and erasing another person's data). The tags of the existing rows
  need that key: the opener passes :func:`sdk.keys.pseudonyms.index_tag` bound to it (the keyring
  was checked against the store first); a store with indexed subjects is refused without it.
* SQLite: ``subject_index`` and ``subject_keys`` are rebuilt ``WITHOUT ROWID``, in the order of
  their random keys (a rowid is a creation rank: it matched an id to its pseudonym's first
  ledger entry, and dated each erasure's tombstone).
* PostgreSQL: every index row and every tombstone is written anew, in key order, in this
  transaction, so the ``xmin`` and ``ctid`` of an erasure made before it no longer lead from the
  erased id's row to the destroyed key row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op

from sdk._store.migrate import INDEX_TAGGER
from sdk.errors import ConfigurationError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TOMBSTONE = "wrapped IS NULL AND erased IS NULL"


def upgrade() -> None:
    bind = op.get_bind()
    rows = [
        (bytes(t), str(s))
        for t, s in bind.execute(sa.text("SELECT token, subject FROM subject_index"))
    ]
    tag: Callable[[bytes, str], bytes] | None = context.config.attributes.get(INDEX_TAGGER)
    if rows and tag is None:
        raise ConfigurationError(
            "upgrading this store to schema 5 tags its subject index with a key from the "
            "keyring: open it with Personalizer.open(..., keyring=PATH) first"
        )
    # written in token order: the order of the rows says nothing but the (random) tokens
    links: list[dict[str, object]] = (
        [{"token": t, "subject": s, "tag": tag(t, s)} for t, s in sorted(rows)] if tag else []
    )
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(links)
    else:
        _rewrite_postgres(links)
    meta = sa.table("whylens_meta", sa.column("key", sa.Text), sa.column("value", sa.Text))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="5"))


def _index_table(name: str, md: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        md,
        sa.Column("token", sa.LargeBinary, primary_key=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("tag", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )


def _rebuild_sqlite(links: list[dict[str, object]]) -> None:
    md = sa.MetaData()
    index = _index_table("subject_index_v5", md)
    sa.Table(
        "subject_keys_v5",
        md,
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("wrapped", sa.LargeBinary),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("erased", sa.Text),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    md.create_all(bind)
    if links:
        op.bulk_insert(index, links)
    op.execute(
        "INSERT INTO subject_keys_v5 (subject, kek_version, wrapped, created, erased) "
        "SELECT subject, kek_version, wrapped, created, erased FROM subject_keys "
        "ORDER BY subject"
    )
    op.drop_table("subject_index")  # drops subject_index_by_subject with it
    op.drop_table("subject_keys")
    op.rename_table("subject_index_v5", "subject_index")
    op.rename_table("subject_keys_v5", "subject_keys")
    op.create_index("subject_index_by_subject", "subject_index", ["subject"])


def _rewrite_postgres(links: list[dict[str, object]]) -> None:
    op.add_column("subject_index", sa.Column("tag", sa.LargeBinary, nullable=True))
    op.execute("DELETE FROM subject_index")
    if links:
        op.bulk_insert(_index_table("subject_index", sa.MetaData()), links)
    op.alter_column("subject_index", "tag", nullable=False)
    bind = op.get_bind()
    stones = sorted(
        (str(s), int(k), str(c))
        for s, k, c in bind.execute(
            sa.text(f"SELECT subject, kek_version, created FROM subject_keys WHERE {_TOMBSTONE}")
        )
    )
    if stones:
        op.execute(f"DELETE FROM subject_keys WHERE {_TOMBSTONE}")
        bind.execute(
            sa.text(
                "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
                "VALUES (:s, :k, NULL, :c, NULL)"
            ),
            [{"s": s, "k": k, "c": c} for s, k, c in stones],
        )


def downgrade() -> None:
    raise NotImplementedError("whylens migrations only go forward; restore a backup instead")
