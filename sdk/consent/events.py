"""Consent ledger entries: their kinds, the data they carry, and reading them back as events.

One entry per call, in stream ``"consent"``::

    consent.grant / consent.withdraw / consent.refuse / consent.object / consent.invalidate
        subject = the pseudonym
        data = {"purposes": [...], "notice": {...} | null, "source": str | null,
                "expires_at": ISO | null,            # an explicit expiry (grants)
                "expires": {purpose: ISO},           # the expiry of each purpose (grants)
                "at": ISO | null,                    # when it happened, if before the commit
                "reason": str | null}                # why (invalidations)
    consent.notice    data = Notice fields (no subject): a notice version was published
    consent.purpose   data = Purpose fields (no subject): an app-defined purpose
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidConsentEvent
from ..ledger import LedgerEntry
from ..types import ConsentAction, ConsentEvent, Notice

__all__ = [
    "ACTION_KINDS",
    "PURPOSE_KIND",
    "STREAM",
    "check_at",
    "check_reason",
    "check_source",
    "events_of",
    "iso",
    "parse_iso",
]

STREAM = "consent"
PURPOSE_KIND = "consent.purpose"
ACTION_KINDS: dict[str, ConsentAction] = {
    "consent.grant": "grant",
    "consent.withdraw": "withdraw",
    "consent.refuse": "refuse",
    "consent.object": "object",
    "consent.invalidate": "invalidate",
}
_MAX_SOURCE = 128
_MAX_REASON = 200


def iso(ts: datetime) -> str:
    """A fixed ISO 8601 UTC form with microseconds."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Read back :func:`iso` (and the ``+00:00`` form older entries used)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def events_of(entry: LedgerEntry) -> list[ConsentEvent]:
    """The per-purpose events of one consent action entry ([] for other kinds).

    Raises ValueError if the entry's data is malformed (the ledger bytes verified, so only a
    writer bug could cause it).
    """
    action = ACTION_KINDS.get(entry.kind)
    if action is None or entry.subject is None:
        return []
    data = entry.data
    notice = Notice.model_validate(data["notice"], strict=False) if data.get("notice") else None
    expires: dict[str, Any] = data.get("expires") or {}
    explicit = data.get("expires_at")
    when = parse_iso(data["at"]) if data.get("at") else entry.ts
    out = []
    for purpose in data["purposes"]:
        until = expires.get(purpose, explicit)
        out.append(
            ConsentEvent(
                seq=entry.seq,
                subject=entry.subject,
                purpose=purpose,
                action=action,
                at=when,
                notice=notice,
                source=data.get("source"),
                expires_at=parse_iso(until) if until else None,
                entry_hash=entry.hash,
                recorded_at=entry.ts,
                reason=data.get("reason"),
            )
        )
    return out


def check_source(source: object) -> str | None:
    """Where consent was collected: a short label (never personal data)."""
    if source is None:
        return None
    if not isinstance(source, str) or not 0 < len(source) <= _MAX_SOURCE:
        raise InvalidConsentEvent(f"source must be a string of 1 to {_MAX_SOURCE} characters")
    return source


def check_reason(reason: object) -> str:
    """Why a consent was invalidated: a short label (never personal data)."""
    if not isinstance(reason, str) or not 0 < len(reason) <= _MAX_REASON:
        raise InvalidConsentEvent(f"reason must be a string of 1 to {_MAX_REASON} characters")
    return reason


def check_at(at: object, last: datetime | None, now: datetime) -> datetime | None:
    """Validate the moment an imported event happened: tz-aware, not in the future, and not
    before the subject's latest recorded event (events of a subject are kept in order)."""
    if at is None:
        return None
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise InvalidConsentEvent("at must be a timezone-aware datetime (e.g. UTC)")
    if at > now:
        raise InvalidConsentEvent(
            "at is in the future: a consent event can be recorded only once it happened"
        )
    if last is not None and at < last:
        raise InvalidConsentEvent(
            "out of order: this subject already has a consent event later than at; import a "
            "subject's historic events oldest first"
        )
    return at.astimezone(UTC)
