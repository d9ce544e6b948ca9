"""Behavioural events (``p.events``): what a person did, each with its purpose, encrypted at rest.

A row of ``personal_events`` holds ``(event id, pseudonym, kind, purpose, time, ciphertext)``.
The event's data is canonical JSON encrypted under the subject's data key, bound by its associated
data to the subject, the event id, kind, purpose and time, so none of the clear columns can be
changed or swapped without the read failing. Kinds and purposes are stored in clear (they decide
what may be processed): use kinds that are not themselves personal data.

An event is recorded only if the subject's consent allows its purpose at that moment.

Every event recorded adds to the subject's sealed state (:mod:`sdk.subjects.integrity`), and a
read checks the whole set of the subject's events against it: a deleted event, or the subject's
events rolled back to an older copy, raises :class:`~sdk.errors.SubjectDataTampered`.
"""

from __future__ import annotations

import builtins
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._canonical import loads
from ..crypto.keyset import SubjectCipher
from ..errors import (
    ConsentError,
    CryptoError,
    SubjectDataTampered,
    SubjectErased,
    SubjectError,
    UnknownSubject,
)
from ..keys import SubjectKeys, check_pseudonym
from ..types import PersonalEvent
from .integrity import (
    SubjectIntegrity,
    baseline,
    event_aad,
    event_element,
    events_sum,
)
from .values import encode_value

if TYPE_CHECKING:  # consent imports subjects (pseudonyms): only a type here, no cycle
    from .._store.abc import Store, StoreTx
    from ..consent import ConsentLedger

__all__ = ["Events"]

_KIND = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
_REENCRYPT_BATCH = 200
_READ_TRIES = 3


class Events:
    """``p.events``: record and read a subject's behavioural events."""

    def __init__(
        self,
        db: Store,
        keys: SubjectKeys,
        consent: ConsentLedger,
        *,
        integrity: SubjectIntegrity | None = None,
    ) -> None:
        """Events stored in ``db``, encrypted with ``keys``, recorded only with ``consent``;
        ``integrity`` seals and anchors each subject's state (the profiles' one)."""
        self._db = db
        self._integrity = integrity if integrity is not None else SubjectIntegrity(None)
        self._keys = keys
        self._consent = consent

    def record(
        self,
        subject: str,
        kind: str,
        *,
        purpose: str,
        data: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> PersonalEvent:
        """Record one event of ``kind`` (e.g. ``"product.viewed"``) for ``purpose``.

        ``data`` is a JSON object (encrypted). Raises :class:`UnknownPurpose` for a purpose not
        in the catalog, :class:`ConsentError` if the subject's consent does not allow the purpose
        now (nothing is stored), :class:`SubjectError` for a bad kind or data (never echoing it)
        and :class:`SubjectErased` for an erased subject.
        """
        pseudo = self._keys.pseudonym(subject)
        if not isinstance(kind, str) or _KIND.fullmatch(kind) is None:
            raise SubjectError(
                "an event kind is 1 to 64 lowercase letters, digits and . _ : - starting with a "
                "letter (it is stored in clear, so it must not be personal data)"
            )
        self._consent.purposes.require(purpose)
        if not self._consent.state_of_pseudonym(pseudo).allows(purpose):
            # an erased id's fresh pseudonym has no consent: say erased, not "no consent"
            self._keys.raise_if_erased(pseudo)
            raise ConsentError(
                f"the subject has not consented to purpose {purpose!r}; the event was not recorded"
            )
        payload = {} if data is None else data
        if not isinstance(payload, Mapping):
            raise SubjectError(f"event data must be a mapping, got {type(payload).__name__}")
        plaintext = encode_value("data", dict(payload), what="event")
        when = _ts(at or datetime.now(UTC))
        event_id = "evt_" + secrets.token_hex(12)
        cipher = self._keys.cipher(pseudo, create=True)
        ciphertext = cipher.encrypt(plaintext, aad=_aad(pseudo, event_id, kind, purpose, when))
        element = event_element(event_id, kind, purpose, when, plaintext)
        integrity = self._integrity
        with self._db.transaction() as tx:
            state = tx.keys.state(pseudo)
            if state is None or not state.has_key or state.erased is not None:
                raise SubjectErased("subject was erased; their data cannot be written")
            # incremental: the sealed sum keeps counting an event deleted behind our back, so a
            # write never launders a deletion (and costs no read of the other events)
            before = integrity.sealed(tx, pseudo, cipher)
            if before is None:
                fields, events, count = baseline(tx, pseudo, cipher)
                pending = integrity.write(
                    tx, pseudo, cipher, None,
                    fields=fields, events=events_sum((events, element)), count=count + 1,
                )
            else:
                pending = integrity.write(
                    tx, pseudo, cipher, before,
                    events=events_sum((before.events, element)), count=before.count + 1,
                )
            tx.events.insert(event_id, pseudo, kind, purpose, when, ciphertext)
            self._reencrypt_older(tx, pseudo, cipher)
        integrity.publish(pending)
        return PersonalEvent(
            event_id=event_id, kind=kind, purpose=purpose, at=_parse(when), data=dict(payload)
        )

    def list(
        self, subject: str, *, kind: str | None = None, purpose: str | None = None
    ) -> list[PersonalEvent]:
        """The subject's events, oldest first, decrypted; optionally one kind or purpose."""
        return self.list_by_pseudonym(
            self._keys.pseudonym(subject, create=False), kind=kind, purpose=purpose
        )

    def list_by_pseudonym(
        self, pseudo: str, *, kind: str | None = None, purpose: str | None = None
    ) -> builtins.list[PersonalEvent]:
        """:meth:`list` for a subject known by pseudonym."""
        check_pseudonym(pseudo)
        self._integrity.catch_up()
        for attempt in range(_READ_TRIES):
            try:
                events = self._read_checked(pseudo)
                break
            except SubjectDataTampered:
                # the rows and the seal are two reads: a write between them looks like
                # tampering once; tampering persists
                if attempt == _READ_TRIES - 1:
                    raise
        # the whole set is checked, then filtered
        return [
            e for e in events
            if (kind is None or e.kind == kind) and (purpose is None or e.purpose == purpose)
        ]

    def _read_checked(self, pseudo: str) -> builtins.list[PersonalEvent]:
        rows = self._db.events.of_subject(pseudo)
        seal = self._db.integrity.get(pseudo)
        if not rows:
            self._keys.raise_if_erased(pseudo)
            if seal is None and not self._integrity.anchors_any():
                return []
        try:
            cipher = self._keys.cipher(pseudo, create=False)
        except UnknownSubject:
            if rows or seal is not None:
                raise SubjectDataTampered(
                    "events: rows are stored for a subject without a data key"
                ) from None
            return []
        out = []
        elements = []
        for event_id, k, p, ts, ciphertext in rows:
            try:
                plain = cipher.decrypt(ciphertext, aad=_aad(pseudo, event_id, k, p, ts))
            except CryptoError as exc:
                raise type(exc)(f"event {event_id}: {exc}") from exc
            elements.append(event_element(event_id, k, p, ts, plain))
            out.append(
                PersonalEvent(
                    event_id=event_id, kind=k, purpose=p, at=_parse(ts), data=loads(plain)
                )
            )
        state = self._integrity.load(seal, pseudo, cipher)
        self._integrity.check(
            state, cipher, events=events_sum(elements), count=len(elements), what="events"
        )
        return out

    def _reencrypt_older(self, tx: StoreTx, pseudo: str, cipher: SubjectCipher) -> None:
        """Lazy data-key rotation: a bounded batch of the subject's events still under an older
        data key is re-encrypted under the current one with every write."""
        # retired versions (unreadable, so not re-encryptable) are left out
        rows = tx.events.stale(pseudo, cipher.header, cipher.min_version, _REENCRYPT_BATCH)
        updates = []
        for event_id, kind, purpose, ts, ciphertext in rows:
            aad = _aad(pseudo, event_id, kind, purpose, ts)
            updates.append((event_id, cipher.encrypt(cipher.decrypt(ciphertext, aad=aad), aad=aad)))
        tx.events.replace(updates)

    def delete_all(self, pseudo: str, tx: StoreTx) -> int:
        """Delete every event of subject ``pseudo`` inside ``tx``; returns how many."""
        check_pseudonym(pseudo)
        return tx.events.delete_subject(pseudo)

    def __repr__(self) -> str:
        return f"Events(database={db_label(self._db)!r})"


_aad = event_aad


def _ts(at: datetime) -> str:
    if at.tzinfo is None:
        raise SubjectError("event times must be timezone-aware (use datetime.now(UTC))")
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def db_label(db: Store) -> str:
    """The store's file name (or URL) for a repr."""
    return db.path.name if db.path is not None else db.url
