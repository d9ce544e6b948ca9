"""Audit exports and subject rights."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from .base import (
    Frozen,
)
from .consent import ConsentEvent
from .decisions import Decision
from .explanations import Explanation
from .human import ContactCase, Note


class ExportManifest(Frozen):
    """The signed table of contents of an audit export."""

    format: Literal["jsonl", "csv", "parquet"]
    created_at: datetime
    records: int
    first_seq: int | None
    last_seq: int | None
    first_prev: str
    """Hash of the entry before the first exported one (all zeros from the start)."""
    last_hash: str
    files: dict[str, str]
    """file name -> SHA-256 of its bytes"""
    ledger_size: int
    ledger_head: str
    public_key: str
    key_fingerprint: str
    signature: str
    selected: int = 0
    """How many audit records the records file holds (after the ``model`` filter)."""
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    checkpoint: str | None = None
    """The ledger's signed checkpoint (C2SP signed note) that bounds the export."""
    origin: str | None = None
    last_proof: dict[str, object] | None = None
    """Inclusion proof of the last exported entry in the checkpointed tree (RFC 9162)."""


class PersonalEvent(Frozen):
    """One behavioural event of a subject (``p.events``), decrypted for its reader."""

    event_id: str
    kind: str
    purpose: str
    at: datetime
    data: dict[str, object]


class SubjectExport(Frozen):
    """Everything whylens holds about one subject (GDPR Art. 15 / 20), in the clear for them."""

    subject: str
    exported_at: datetime
    consent: tuple[ConsentEvent, ...]
    profile: dict[str, object]
    decisions: tuple[Decision, ...]
    events: tuple[PersonalEvent, ...] = ()
    explanations: tuple[Explanation, ...] = ()
    """One end-user explanation per decision, in the order of ``decisions``."""
    notes: tuple[Note, ...] = ()
    """The person's notes to the shop, with staff replies."""
    contact_cases: tuple[ContactCase, ...] = ()
    """The person's requests to reach a human."""


class ErasureReceipt(Frozen):
    """Proof that a subject's data key was destroyed (crypto-shredding).

    ``signature`` is Ed25519 (by the keyring's signing key, ``public_key``) over the canonical
    JSON of every other field; :func:`sdk.subjects.verify_erasure_receipt` checks it offline.

    ``status`` is ``"complete"`` only once the destroyed key's bytes have left the store's files
    (``completed_seq`` is then the ledger entry that says so); ``"pending"`` means another
    connection still pinned them when the receipt was made, and
    :meth:`sdk.subjects.SubjectRights.finish_erasures` (run on later writes and on close) issues
    the complete receipt later. A receipt from before this field existed has neither and reads
    as complete.
    """

    subject: str
    erased_at: datetime
    ledger_seq: int
    entry_hash: str
    fields_destroyed: int
    keys_destroyed: int = 0
    events_destroyed: int = 0
    index_entries_purged: int = 0
    status: Literal["complete", "pending"] = "complete"
    completed_seq: int | None = None
    completed_at: datetime | None = None
    public_key: str = ""
    key_fingerprint: str = ""
    signature: str = ""
