"""Reaching a person: human-contact cases, declarative triage, service levels.

``p.contact.request(subject, message=..., decision_id=None, topic=None)`` opens a case. Triage is
declarative (:class:`TriagePolicy`): a case goes to a person (route ``"person"``) when its topic is
one the shop says needs a person, when the message mentions a sensitive concept, when the decision
it names was contested, or when the person asked repeatedly; otherwise it is ``"routine"``. Every
escalation says why (:class:`~sdk.types.Escalation`). The due time comes from the service level of
the route (:class:`ServiceLevel`); overdue cases are listed by :meth:`Contact.overdue`.

On the ledger (stream ``contact``): ``contact.requested`` (case id, decision id, route, the
escalation reason codes and due time in clear; the message, topic and what matched sealed under
the person's key), ``contact.assigned`` and ``contact.closed`` (the staff id; a closing note
sealed). The cases are a view folded from the stream, caught up before every read.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import Field

from ..errors import ContactCaseError, DecisionNotFound
from ..explain.disclosure import Disclosures
from ..keys import SubjectKeys
from ..keys.sealed import open_sealed, seal
from ..ledger import Ledger, LedgerEntry
from ..ledger.catchup import CaughtUpView, Follower, read_record
from ..types import Frozen
from ..types.human import (
    ContactCase,
    ContactRoute,
    ContactStatus,
    Escalation,
    EscalationReason,
)
from .trail import AuditTrail

__all__ = [
    "STREAM",
    "CaseAssigned",
    "CaseClosed",
    "CaseRequested",
    "Contact",
    "ServiceLevel",
    "TriagePolicy",
]

STREAM = "contact"
_REQUESTED, _ASSIGNED, _CLOSED = "contact.requested", "contact.assigned", "contact.closed"
_STAFF = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")
_CASE_ID = re.compile(r"^case_[0-9a-f]{24}$")
_MAX_TEXT = 4000
_MAX_TOPIC = 64


class TriagePolicy(Frozen):
    """Which requests go to a person rather than the routine queue (all rules apply)."""

    person_topics: tuple[str, ...] = (
        "complaint", "data_protection", "health", "human_intervention", "legal", "payment",
    )
    sensitive_concepts: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "health": ("health", "ill", "sick", "disab", "pregnan", "medic", "allerg"),
            "bereavement": ("died", "funeral", "passed away", "bereave"),
            "money trouble": ("debt", "bankrupt", "cannot pay", "can't pay"),
            "religion or belief": ("religio", "church", "mosque", "synagog"),
        }
    )
    """Concept -> lower-case word beginnings; a message with a word starting so goes to a
    person."""
    contested_decisions: bool = True
    """A request naming a decision the person contested goes to a person."""
    repeat_threshold: int = Field(default=2, ge=1, le=100)
    """This many requests (this one included) within ``repeat_window_days`` go to a person."""
    repeat_window_days: int = Field(default=30, ge=1, le=3660)


class ServiceLevel(Frozen):
    """How soon a person answers, per route."""

    routine: timedelta = timedelta(hours=72)
    person: timedelta = timedelta(hours=24)


class CaseRequested(Frozen):
    """Ledger record ``contact.requested``."""

    case_id: str
    decision_id: str | None = None
    route: ContactRoute
    reasons: tuple[EscalationReason, ...]
    due_at: str
    """ISO 8601 UTC."""
    sealed: str
    """``{"message", "topic", "details"}`` under the person's key."""


class CaseAssigned(Frozen):
    """Ledger record ``contact.assigned``: who takes the case (and who handed it over)."""

    case_id: str
    staff: str
    assignee: str


class CaseClosed(Frozen):
    """Ledger record ``contact.closed``."""

    case_id: str
    staff: str
    sealed_note: str | None = None


@dataclass
class _Case:
    subject: str
    requested: CaseRequested
    at: datetime
    assignee: str | None = None
    closed: CaseClosed | None = None
    closed_at: datetime | None = None


class _Cases(CaughtUpView):
    streams = (STREAM,)

    def __init__(self, ledger: Ledger, follower: Follower | None = None) -> None:
        self.cases: dict[str, _Case] = {}
        super().__init__(ledger, follower)

    def clear(self) -> None:
        self.cases.clear()

    def fold(self, entry: LedgerEntry) -> None:
        if entry.kind == _REQUESTED:
            rec = read_record(CaseRequested, entry)
            self.cases[rec.case_id] = _Case(entry.subject or "", rec, entry.ts)
        elif entry.kind == _ASSIGNED:
            assigned = read_record(CaseAssigned, entry)
            if (case := self.cases.get(assigned.case_id)) is not None:
                case.assignee = assigned.assignee
        elif entry.kind == _CLOSED:
            closed = read_record(CaseClosed, entry)
            if (case := self.cases.get(closed.case_id)) is not None and case.closed is None:
                case.closed, case.closed_at = closed, entry.ts


class Contact:
    """``p.contact``: a person asks for a human; staff triage, take and close the cases."""

    def __init__(
        self,
        ledger: Ledger,
        keys: SubjectKeys,
        trail: AuditTrail,
        disclosures: Disclosures | None = None,
        *,
        follower: Follower | None = None,
    ) -> None:
        self._ledger = ledger
        self._disclosures = disclosures or Disclosures()
        self._keys = keys
        self._trail = trail
        self._cases = _Cases(ledger, follower)
        self._lock = threading.Lock()
        self._triage = TriagePolicy()
        self._service = ServiceLevel()

    def configure(
        self,
        *,
        triage: TriagePolicy | None = None,
        service_level: ServiceLevel | None = None,
        contact_text: Mapping[str, str] | None = None,
    ) -> None:
        """Set the triage rules, the service levels and the contact text every response's
        disclosure carries (per locale, e.g. ``{"en": "Ask for a person: ..."}``); per process."""
        if contact_text is not None:
            self._disclosures.set_contact(contact_text)
        if triage is not None and not isinstance(triage, TriagePolicy):
            raise ContactCaseError("triage must be a TriagePolicy")
        if service_level is not None and not isinstance(service_level, ServiceLevel):
            raise ContactCaseError("service_level must be a ServiceLevel")
        with self._lock:
            self._triage = triage or self._triage
            self._service = service_level or self._service

    def request(
        self,
        subject: str,
        *,
        decision_id: str | None = None,
        message: str,
        topic: str | None = None,
    ) -> ContactCase:
        """Open a case: ``subject`` wants to reach a person (about ``decision_id``, if given)."""
        if not isinstance(message, str) or not message.strip() or len(message) > _MAX_TEXT:
            raise ContactCaseError(f"a message is 1 to {_MAX_TEXT} characters of text")
        if topic is not None and (not isinstance(topic, str) or not 0 < len(topic) <= _MAX_TOPIC):
            raise ContactCaseError(f"a topic is 1 to {_MAX_TOPIC} characters of text")
        pseudo = self._keys.pseudonym(subject)
        contested = False
        if decision_id is not None:
            try:
                state = self._trail.state(decision_id)
            except DecisionNotFound:
                raise ContactCaseError("decision_id names no decision") from None
            if state.subject != pseudo:
                raise ContactCaseError("decision_id names no decision of this person")
            contested = state.contested or state.was_contested
        with self._lock:
            policy, service = self._triage, self._service
        escalations = self._triage_of(policy, pseudo, message, topic, contested)
        route: ContactRoute = "person" if escalations else "routine"
        case_id = f"case_{os.urandom(12).hex()}"
        due = datetime.now(UTC) + (service.person if escalations else service.routine)
        body = {
            "message": message,
            "topic": topic,
            "details": [e.detail for e in escalations],
        }
        record = CaseRequested(
            case_id=case_id,
            decision_id=decision_id,
            route=route,
            reasons=tuple(e.reason for e in escalations),
            due_at=due.isoformat(),
            sealed=seal(self._keys, pseudo, _field(case_id), body),
        )
        self._ledger.append(STREAM, _REQUESTED, record.model_dump(mode="json"), subject=pseudo)
        return self.get(case_id)

    def _triage_of(
        self,
        policy: TriagePolicy,
        pseudo: str,
        message: str,
        topic: str | None,
        contested: bool,
    ) -> list[Escalation]:
        out: list[Escalation] = []
        if topic is not None and topic.lower() in policy.person_topics:
            out.append(Escalation(reason="topic", detail=f"the topic {topic!r} needs a person"))
        lowered = message.lower()
        for concept, words in policy.sensitive_concepts.items():
            # a word part matches at the start of a word: "ill" finds "illness", not "will"
            if any(re.search(rf"(?<![a-z]){re.escape(w)}", lowered) for w in words):
                out.append(
                    Escalation(
                        reason="sensitive_concept", detail=f"the message touches on {concept}"
                    )
                )
        if contested and policy.contested_decisions:
            out.append(
                Escalation(
                    reason="contested_decision",
                    detail="the person contested the decision this is about",
                )
            )
        since = datetime.now(UTC) - timedelta(days=policy.repeat_window_days)
        self._cases.catch_up()
        with self._cases._lock:
            earlier = sum(
                1 for c in self._cases.cases.values() if c.subject == pseudo and c.at >= since
            )
        if earlier + 1 >= policy.repeat_threshold and policy.repeat_threshold > 1:
            out.append(
                Escalation(
                    reason="repeated_requests",
                    detail=f"request {earlier + 1} from this person within "
                    f"{policy.repeat_window_days} days",
                )
            )
        return out

    def get(self, case_id: str) -> ContactCase:
        """One case, its message decrypted for staff (``None`` once the person was erased)."""
        return self._view(self._row(case_id))

    def cases(self, *, status: str | None = None) -> list[ContactCase]:
        """Cases oldest first: all, or those ``"open"``, ``"assigned"`` or ``"closed"``."""
        if status not in (None, "open", "assigned", "closed"):
            raise ContactCaseError("status must be 'open', 'assigned', 'closed' or None")
        self._cases.catch_up()
        with self._cases._lock:
            rows = list(self._cases.cases.values())
        views = [self._view(r) for r in rows]
        return [c for c in views if status is None or c.status == status]

    def overdue(self, *, now: datetime | None = None) -> list[ContactCase]:
        """Cases not closed whose due time has passed, most overdue first."""
        at = now or datetime.now(UTC)
        late = [c for c in self.cases() if c.status != "closed" and c.due_at < at]
        return sorted(late, key=lambda c: c.due_at)

    def assign(self, case_id: str, *, staff: str, assignee: str | None = None) -> ContactCase:
        """``staff`` assigns the case to ``assignee`` (default: themselves)."""
        _staff(staff)
        to = _staff(assignee if assignee is not None else staff)
        row = self._open(case_id)
        record = CaseAssigned(case_id=case_id, staff=staff, assignee=to)
        self._ledger.append(STREAM, _ASSIGNED, record.model_dump(mode="json"), subject=row.subject)
        return self.get(case_id)

    def close(self, case_id: str, *, staff: str, note: str | None = None) -> ContactCase:
        """``staff`` closes the case (an optional closing note, sealed under the person's key)."""
        _staff(staff)
        if note is not None and (
            not isinstance(note, str) or not note.strip() or len(note) > _MAX_TEXT
        ):
            raise ContactCaseError(f"a closing note is 1 to {_MAX_TEXT} characters")
        row = self._open(case_id)
        sealed = (
            seal(self._keys, row.subject, _field(case_id, "note"), {"note": note})
            if note is not None
            else None
        )
        record = CaseClosed(case_id=case_id, staff=staff, sealed_note=sealed)
        self._ledger.append(STREAM, _CLOSED, record.model_dump(mode="json"), subject=row.subject)
        return self.get(case_id)

    def of_subject(self, subject: str) -> list[ContactCase]:
        """Every case of one person, oldest first."""
        pseudo = self._keys.pseudonym(subject, create=False)
        return [c for c in self.cases() if c.subject == pseudo]

    def _open(self, case_id: str) -> _Case:
        row = self._row(case_id)
        if row.closed is not None:
            raise ContactCaseError(f"case {case_id} is closed")
        return row

    def _row(self, case_id: str) -> _Case:
        if not isinstance(case_id, str) or not _CASE_ID.match(case_id):
            raise ContactCaseError("a case id looks like case_ and 24 hex digits")
        self._cases.catch_up()
        with self._cases._lock:
            row = self._cases.cases.get(case_id)
        if row is None:
            raise ContactCaseError(f"there is no case {case_id}")
        return row

    def _view(self, row: _Case) -> ContactCase:
        rec = row.requested
        body = open_sealed(self._keys, row.subject, _field(rec.case_id), rec.sealed)
        details = list(body["details"]) if body else [""] * len(rec.reasons)
        due = datetime.fromisoformat(rec.due_at)
        status: ContactStatus = (
            "closed" if row.closed else ("assigned" if row.assignee else "open")
        )
        return ContactCase(
            case_id=rec.case_id,
            subject=row.subject,
            decision_id=rec.decision_id,
            topic=body["topic"] if body else None,
            message=body["message"] if body else None,
            route=rec.route,
            escalations=tuple(
                Escalation(reason=r, detail=d) for r, d in zip(rec.reasons, details, strict=True)
            ),
            status=status,
            assignee=row.assignee,
            created_at=row.at,
            due_at=due,
            closed_at=row.closed_at,
            closed_by=row.closed.staff if row.closed else None,
            overdue=status != "closed" and due < datetime.now(UTC),
        )


def _staff(staff: object) -> str:
    if not isinstance(staff, str) or not _STAFF.match(staff):
        raise ContactCaseError("staff must be a staff id of 1-128 letters, digits or . _ @ : -")
    return staff


def _field(case_id: str, part: str = "message") -> str:
    return f"contact/{case_id}/{part}"
