"""Staff curation: hand-picked items for one person, and shop-wide item decisions.

``p.curation.pick(subject, item_id, staff=...)`` puts an item into that person's next lists, in the
slots the shop configures (``configure(staff_slots=(0, 3))``), tagged ``source="staff"`` and
explained in plain words ("Picked for you by Anna at the shop, after your note"). A pick applies
only while the person allows personal use (the ``personalization`` purpose, and not a
non-profiling list), until it expires, and never over the person's own "not interested"
(``p.preferences``): such items are removed before anything is placed.

``block`` / ``allow`` / ``feature`` are shop-wide decisions about an item by a named person:
blocked items are never served to anyone; featured items are promoted (disclosed as such).

Everything is on the ledger (stream ``curation``), folded into a view that catches up before every
request, so a block made in one process applies to every other process's next list. Which item
was picked for whom, and why, is personal: the pick's item id, reason and note id are sealed under
the person's key (unreadable once they are erased); the staff id and expiry are in clear.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import Field

from ..errors import CurationError
from ..keys import SubjectKeys
from ..keys.sealed import open_sealed, seal
from ..ledger import Ledger, LedgerEntry
from ..ledger.catchup import CaughtUpView, Follower, read_record
from ..types import Frozen
from ..types.human import ItemDecision, ItemVerdict, StaffPick

if TYPE_CHECKING:
    from ..subjects.notes import Notes

__all__ = [
    "STREAM",
    "Curation",
    "CurationSettings",
    "ItemRecord",
    "PickRecord",
    "RequestCuration",
    "UnpickRecord",
]

STREAM = "curation"
_PICK, _UNPICK, _ITEM = "curation.pick", "curation.unpick", "curation.item"
_STAFF = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")
_MAX_ITEM = 128
_MAX_REASON = 2000
_MAX_NAME = 64


class PickRecord(Frozen):
    """Ledger record ``curation.pick`` (subject: the person's pseudonym)."""

    pick_id: str
    staff: str
    expires_at: str | None = None
    """ISO 8601 UTC, or None: until un-picked."""
    sealed: str
    """``{"item_id", "reason", "note_id"}`` under the person's key."""


class UnpickRecord(Frozen):
    """Ledger record ``curation.unpick``: picks withdrawn by a member of staff."""

    pick_ids: tuple[str, ...]
    staff: str


class ItemRecord(Frozen):
    """Ledger record ``curation.item``: a shop-wide decision about one item."""

    item_id: str
    verdict: ItemVerdict
    staff: str
    reason: str | None = None


class CurationSettings(Frozen):
    """How the shop places curated items (per process; set with ``p.curation.configure``)."""

    staff_slots: tuple[int, ...] = (0, 3)
    """0-based positions in a list that a person's staff picks take, in order."""
    staff_names: dict[str, str] = Field(default_factory=dict)
    """Staff id -> the display name a customer reads ("anna.k" -> "Anna")."""
    featured_slots: int = 1
    """How many top places featured items may take in one list."""


@dataclass(frozen=True)
class RequestCuration:
    """What curation changes in one request: items to drop, to promote, and staff picks."""

    blocked: frozenset[str] = frozenset()
    featured: frozenset[str] = frozenset()
    picks: tuple[StaffPick, ...] = ()
    settings: CurationSettings = field(default_factory=CurationSettings)


@dataclass
class _Pick:
    pick_id: str
    subject: str
    record: PickRecord
    at: datetime


class _CurationView(CaughtUpView):
    streams = (STREAM,)

    def __init__(self, ledger: Ledger, follower: Follower | None = None) -> None:
        self.items: dict[str, ItemDecision] = {}
        self.picks: dict[str, dict[str, _Pick]] = {}
        super().__init__(ledger, follower)

    def clear(self) -> None:
        self.items.clear()
        self.picks.clear()

    def fold(self, entry: LedgerEntry) -> None:
        if entry.kind == _ITEM:
            rec = read_record(ItemRecord, entry)
            self.items[rec.item_id] = ItemDecision(
                item_id=rec.item_id,
                verdict=rec.verdict,
                staff=rec.staff,
                reason=rec.reason,
                at=entry.ts,
                seq=entry.seq,
            )
        elif entry.kind == _PICK and entry.subject:
            pick = read_record(PickRecord, entry)
            self.picks.setdefault(entry.subject, {})[pick.pick_id] = _Pick(
                pick.pick_id, entry.subject, pick, entry.ts
            )
        elif entry.kind == _UNPICK and entry.subject:
            gone = read_record(UnpickRecord, entry)
            mine = self.picks.get(entry.subject, {})
            for pick_id in gone.pick_ids:
                mine.pop(pick_id, None)


class Curation:
    """``p.curation``: staff picks for a person, and shop-wide item decisions."""

    def __init__(
        self,
        ledger: Ledger,
        keys: SubjectKeys,
        notes: Notes | None = None,
        *,
        follower: Follower | None = None,
    ) -> None:
        self._ledger = ledger
        self._keys = keys
        self._notes = notes
        self._view = _CurationView(ledger, follower)
        self._settings = CurationSettings()
        self._settings_lock = threading.Lock()

    # -- settings -----------------------------------------------------------------------------

    def configure(
        self,
        *,
        staff_slots: Sequence[int] | None = None,
        staff_names: Mapping[str, str] | None = None,
        featured_slots: int | None = None,
    ) -> CurationSettings:
        """Set where staff picks go (0-based list positions), staff display names, and how many
        places featured items may take. Unnamed settings keep their value."""
        current = self.settings
        slots = current.staff_slots if staff_slots is None else tuple(staff_slots)
        if not all(type(s) is int and 0 <= s < 1000 for s in slots) or len(set(slots)) != len(
            slots
        ):
            raise CurationError("staff_slots are distinct list positions from 0 to 999")
        names = dict(current.staff_names if staff_names is None else staff_names)
        for staff, name in names.items():
            _staff(staff)
            if not isinstance(name, str) or not 0 < len(name.strip()) <= _MAX_NAME:
                raise CurationError(f"a staff display name is 1 to {_MAX_NAME} characters")
        featured = current.featured_slots if featured_slots is None else featured_slots
        if type(featured) is not int or not 0 <= featured <= 100:
            raise CurationError("featured_slots is an int from 0 to 100")
        settings = CurationSettings(
            staff_slots=tuple(sorted(slots)), staff_names=names, featured_slots=featured
        )
        with self._settings_lock:
            self._settings = settings
        return settings

    @property
    def settings(self) -> CurationSettings:
        """The current settings."""
        with self._settings_lock:
            return self._settings

    def staff_name(self, staff: str) -> str | None:
        """The display name configured for ``staff`` (None: not configured)."""
        return self.settings.staff_names.get(staff)

    # -- staff picks --------------------------------------------------------------------------

    def pick(
        self,
        subject: str,
        item_id: str,
        *,
        staff: str,
        note_id: str | None = None,
        reason: str | None = None,
        expires_at: datetime | None = None,
    ) -> StaffPick:
        """``staff`` hand-picks ``item_id`` for ``subject`` (optionally after their note)."""
        _staff(staff)
        _item(item_id)
        if reason is not None and (not isinstance(reason, str) or len(reason) > _MAX_REASON):
            raise CurationError(f"a reason is text of at most {_MAX_REASON} characters")
        if expires_at is not None:
            if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
                raise CurationError("expires_at must be a timezone-aware datetime")
            if expires_at <= datetime.now(UTC):
                raise CurationError("expires_at is in the past; a pick must expire later")
        pseudo = self._keys.pseudonym(subject)
        if note_id is not None and (self._notes is None or not self._notes.exists(note_id, pseudo)):
            raise CurationError("note_id names no note of this person")
        pick_id = f"pick_{os.urandom(12).hex()}"
        body = {"item_id": item_id, "reason": reason, "note_id": note_id}
        record = PickRecord(
            pick_id=pick_id,
            staff=staff,
            expires_at=expires_at.astimezone(UTC).isoformat() if expires_at else None,
            sealed=seal(self._keys, pseudo, _field(pick_id), body),
        )
        entry = self._ledger.append(STREAM, _PICK, record.model_dump(mode="json"), subject=pseudo)
        return self._staff_pick(_Pick(pick_id, pseudo, record, entry.ts), body)

    def unpick(self, subject: str, item_id: str, *, staff: str) -> tuple[StaffPick, ...]:
        """Withdraw every pick of ``item_id`` for ``subject``; returns what was withdrawn."""
        _staff(staff)
        _item(item_id)
        pseudo = self._keys.pseudonym(subject, create=False)
        gone = tuple(p for p in self._picks_of(pseudo, expired=True) if p.item_id == item_id)
        if not gone:
            raise CurationError("this person has no current pick of that item")
        record = UnpickRecord(pick_ids=tuple(p.pick_id for p in gone), staff=staff)
        self._ledger.append(STREAM, _UNPICK, record.model_dump(mode="json"), subject=pseudo)
        return gone

    def picks(self, subject: str) -> list[StaffPick]:
        """The picks that apply to ``subject`` now (not expired, not withdrawn), oldest first."""
        return self._picks_of(self._keys.pseudonym(subject, create=False))

    def _picks_of(
        self, pseudo: str, *, expired: bool = False, caught_up: bool = False
    ) -> list[StaffPick]:
        if not caught_up:
            self._view.catch_up()
        with self._view._lock:
            rows = sorted(self._view.picks.get(pseudo, {}).values(), key=lambda r: r.at)
        now = datetime.now(UTC)
        out = []
        for row in rows:
            body = open_sealed(self._keys, pseudo, _field(row.pick_id), row.record.sealed)
            if body is None:  # erased: nothing of the pick is readable any more
                continue
            pick = self._staff_pick(row, body)
            if expired or pick.expires_at is None or pick.expires_at > now:
                out.append(pick)
        return out

    def _staff_pick(self, row: _Pick, body: Mapping[str, object]) -> StaffPick:
        rec = row.record
        return StaffPick(
            pick_id=row.pick_id,
            subject=row.subject,
            item_id=str(body["item_id"]),
            staff=rec.staff,
            staff_name=self.staff_name(rec.staff) or "",
            note_id=body.get("note_id"),  # type: ignore[arg-type]
            reason=body.get("reason"),  # type: ignore[arg-type]
            picked_at=row.at,
            expires_at=datetime.fromisoformat(rec.expires_at) if rec.expires_at else None,
        )

    # -- shop-wide item decisions -------------------------------------------------------------

    def block(self, item_id: str, *, staff: str, reason: str) -> ItemDecision:
        """Never serve ``item_id`` to anyone; the reason is required (it names the item, not a
        person, and is stored as written)."""
        if not isinstance(reason, str) or not reason.strip():
            raise CurationError("a block needs a reason; say why the item must not be shown")
        return self._decide(item_id, "blocked", staff, reason)

    def allow(self, item_id: str, *, staff: str, reason: str | None = None) -> ItemDecision:
        """Lift a block (or a feature): the item is ranked like any other again."""
        return self._decide(item_id, "allowed", staff, reason)

    def feature(self, item_id: str, *, staff: str, reason: str | None = None) -> ItemDecision:
        """Promote ``item_id`` in every list it is a candidate of (disclosed as promoted)."""
        return self._decide(item_id, "featured", staff, reason)

    def item_decisions(self) -> dict[str, ItemDecision]:
        """The current decision per item (the latest one counts)."""
        self._view.catch_up()
        with self._view._lock:
            return dict(self._view.items)

    def blocked(self) -> frozenset[str]:
        """Items no one is shown."""
        return frozenset(i for i, d in self.item_decisions().items() if d.verdict == "blocked")

    def _decide(
        self, item_id: str, verdict: ItemVerdict, staff: str, reason: str | None
    ) -> ItemDecision:
        _staff(staff)
        _item(item_id)
        if reason is not None and (not isinstance(reason, str) or len(reason) > _MAX_REASON):
            raise CurationError(f"a reason is text of at most {_MAX_REASON} characters")
        record = ItemRecord(item_id=item_id, verdict=verdict, staff=staff, reason=reason)
        entry = self._ledger.append(STREAM, _ITEM, record.model_dump(mode="json"))
        return ItemDecision(
            item_id=item_id, verdict=verdict, staff=staff, reason=reason, at=entry.ts, seq=entry.seq
        )

    # -- serving ------------------------------------------------------------------------------

    def for_request(self, pseudo: str, *, personal: bool) -> RequestCuration:
        """What applies to one list for ``pseudo``; staff picks only when ``personal`` use is
        allowed (the person's consent, and not a non-profiling list)."""
        decisions = self.item_decisions()  # catches the view up: one read of the ledger
        return RequestCuration(
            blocked=frozenset(i for i, d in decisions.items() if d.verdict == "blocked"),
            featured=frozenset(i for i, d in decisions.items() if d.verdict == "featured"),
            picks=tuple(self._picks_of(pseudo, caught_up=True)) if personal else (),
            settings=self.settings,
        )


def _staff(staff: object) -> str:
    if not isinstance(staff, str) or not _STAFF.match(staff):
        raise CurationError("staff must be a staff id of 1-128 letters, digits or . _ @ : -")
    return staff


def _item(item_id: object) -> str:
    if not isinstance(item_id, str) or not 0 < len(item_id) <= _MAX_ITEM:
        raise CurationError(f"an item id is a string of 1-{_MAX_ITEM} characters")
    return item_id


def _field(pick_id: str) -> str:
    return f"pick/{pick_id}"
