"""Consent state: the fold of a subject's consent events at one moment.

The state of every purpose at ``t`` is decided by the subject's last event for it that took effect
at or before ``t`` (events of one subject are recorded in the order they took effect, see
:meth:`~sdk.consent.ConsentLedger.grant`'s ``at``), the purpose's legal basis, the expiry the grant
recorded, and which notice versions were registered by ``t``:

==================  ===========================================  ==========================
status              when                                         DPV concept
==================  ===========================================  ==========================
``not_required``    legal basis is not consent (and no objection)  —
``objected``        Art. 21 objection to a legitimate-interest       —
                    or public-task purpose
``not_given``       no event yet                                 dpv:ConsentUnknown
``given``           a grant, valid, under the current notice     dpv:ConsentGiven
``renewed``         a grant that follows an earlier grant of the   dpv:RenewedConsentGiven
                    same purpose with nothing ending it between
``stale``           a grant under a notice version since replaced  (dpv:ConsentGiven)
``expired``         a grant whose expiry has passed              dpv:ConsentExpired
``withdrawn``       withdrawn by the person                      dpv:ConsentWithdrawn
``refused``         the person said no when asked                dpv:ConsentRefused
``invalidated``     the controller invalidated it                dpv:ConsentInvalidated
==================  ===========================================  ==========================

Only ``given``, ``renewed`` and ``not_required`` authorise processing (and ``stale`` when the app
opted in). The fold reads nothing but the events, so the state at any past moment comes from the
log alone, and rebuilding the in-memory view from the log gives the same states.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .._canonical import sha256_of
from ..types import ConsentEvent, ConsentState, PurposeStatus
from .notices import NoticeRegistry
from .purposes import PurposeCatalog

__all__ = ["DPV_STATUS", "fold_state", "next_change"]

DPV_STATUS: dict[str, str | None] = {
    "given": "dpv:ConsentGiven",
    "renewed": "dpv:RenewedConsentGiven",
    "stale": "dpv:ConsentGiven",
    "expired": "dpv:ConsentExpired",
    "withdrawn": "dpv:ConsentWithdrawn",
    "refused": "dpv:ConsentRefused",
    "invalidated": "dpv:ConsentInvalidated",
    "not_given": "dpv:ConsentUnknown",
    "objected": None,
    "not_required": None,
}
"""Our status -> the W3C DPV ConsentStatus concept (None: not a consent status)."""

_ENDS = frozenset({"withdraw", "refuse", "invalidate"})


def fold_state(
    pseudo: str,
    events: Sequence[ConsentEvent],
    catalog: PurposeCatalog,
    notices: NoticeRegistry,
    at: datetime,
    *,
    stale_allowed: bool = False,
) -> ConsentState:
    """The consent of subject ``pseudo`` to every purpose of ``catalog`` at ``at``."""
    last: dict[str, ConsentEvent] = {}
    renewal: dict[str, bool] = {}
    for event in events:
        if event.at > at:
            break  # a subject's events are in effective-time order
        prev = last.get(event.purpose)
        if event.action == "grant":
            renewal[event.purpose] = prev is not None and prev.action == "grant"
        last[event.purpose] = event
    statuses: dict[str, PurposeStatus] = {}
    for purpose in catalog:
        pid = purpose.id
        ev = last.get(pid)
        if not purpose.needs_consent:
            objected = ev is not None and ev.action == "object" and purpose.objectable
            statuses[pid] = "objected" if objected else "not_required"
        elif ev is None or ev.action == "object":
            statuses[pid] = "not_given"
        elif ev.action in _ENDS:
            statuses[pid] = {"withdraw": "withdrawn", "refuse": "refused"}.get(
                ev.action, "invalidated"
            )  # type: ignore[assignment]
        elif ev.expires_at is not None and ev.expires_at <= at:
            statuses[pid] = "expired"
        elif notices.is_stale(ev.notice, at):
            statuses[pid] = "stale"
        else:
            statuses[pid] = "renewed" if renewal.get(pid) else "given"
    based_on = tuple(sorted({e.seq for e in last.values()}))
    state_hash = sha256_of(
        {
            "subject": pseudo,
            "purposes": statuses,
            "based_on": based_on,
            "stale_allowed": stale_allowed,
        }
    )
    return ConsentState(
        subject=pseudo,
        as_of=at,
        purposes=statuses,
        based_on=based_on,
        state_hash=state_hash,
        stale_allowed=stale_allowed,
    )


def next_change(events: Sequence[ConsentEvent], at: datetime) -> datetime | None:
    """The next moment after ``at`` when the state changes on its own (an expiry), if any."""
    later = [e.expires_at for e in events if e.expires_at is not None and e.expires_at > at]
    return min(later, default=None)
