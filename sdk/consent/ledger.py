"""Grants and withdrawals on the shared ledger, and the consent state derived from them.

The ledger is the only truth. An in-memory view (events per subject, and the current state per
subject) is rebuilt from it when the Personalizer opens and kept up to date on every append, so
``state(subject)`` is a dictionary look-up on the hot path of every decision.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .._canonical import sha256_of
from ..errors import InvalidConsentEvent
from ..ledger import Ledger, LedgerEntry
from ..subjects.keystore import SubjectKeys
from ..types import ConsentEvent, ConsentReceipt, ConsentState, Notice, PurposeStatus, VerifyReport
from .purposes import PurposeCatalog

__all__ = ["ConsentLedger"]

STREAM = "consent"
_KINDS = {"consent.grant": "grant", "consent.withdraw": "withdraw"}
_MAX_SOURCE = 128


class ConsentLedger:
    """``p.consent``: record consent, read it back at any moment, verify the chain."""

    def __init__(self, ledger: Ledger, keys: SubjectKeys, purposes: PurposeCatalog) -> None:
        self._ledger = ledger
        self._keys = keys
        self.purposes = purposes
        self._lock = threading.RLock()
        self._events: dict[str, list[ConsentEvent]] = {}
        # current state per subject, with the moment it next changes on its own (an expiry)
        self._current: dict[str, tuple[ConsentState, datetime | None]] = {}
        for entry in ledger.entries(stream=STREAM):
            self._index(entry)

    # -- writing ------------------------------------------------------------------------------

    def grant(
        self,
        subject: str,
        purposes: str | Iterable[str],
        *,
        notice: Notice | str | None = None,
        source: str | None = None,
        expires_at: datetime | None = None,
    ) -> ConsentReceipt:
        """Record that ``subject`` consents to ``purposes`` (one ledger entry for all of them)."""
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidConsentEvent("expires_at must be timezone-aware (e.g. UTC)")
            if expires_at <= datetime.now(UTC):
                raise InvalidConsentEvent("expires_at is in the past; consent would never apply")
        if isinstance(notice, str):
            notice = Notice(notice_id=notice)
        data: dict[str, Any] = {
            "purposes": list(self.purposes.require(purposes)),
            "notice": notice.model_dump(mode="json") if notice is not None else None,
            "source": _check_source(source),
            "expires_at": _iso(expires_at) if expires_at is not None else None,
        }
        return self._append("consent.grant", subject, data)

    def withdraw(
        self, subject: str, purposes: str | Iterable[str], *, source: str | None = None
    ) -> ConsentReceipt:
        """Record that ``subject`` withdraws consent to ``purposes``; effective immediately."""
        data: dict[str, Any] = {
            "purposes": list(self.purposes.require(purposes)),
            "notice": None,
            "source": _check_source(source),
            "expires_at": None,
        }
        return self._append("consent.withdraw", subject, data)

    def _append(self, kind: str, subject: str, data: dict[str, Any]) -> ConsentReceipt:
        pseudo = self._keys.pseudonym(subject)
        with self._lock:
            entry = self._ledger.append(STREAM, kind, data, subject=pseudo)
            events = self._index(entry)
        first = events[0]
        return ConsentReceipt(
            receipt_id=f"rcpt-{entry.seq}-{entry.hash[:16]}",
            subject=pseudo,
            action=first.action,
            purposes=tuple(e.purpose for e in events),
            at=first.at,
            notice=first.notice,
            source=first.source,
            expires_at=first.expires_at,
            ledger_seqs=(entry.seq,),
            entry_hashes=(entry.hash,),
        )

    def _index(self, entry: LedgerEntry) -> list[ConsentEvent]:
        action = _KINDS.get(entry.kind)
        if action is None or entry.subject is None:
            return []
        data = entry.data
        notice = Notice.model_validate(data["notice"]) if data.get("notice") else None
        expires = data.get("expires_at")
        events = [
            ConsentEvent(
                seq=entry.seq,
                subject=entry.subject,
                purpose=purpose,
                action=action,  # type: ignore[arg-type]
                at=entry.ts,
                notice=notice,
                source=data.get("source"),
                expires_at=datetime.fromisoformat(expires) if expires else None,
                entry_hash=entry.hash,
            )
            for purpose in data["purposes"]
        ]
        with self._lock:
            self._events.setdefault(entry.subject, []).extend(events)
            self._current.pop(entry.subject, None)
        return events

    # -- reading ------------------------------------------------------------------------------

    def state(self, subject: str, *, as_of: datetime | None = None) -> ConsentState:
        """Consent to every purpose at ``as_of`` (default: now), derived from the ledger."""
        pseudo = self._keys.pseudonym(subject)
        return self.state_of_pseudonym(pseudo, as_of=as_of)

    def state_of_pseudonym(self, pseudo: str, *, as_of: datetime | None = None) -> ConsentState:
        """Like :meth:`state`, for a subject already known by pseudonym."""
        now = datetime.now(UTC)
        if as_of is None:
            cached = self._current.get(pseudo)
            if cached is not None and (cached[1] is None or now < cached[1]):
                return cached[0]
        elif as_of.tzinfo is None:
            raise InvalidConsentEvent("as_of must be timezone-aware (e.g. UTC)")
        at = as_of or now
        with self._lock:
            events = list(self._events.get(pseudo, ()))
        state = self._fold(pseudo, events, at)
        if as_of is None:
            expiries = [
                e.expires_at for e in events if e.expires_at is not None and e.expires_at > at
            ]
            self._current[pseudo] = (state, min(expiries, default=None))
        return state

    def _fold(self, pseudo: str, events: list[ConsentEvent], at: datetime) -> ConsentState:
        last: dict[str, ConsentEvent] = {}
        for event in events:
            if event.at <= at:
                last[event.purpose] = event
        statuses: dict[str, PurposeStatus] = {}
        for purpose in self.purposes:
            event = last.get(purpose.id)
            if not purpose.needs_consent:
                statuses[purpose.id] = "not_required"
            elif event is None:
                statuses[purpose.id] = "not_given"
            elif event.action == "withdraw":
                statuses[purpose.id] = "withdrawn"
            elif event.expires_at is not None and event.expires_at <= at:
                statuses[purpose.id] = "expired"
            else:
                statuses[purpose.id] = "given"
        based_on = tuple(sorted({e.seq for e in last.values()}))
        state_hash = sha256_of({"subject": pseudo, "purposes": statuses, "based_on": based_on})
        return ConsentState(
            subject=pseudo, as_of=at, purposes=statuses, based_on=based_on, state_hash=state_hash
        )

    def history(self, subject: str) -> list[ConsentEvent]:
        """Every consent event of ``subject``, oldest first."""
        pseudo = self._keys.pseudonym(subject)
        with self._lock:
            return list(self._events.get(pseudo, ()))

    def history_of_pseudonym(self, pseudo: str) -> list[ConsentEvent]:
        """Like :meth:`history`, for a subject already known by pseudonym."""
        with self._lock:
            return list(self._events.get(pseudo, ()))

    def verify(self) -> VerifyReport:
        """Check the whole ledger chain the consent records are part of."""
        return self._ledger.verify()


def _check_source(source: str | None) -> str | None:
    if source is None:
        return None
    if not isinstance(source, str) or not 0 < len(source) <= _MAX_SOURCE:
        raise InvalidConsentEvent(f"source must be a string of 1 to {_MAX_SOURCE} characters")
    return source


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()
