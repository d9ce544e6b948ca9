"""Consent: notices, events, receipts and state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field, field_serializer

from .base import (
    ConsentAction,
    Frozen,
    PurposeStatus,
)


class Notice(Frozen):
    """The privacy notice a person was shown when they gave consent."""

    notice_id: str = Field(min_length=1, max_length=128)
    version: str = Field(default="1", min_length=1, max_length=32)
    language: str = Field(default="en", min_length=2, max_length=16)
    text_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ConsentEvent(Frozen):
    """One grant, withdrawal, refusal, objection or invalidation as recorded in the ledger.

    ``at`` is when it took effect (the commit time, or the moment an imported historic event
    happened); ``recorded_at`` is when the ledger committed it.
    """

    seq: int
    subject: str
    purpose: str
    action: ConsentAction
    at: datetime
    notice: Notice | None = None
    source: str | None = None
    expires_at: datetime | None = None
    entry_hash: str
    recorded_at: datetime | None = None
    reason: str | None = None


class ConsentReceipt(Frozen):
    """What a grant or withdrawal returns: proof of what was recorded, and where in the ledger.

    Signed (Ed25519, by the keyring) and carrying the ledger entry's bytes, its RFC 9162 inclusion
    proof and the signed checkpoint it leads to, so :func:`sdk.consent.verify_receipt` checks it
    offline. ``record`` holds the ISO/IEC TS 27560 consent record fields as W3C DPV maps them;
    :func:`sdk.consent.kantara_receipt` gives the Kantara Consent Receipt v1.1 JSON view.
    ``recorded`` is false when the call changed nothing (an idempotent repeat): the receipt then
    re-issues the proof of the entry that already says so.
    """

    receipt_id: str
    subject: str
    action: ConsentAction
    purposes: tuple[str, ...]
    at: datetime
    notice: Notice | None = None
    source: str | None = None
    expires_at: datetime | None = None
    ledger_seqs: tuple[int, ...]
    entry_hashes: tuple[str, ...]
    recorded: bool = True
    record: dict[str, Any] | None = None
    entry_body: str | None = None
    inclusion_proof: tuple[str, ...] = ()
    """Base64 audit path of the entry (RFC 9162), leaf side first."""
    tree_size: int | None = None
    checkpoint: str | None = None
    """The C2SP signed note the inclusion proof leads to."""
    key_fingerprint: str | None = None
    public_key: str | None = None
    """Base64 Ed25519 public key of the signer, as the receipt claims it: worth nothing alone
    (a forger puts theirs), it is what a trusted checkpoint is checked against
    (:func:`sdk.consent.verify_receipt` with ``trusted_checkpoint``). Absent in receipts made
    before it was added (those need a pinned key)."""
    signature: str | None = None
    """Base64 Ed25519 signature over the canonical JSON of every other field."""

    @field_serializer("at", "expires_at")
    def _fixed_time(self, ts: datetime | None) -> str | None:
        # one fixed text form (microseconds always shown), so the signed JSON round-trips
        return None if ts is None else ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ConsentState(Frozen):
    """A subject's consent to every known purpose at one moment, derived from the ledger."""

    subject: str
    as_of: datetime
    purposes: dict[str, PurposeStatus]
    based_on: tuple[int, ...] = ()
    """Ledger sequence numbers of the events that decide this state."""
    state_hash: str
    """SHA-256 of the canonical state; goes on every decision record."""
    stale_allowed: bool = False
    """The app opted in to processing on consent given under a superseded notice."""

    def allows(self, purpose: str) -> bool:
        """True if processing for ``purpose`` is authorised at ``as_of`` (unknown: False)."""
        status = self.purposes.get(purpose)
        return status in _AUTHORISING or (status == "stale" and self.stale_allowed)


_AUTHORISING = frozenset({"given", "renewed", "not_required"})
