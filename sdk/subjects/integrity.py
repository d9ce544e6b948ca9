"""Per-subject integrity of profile fields and personal events: replay and deletion are detected.

Each field and event ciphertext authenticates on its own (its associated data binds it to the
subject and the field or event), so on its own it cannot tell an *older* ciphertext of the same
field, or a missing row. Every subject written since schema 3 therefore has one **sealed state**
(table ``subject_integrity``), rewritten in the same transaction as every profile or event write:

``{"v": version, "f": profile digest, "e": event sum, "c": event count}``

* ``v`` counts the subject's writes (one per ``profiles.put`` or ``events.record``);
* ``f`` is SHA-256 over the sorted ``[field name, SHA-256(plaintext)]`` pairs of the profile;
* ``e`` is the sum mod 2^256 of SHA-256(``[event id, kind, purpose, time, SHA-256(plaintext)]``)
  over the events, and ``c`` their count (a multiset hash: a new event adds to it, nothing needs
  re-reading; re-encryption under a new data key changes no plaintext, so neither changes).

The state is AES-GCM-encrypted under the subject's data key (associated data: subject and
``integrity/seal``), so it cannot be forged or moved, and its digests are not visible. After the
transaction commits, ``(locator, version, tag)`` goes on the ledger (stream ``integrity``, no
subject column): ``locator`` and ``tag`` are HMACs under a key derived from the subject's data
key (:meth:`~sdk.crypto.keyset.SubjectCipher.derive_key`), so once the subject is erased (the key
destroyed) the ledger entries link to nobody. A read recomputes ``f`` (or ``e`` and ``c``) from
the rows and checks them against the seal, and the seal against the latest state on the ledger:
an older seal put back (rolling the whole subject back to a backup of its rows) or a missing
seal is :class:`~sdk.errors.SubjectDataTampered`.

The ledger entry is committed before the write returns, but not flushed on its own: its fsync
and witness anchor are shared with the other writes of the next 0.2 s (``defer_anchor``), so a
profile write costs one fsync, not three. The seal may be ahead of the ledger (a crash between
commit and append, or a power loss before the shared flush); it is never behind. Subjects
stored before schema 3 have no seal until their next write: until then their rows are read as
before, unprotected.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._canonical import canonical_json, loads, sha256_hex
from ..crypto.field import field_aad
from ..crypto.keyset import SubjectCipher
from ..errors import CryptoError, KeyRetired, SubjectDataTampered

if TYPE_CHECKING:
    from .._store.abc import StoreTx
    from ..ledger import Ledger, LedgerEntry
    from ..ledger.follow import LedgerFollower

__all__ = [
    "STREAM",
    "SealedState",
    "SubjectIntegrity",
    "baseline",
    "decrypt_for_digest",
    "event_aad",
    "event_element",
    "events_state",
    "events_sum",
    "profile_digest",
    "profile_plaintexts",
]

STREAM = "integrity"
_KIND = "subject.state"
_LABEL = b"whylens.subject-integrity.v1"
_SEAL_FIELD = "integrity/seal"
_MOD = 1 << 256


@dataclass(frozen=True, slots=True)
class SealedState:
    """What a subject's seal commits to (see the module docstring)."""

    version: int
    fields: str
    events: int
    count: int

    def to_json(self) -> dict[str, Any]:
        """The JSON that is sealed, and HMAC'd for the ledger."""
        return {"v": self.version, "f": self.fields, "e": f"{self.events:064x}", "c": self.count}


@dataclass(frozen=True, slots=True)
class Pending:
    """A state committed to the database, to be put on the ledger once the transaction is in."""

    locator: str
    version: int
    tag: str


def profile_digest(plaintexts: Mapping[str, bytes]) -> str:
    """``f``: the digest of a whole profile (field name -> canonical JSON plaintext)."""
    return sha256_hex(canonical_json(sorted([n, sha256_hex(pt)] for n, pt in plaintexts.items())))


def event_element(event_id: str, kind: str, purpose: str, ts: str, plaintext: bytes) -> int:
    """One event's contribution to ``e``."""
    body = canonical_json([event_id, kind, purpose, ts, sha256_hex(plaintext)])
    return int.from_bytes(hashlib.sha256(body).digest(), "big")


def events_sum(elements: Iterable[int]) -> int:
    """``e`` of a set of events."""
    total = 0
    for element in elements:
        total = (total + element) % _MOD
    return total


class SubjectIntegrity:
    """Seals subject states in the database and anchors them on the ledger (``ledger=None``:
    the seal alone, which catches replayed or deleted rows but not a rollback of the seal)."""

    def __init__(self, ledger: Ledger | None, follower: LedgerFollower | None = None) -> None:
        self._ledger = ledger
        self._follower = follower
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[int, str]] = {}
        if ledger is not None:
            if self._follower is None:
                from ..ledger.follow import LedgerFollower

                self._follower = LedgerFollower(ledger)
            self._follower.register(self, (STREAM,))

    # -- the ledger view ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every anchored state (before a rebuild)."""
        with self._lock:
            self._latest = {}

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``integrity`` entry: keep the highest version per locator (two processes
        may append their states out of order)."""
        if entry.kind != _KIND:
            return
        data = entry.data
        locator, version, tag = str(data["locator"]), int(data["version"]), str(data["tag"])
        with self._lock:
            known = self._latest.get(locator)
            if known is None or version > known[0]:
                self._latest[locator] = (version, tag)

    def anchors_any(self) -> bool:
        """Whether any subject state is on the ledger (else a missing seal proves nothing)."""
        with self._lock:
            return bool(self._latest)

    def catch_up(self) -> None:
        """See the states every process anchored so far."""
        if self._follower is not None:
            self._follower.catch_up()

    # -- writing ---------------------------------------------------------------------------------

    def sealed(self, tx: StoreTx, pseudo: str, cipher: SubjectCipher) -> SealedState | None:
        """The subject's sealed state as this transaction sees it (``None``: never sealed)."""
        return self._open(tx.integrity.get(pseudo), pseudo, cipher)

    def write(
        self,
        tx: StoreTx,
        pseudo: str,
        cipher: SubjectCipher,
        before: SealedState | None,
        *,
        fields: str | None = None,
        events: int | None = None,
        count: int | None = None,
    ) -> Pending:
        """Seal the next state (``before`` with the given parts replaced) inside ``tx``."""
        assert before is not None or (fields is not None and events is not None)
        state = SealedState(
            version=(before.version if before is not None else 0) + 1,
            fields=fields if fields is not None else before.fields,  # type: ignore[union-attr]
            events=events if events is not None else before.events,  # type: ignore[union-attr]
            count=count if count is not None else before.count,  # type: ignore[union-attr]
        )
        plain = canonical_json(state.to_json())
        seal = cipher.encrypt(plain, aad=field_aad(subject=pseudo, field=_SEAL_FIELD))
        tx.integrity.put(pseudo, state.version, seal)
        key = cipher.derive_key(_LABEL)
        return Pending(_locator(key), state.version, _tag(key, state))

    def publish(self, pending: Pending) -> None:
        """Put a committed state on the ledger (after the database transaction)."""
        if self._ledger is None:
            return
        entry = self._ledger.append(
            STREAM,
            _KIND,
            {"locator": pending.locator, "version": pending.version, "tag": pending.tag},
            defer_anchor=True,  # on the ledger now; its witness anchor joins the next one
        )
        if self._follower is not None:
            self._follower.appended(entry)

    # -- reading ---------------------------------------------------------------------------------

    def load(
        self, row: tuple[int, bytes] | None, pseudo: str, cipher: SubjectCipher
    ) -> SealedState | None:
        """The state sealed in ``row`` (``None``: no seal); :class:`SubjectDataTampered` if
        it does not authenticate."""
        return self._open(row, pseudo, cipher)

    def check(
        self,
        state: SealedState | None,
        cipher: SubjectCipher,
        *,
        fields: str | None = None,
        events: int | None = None,
        count: int | None = None,
        what: str,
    ) -> None:
        """Raise :class:`SubjectDataTampered` unless the recomputed parts match the sealed
        ``state`` and it is not older than the ledger's latest state of the subject. Call
        :meth:`catch_up` before reading the rows."""
        anchored = self._anchored(cipher)
        if state is None:
            if anchored is not None:
                raise SubjectDataTampered(
                    f"{what}: the subject's integrity record is missing although the ledger "
                    f"recorded state {anchored[0]}; rows were deleted behind whylens's back. "
                    "Restore the database from a backup"
                )
            return  # stored before schema 3, never written since: unprotected until then
        if (fields is not None and fields != state.fields) or (
            events is not None and (events, count) != (state.events, state.count)
        ):
            raise SubjectDataTampered(
                f"{what}: the stored rows do not match the subject's integrity record (a row "
                "was deleted, added, or replaced by an older ciphertext). Restore the database "
                "from a backup"
            )
        if anchored is not None:
            version, tag, key = anchored
            if state.version < version or (
                state.version == version and not hmac.compare_digest(tag, _tag(key, state))
            ):
                raise SubjectDataTampered(
                    f"{what}: the subject's rows were rolled back to an older state (stored "
                    f"state {state.version}, the ledger recorded {version}). Restore the "
                    "database from a backup"
                )

    def _anchored(self, cipher: SubjectCipher) -> tuple[int, str, bytes] | None:
        """The ledger's latest ``(version, tag, key)`` of the subject, over its key versions."""
        best: tuple[int, str, bytes] | None = None
        with self._lock:
            if not self._latest:
                return None
            for v in cipher.versions:
                if v < cipher.min_version:
                    continue
                key = cipher.derive_key(_LABEL, version=v)
                found = self._latest.get(_locator(key))
                if found is not None and (best is None or found[0] > best[0]):
                    best = (found[0], found[1], key)
        return best

    def _open(
        self, row: tuple[int, bytes] | None, pseudo: str, cipher: SubjectCipher
    ) -> SealedState | None:
        if row is None:
            return None
        version, seal = row
        try:
            plain = cipher.decrypt(seal, aad=field_aad(subject=pseudo, field=_SEAL_FIELD))
        except KeyRetired:
            # sealed under a data key retired since (no write in between): unreadable, so the
            # next write starts a new state; a ledger state under a kept key still counts
            return None
        except CryptoError:
            raise SubjectDataTampered(
                "the subject's integrity record does not authenticate"
            ) from None
        try:
            data = loads(plain)
            state = SealedState(
                version=int(data["v"]),
                fields=str(data["f"]),
                events=int(str(data["e"]), 16),
                count=int(data["c"]),
            )
        except (KeyError, TypeError, ValueError):
            raise SubjectDataTampered(
                "the subject's integrity record does not authenticate"
            ) from None
        if state.version != version:
            raise SubjectDataTampered("the subject's integrity record was edited")
        return state


def decrypt_for_digest(cipher: SubjectCipher, ciphertext: bytes, aad: bytes) -> bytes:
    """The plaintext a digest covers: a value under a retired data key (unreadable, so kept as
    it is) stands for itself by its ciphertext's hash."""
    try:
        return cipher.decrypt(ciphertext, aad=aad)
    except KeyRetired:
        return b"\x00retired:" + hashlib.sha256(ciphertext).digest()


def event_aad(pseudo: str, event_id: str, kind: str, purpose: str, ts: str) -> bytes:
    """The associated data of an event ciphertext (subject, id, kind, purpose, time)."""
    return field_aad(subject=pseudo, field=f"event/{event_id}/{kind}/{purpose}/{ts}")


def profile_plaintexts(
    rows: Iterable[tuple[str, bytes]], pseudo: str, cipher: SubjectCipher
) -> dict[str, bytes]:
    """Field name -> plaintext (for a digest) of a subject's stored profile rows."""
    return {
        name: decrypt_for_digest(cipher, ct, field_aad(subject=pseudo, field=name))
        for name, ct in rows
    }


def events_state(rows: Iterable[tuple[str, str, str, str, bytes]], pseudo: str,
                 cipher: SubjectCipher) -> tuple[int, int]:
    """``(e, c)`` of a subject's stored event rows."""
    elements = [
        event_element(
            event_id, kind, purpose, ts,
            decrypt_for_digest(cipher, ct, event_aad(pseudo, event_id, kind, purpose, ts)),
        )
        for event_id, kind, purpose, ts, ct in rows
    ]
    return events_sum(elements), len(elements)


def baseline(tx: StoreTx, pseudo: str, cipher: SubjectCipher) -> tuple[str, int, int]:
    """``(f, e, c)`` of a subject that has no seal yet, from its rows (stored before schema 3,
    or a first write)."""
    fields = profile_digest(profile_plaintexts(tx.profiles.fields(pseudo), pseudo, cipher))
    events, count = events_state(tx.events.of_subject(pseudo), pseudo, cipher)
    return fields, events, count


def _locator(key: bytes) -> str:
    return hmac.new(key, b"locator", hashlib.sha256).hexdigest()


def _tag(key: bytes, state: SealedState) -> str:
    return hmac.new(key, canonical_json(state.to_json()), hashlib.sha256).hexdigest()
