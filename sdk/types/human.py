"""The human touch: disclosures, customer notes, staff picks and item decisions, sampled list
reviews and human-contact cases, as they cross the boundary.

Subjects appear only as pseudonyms. Personal text (a note, its reply, a contact message, a pick's
reason) is ``None`` once the person was erased: it was encrypted under their destroyed key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from .base import Frozen

NoteStatus = Literal["open", "resolved"]
NoteAction = Literal["answered", "picked_items", "noted", "no_action", "forwarded"]
ItemVerdict = Literal["blocked", "allowed", "featured"]
ContactStatus = Literal["open", "assigned", "closed"]
ContactRoute = Literal["routine", "person"]
EscalationReason = Literal["topic", "sensitive_concept", "contested_decision", "repeated_requests"]


class Disclosure(Frozen):
    """What a response tells the person about who made it, and how to reach a person.

    Truthful by construction: ``automated`` is false once a person approved or overrode a
    decision, and for an item a member of staff picked by hand.
    """

    locale: str
    automated: bool
    """An automated system produced this, and no person has decided it."""
    reviewed: bool = False
    """A person reviewed it (approved or changed the outcome)."""
    pending_review: bool = False
    """Held for a person: an automated proposal that does not count until they decide."""
    staff_pick: bool = False
    """Picked by a member of staff, by hand."""
    promoted: bool = False
    """Promoted (paid, or featured by the shop), not ranked on merit alone."""
    text: str
    """The disclosure in plain words, in ``locale``."""
    contact: str
    """How to reach a person (configurable per shop)."""


class Note(Frozen):
    """A customer's note to the shop, as staff read it from the inbox."""

    note_id: str
    subject: str
    """The person's pseudonym."""
    topic: str | None
    text: str | None
    """The note, decrypted; ``None`` once the person was erased."""
    status: NoteStatus
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    action: NoteAction | None = None
    reply: str | None = None


class StaffPick(Frozen):
    """An item a member of staff picked for one person."""

    pick_id: str
    subject: str
    item_id: str
    staff: str
    staff_name: str
    note_id: str | None = None
    reason: str | None = None
    picked_at: datetime
    expires_at: datetime | None = None


class ItemDecision(Frozen):
    """A shop-wide decision by staff about one item: blocked, allowed again, or featured."""

    item_id: str
    verdict: ItemVerdict
    staff: str
    reason: str | None = None
    at: datetime
    seq: int


class SampledList(Frozen):
    """A served recommendation list drawn for review by a person (seeded by its decision id)."""

    decision_id: str
    model: str
    model_version: int
    items: tuple[str, ...]
    sampled_at: datetime
    reviewed: bool = False
    reviewed_by: str | None = None
    off_brand: tuple[str, ...] = ()


class OversightMetric(Frozen):
    """Per model version: how many served lists were sampled, reviewed, and held an off-brand
    item; ``off_brand_share`` is ``with_off_brand / reviewed`` (``None`` before any review)."""

    model: str
    model_version: int
    sampled: int
    reviewed: int
    with_off_brand: int
    off_brand_share: float | None


class Escalation(Frozen):
    """Why a contact case went to a person rather than the routine queue."""

    reason: EscalationReason
    detail: str
    """In words, for staff (what matched); empty once the person was erased (it was sealed
    under their key, like the message)."""


class ContactCase(Frozen):
    """A person's request to reach a human, and where it stands."""

    case_id: str
    subject: str
    decision_id: str | None = None
    topic: str | None = None
    message: str | None
    """The person's words, decrypted; ``None`` once the person was erased."""
    route: ContactRoute
    escalations: tuple[Escalation, ...] = ()
    status: ContactStatus
    assignee: str | None = None
    created_at: datetime
    due_at: datetime
    closed_at: datetime | None = None
    closed_by: str | None = None
    overdue: bool = False
