"""Customer notes: what a person tells the shop, read and answered by a person at the shop.

``p.notes.add(subject, text, topic=...)`` needs the person's grant of the ``customer_notes``
purpose. The note's text and topic are sealed under the person's key (erased with them); the
ledger (stream ``notes``) records who did what and when: ``note.added`` (note id, the sealed
text) and ``note.resolved`` (staff id, the action taken, a sealed reply). The inbox is a view
folded from that stream, caught up before every read, so a note added by one process is in every
other process's inbox on its next call.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, get_args

from ..errors import NoteConsentMissing, NoteStateError, UnknownSubject
from ..keys import SubjectKeys
from ..keys.sealed import open_sealed, seal
from ..ledger import Ledger, LedgerEntry
from ..ledger.catchup import CaughtUpView, Follower, read_record
from ..types import Frozen
from ..types.human import Note, NoteAction, NoteStatus

if TYPE_CHECKING:
    from ..consent import ConsentLedger

__all__ = ["NOTES_PURPOSE", "STREAM", "NoteAdded", "NoteResolved", "Notes"]

STREAM = "notes"
NOTES_PURPOSE = "customer_notes"
_ADDED, _RESOLVED = "note.added", "note.resolved"
_MAX_TEXT = 4000
_MAX_TOPIC = 64
_STAFF = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")
_NOTE_ID = re.compile(r"^note_[0-9a-f]{24}$")
_ACTIONS: tuple[str, ...] = get_args(NoteAction)


class NoteAdded(Frozen):
    """Ledger record ``note.added``: the note's id and its sealed text and topic."""

    note_id: str
    purpose: str
    sealed: str
    """Canonical JSON ``{"text", "topic"}`` under the person's key."""


class NoteResolved(Frozen):
    """Ledger record ``note.resolved``: who resolved a note, how, and a sealed reply."""

    note_id: str
    staff: str
    action: NoteAction
    sealed_reply: str | None = None


@dataclass
class _NoteRow:
    note_id: str
    subject: str
    sealed: str
    created_at: datetime
    resolved: NoteResolved | None = None
    resolved_at: datetime | None = None


class _Inbox(CaughtUpView):
    streams = (STREAM,)

    def __init__(self, ledger: Ledger, follower: Follower | None = None) -> None:
        self.notes: dict[str, _NoteRow] = {}
        super().__init__(ledger, follower)

    def clear(self) -> None:
        self.notes.clear()

    def fold(self, entry: LedgerEntry) -> None:
        if entry.kind == _ADDED:
            added = read_record(NoteAdded, entry)
            self.notes[added.note_id] = _NoteRow(
                added.note_id, entry.subject or "", added.sealed, entry.ts
            )
        elif entry.kind == _RESOLVED:
            done = read_record(NoteResolved, entry)
            row = self.notes.get(done.note_id)
            if row is not None and row.resolved is None:
                row.resolved, row.resolved_at = done, entry.ts


class Notes:
    """``p.notes``: customer notes, and the staff inbox that works them."""

    def __init__(
        self,
        ledger: Ledger,
        keys: SubjectKeys,
        consent: ConsentLedger,
        *,
        follower: Follower | None = None,
    ) -> None:
        self._ledger = ledger
        self._keys = keys
        self._consent = consent
        self._inbox = _Inbox(ledger, follower)

    def add(self, subject: str, text: str, *, topic: str | None = None) -> Note:
        """Store a note from ``subject`` to the shop (their grant of ``customer_notes`` needed)."""
        if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
            raise NoteStateError(f"a note is 1 to {_MAX_TEXT} characters of text")
        if topic is not None and (not isinstance(topic, str) or not 0 < len(topic) <= _MAX_TOPIC):
            raise NoteStateError(f"a topic is 1 to {_MAX_TOPIC} characters of text")
        pseudo = self._keys.pseudonym(subject)
        # an erased id raises SubjectErased here, before the consent check says "not agreed";
        # no data key yet is fine: seal() makes one once consent is checked
        with contextlib.suppress(UnknownSubject):
            self._keys.cipher(pseudo, create=False)
        if not self._consent.state_of_pseudonym(pseudo).allows(NOTES_PURPOSE):
            raise NoteConsentMissing(
                f"this person has not agreed to purpose {NOTES_PURPOSE!r}, so their note cannot "
                f"be kept; ask them first (consent.grant(subject, {NOTES_PURPOSE!r})). Nothing "
                "was stored."
            )
        note_id = f"note_{os.urandom(12).hex()}"
        record = NoteAdded(
            note_id=note_id,
            purpose=NOTES_PURPOSE,
            sealed=seal(self._keys, pseudo, _field(note_id), {"text": text, "topic": topic}),
        )
        self._ledger.append(STREAM, _ADDED, record.model_dump(mode="json"), subject=pseudo)
        return self.get(note_id)

    def inbox(self, status: NoteStatus | None = "open") -> list[Note]:
        """Notes for staff, oldest first: ``"open"`` (default), ``"resolved"``, or ``None`` for
        all. Text is decrypted for the reader; an erased person's notes show ``text=None``."""
        if status not in ("open", "resolved", None):
            raise NoteStateError("status must be 'open', 'resolved' or None")
        self._inbox.catch_up()
        with self._inbox._lock:
            rows = list(self._inbox.notes.values())
        notes = [self._note(row) for row in rows]
        return [n for n in notes if status is None or n.status == status]

    def of_subject(self, subject: str) -> list[Note]:
        """Every note of one person, oldest first (for their own access request)."""
        pseudo = self._keys.pseudonym(subject, create=False)
        return [n for n in self.inbox(None) if n.subject == pseudo]

    def get(self, note_id: str) -> Note:
        """One note as staff see it."""
        return self._note(self._row(note_id))

    def resolve(
        self, note_id: str, *, staff: str, action: NoteAction, reply: str | None = None
    ) -> Note:
        """Staff close a note: who (``staff``), what was done (``action``: one of answered,
        picked_items, noted, no_action, forwarded) and an optional reply (sealed)."""
        if not isinstance(staff, str) or not _STAFF.match(staff):
            raise NoteStateError("staff must be a staff id of 1-128 letters, digits or . _ @ : -")
        if action not in _ACTIONS:
            raise NoteStateError(f"action must be one of {', '.join(_ACTIONS)}")
        if reply is not None and (
            not isinstance(reply, str) or not reply.strip() or len(reply) > _MAX_TEXT
        ):
            raise NoteStateError(f"a reply is 1 to {_MAX_TEXT} characters of text")
        row = self._row(note_id)
        if row.resolved is not None:
            raise NoteStateError(f"note {note_id} is resolved already")
        sealed_reply = (
            seal(self._keys, row.subject, _field(note_id, "reply"), {"reply": reply})
            if reply is not None
            else None
        )
        record = NoteResolved(
            note_id=note_id, staff=staff, action=action, sealed_reply=sealed_reply
        )
        self._ledger.append(STREAM, _RESOLVED, record.model_dump(mode="json"), subject=row.subject)
        return self.get(note_id)

    def exists(self, note_id: str, pseudo: str) -> bool:
        """True if ``note_id`` is a note of the person ``pseudo``."""
        try:
            return self._row(note_id).subject == pseudo
        except NoteStateError:
            return False

    def _row(self, note_id: str) -> _NoteRow:
        if not isinstance(note_id, str) or not _NOTE_ID.match(note_id):
            raise NoteStateError("a note id looks like note_ and 24 hex digits")
        self._inbox.catch_up()
        with self._inbox._lock:
            row = self._inbox.notes.get(note_id)
        if row is None:
            raise NoteStateError(f"there is no note {note_id}")
        return row

    def _note(self, row: _NoteRow) -> Note:
        body = open_sealed(self._keys, row.subject, _field(row.note_id), row.sealed)
        done = row.resolved
        reply = None
        if done is not None and done.sealed_reply is not None:
            opened = open_sealed(
                self._keys, row.subject, _field(row.note_id, "reply"), done.sealed_reply
            )
            reply = opened["reply"] if opened else None
        return Note(
            note_id=row.note_id,
            subject=row.subject,
            topic=body["topic"] if body else None,
            text=body["text"] if body else None,
            status="resolved" if done else "open",
            created_at=row.created_at,
            resolved_at=row.resolved_at,
            resolved_by=done.staff if done else None,
            action=done.action if done else None,
            reply=reply,
        )


def _field(note_id: str, part: str = "text") -> str:
    return f"note/{note_id}/{part}"
