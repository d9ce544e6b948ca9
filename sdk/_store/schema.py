"""Every table of a whylens database, in one place (SQLAlchemy 2 Core), and its version.

Each backend creates a new database from :data:`metadata` and brings an older one up to
:data:`SCHEMA_VERSION` with the Alembic revisions in ``sdk/_store/migrations/`` (run from code when
the store is opened; no ``alembic.ini`` needed). A change here needs a new revision there, and
``tests/test_store_upgrade.py`` checks that a migrated database matches this module exactly.

Schema history:

* **1** — the first release: ``whylens_meta``, ``ledger``, ``subject_keys``,
  ``subject_old_keys``, ``profile_fields``, ``personal_events``, ``blind_index``, ``models``;
  ``ledger_leaves`` and ``protected_attributes`` were created on first use by the ledger and the
  audit, so a version-1 file may lack them.
* **2** — every table above always exists; Alembic keeps the revision in ``alembic_version``.
* **3** — ``subject_integrity``: one sealed integrity record per subject (a version counter and
  the commitment to its profile fields and events, see :mod:`sdk.subjects.integrity`).
* **4** — ``subject_index``: the keyed token of a subject id → its random pseudonym (erasure
  re-points it, so the id no longer leads to the erased data); a store migrated with subjects in
  it is marked ``pseudonyms = hmac-v1`` in ``whylens_meta`` (its old pseudonyms are HMACs).
* **5** — each ``subject_index`` row carries ``tag``, an HMAC over (token, pseudonym) under a key
  derived from the keyring's pseudonym key (:func:`sdk.keys.pseudonyms.index_tag`), checked on
  every lookup; on SQLite ``subject_index`` and ``subject_keys`` are ``WITHOUT ROWID`` tables
  (stored in the order of their random keys: no rowid tells when a row was written).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

from .version import FORMAT_NAME, SCHEMA_VERSION

__all__ = [
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "blind_index",
    "ledger",
    "ledger_leaves",
    "metadata",
    "models",
    "personal_events",
    "profile_fields",
    "protected_attributes",
    "subject_index",
    "subject_integrity",
    "subject_keys",
    "subject_old_keys",
    "whylens_meta",
]

# SQLite: only a column declared exactly INTEGER PRIMARY KEY is the rowid (fast seq look-ups);
# elsewhere a sequence number needs 64 bits
_Seq = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

whylens_meta = Table(
    "whylens_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=False),
    Column("stream", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("subject", Text),
    Column("ts", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    Index("ledger_by_subject", "subject", "seq"),
)

ledger_leaves = Table(
    "ledger_leaves",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=False),
    Column("leaf", LargeBinary, nullable=False),
)

subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary),
    Column("created", Text, nullable=False),
    Column("erased", Text),
    # no rowid: a rowid is the row's creation rank, which would date an erasure's tombstone
    sqlite_with_rowid=False,
)

subject_index = Table(
    "subject_index",
    metadata,
    Column("token", LargeBinary, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("tag", LargeBinary, nullable=False),
    Index("subject_index_by_subject", "subject"),
    # no rowid: the id's creation rank would match its pseudonym's first ledger entry
    sqlite_with_rowid=False,
)

subject_old_keys = Table(
    "subject_old_keys",
    metadata,
    Column("subject", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("kek_version", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created", Text, nullable=False),
    PrimaryKeyConstraint("subject", "version"),
)

profile_fields = Table(
    "profile_fields",
    metadata,
    Column("subject", Text, nullable=False),
    Column("field", Text, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated", Text, nullable=False),
    PrimaryKeyConstraint("subject", "field"),
)

personal_events = Table(
    "personal_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("ts", Text, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Index("personal_events_by_subject", "subject", "ts"),
)

blind_index = Table(
    "blind_index",
    metadata,
    Column("name", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("token", LargeBinary, nullable=False),
    PrimaryKeyConstraint("name", "subject"),
    Index("blind_index_by_token", "name", "token"),
)

models = Table(
    "models",
    metadata,
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("model_text", LargeBinary, nullable=False),
    Column("card", Text, nullable=False),
    PrimaryKeyConstraint("name", "version"),
)

subject_integrity = Table(
    "subject_integrity",
    metadata,
    Column("subject", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("seal", LargeBinary, nullable=False),
)

protected_attributes = Table(
    "protected_attributes",
    metadata,
    Column("subject", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("updated", Text, nullable=False),
    PrimaryKeyConstraint("subject", "name"),
)
