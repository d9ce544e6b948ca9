"""Subject rights: access and portability (export), erasure by crypto-shredding.

Erasure destroys every wrapped data key of the subject (all versions), deletes their profile
fields, behavioural events and blind-index entries, purges the unwrapped-key cache, appends a
``subject.erased`` entry to the ledger, folds the WAL back into the database file and truncates it
(``secure_delete`` has zeroed the freed bytes), and returns a receipt signed with the keyring's
Ed25519 key. The ledger's own entries about the subject stay: they are pseudonymous, their
personal parts are ciphertexts under the destroyed key, and removing them would break the chain.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._canonical import canonical_json
from ..crypto.keyring import Keyring
from ..errors import SubjectErased, UnknownSubject
from ..keys import SubjectKeys
from ..types import (
    ConsentEvent,
    ContactCase,
    Decision,
    ErasureReceipt,
    Explanation,
    Note,
    SubjectExport,
)
from .events import Events
from .profiles import Profiles

if TYPE_CHECKING:
    from .._store.abc import Store
    from ..ledger import Ledger
    from ..ledger.follow import LedgerFollower

__all__ = [
    "STREAM",
    "ConsentHistory",
    "DecisionHistory",
    "SubjectData",
    "SubjectRights",
    "verify_erasure_receipt",
]

STREAM = "subjects"
logger = logging.getLogger(__name__)
_COUNTS = ("fields_destroyed", "keys_destroyed", "events_destroyed", "index_entries_purged")


class ConsentHistory(Protocol):
    """What an export reads of consent (``p.consent`` is one)."""

    def history_of_pseudonym(self, pseudo: str) -> list[ConsentEvent]:
        """Every consent event of one subject, oldest first."""


class DecisionHistory(Protocol):
    """What an export reads of the audit trail (the audit package provides one)."""

    def decision_ids(self, pseudo: str) -> Sequence[str]:
        """The ids of every decision about one subject, in time order."""

    def decision(self, decision_id: str) -> Decision:
        """The effective decision (after any review)."""

    def explanation(self, decision_id: str) -> Explanation:
        """Its end-user explanation."""


@dataclass(frozen=True)
class SubjectData:
    """Where a subject's personal data lives: the store, their keys, profile and events."""

    db: Store
    keys: SubjectKeys
    profiles: Profiles
    events: Events | None = None


class SubjectRights:
    """``p.subjects``: what a person may ask for about their own data."""

    def __init__(
        self,
        data: SubjectData,
        *,
        ledger: Ledger,
        follower: LedgerFollower,
        consent: ConsentHistory,
        decisions: DecisionHistory,
        keyring: Keyring | None = None,
        notes: Callable[[str], Sequence[Note]] | None = None,
        contact_cases: Callable[[str], Sequence[ContactCase]] | None = None,
    ) -> None:
        """``data``: the personal data at rest; ``consent`` and ``decisions``: the records about
        the subject an export includes; ``keyring`` signs erasure receipts; ``notes`` and
        ``contact_cases`` give a subject's notes to the shop and requests for a person."""
        self._db = data.db
        self._keys = data.keys
        self._profiles = data.profiles
        self._events = data.events
        self._ledger = ledger
        self._follower = follower
        self._consent = consent
        self._decisions = decisions
        self._keyring = keyring
        self._notes = notes
        self._contact_cases = contact_cases

    def export(self, subject: str) -> SubjectExport:
        """Everything held about ``subject`` (GDPR Art. 15 / 20): consents with the notices shown,
        the decrypted profile, behavioural events, and every decision with its current outcome
        and its end-user explanation. ``.model_dump_json()`` gives the portable JSON."""
        pseudo = self._keys.pseudonym(subject)
        if self._keys.is_erased(pseudo):
            raise SubjectErased("this subject was erased; there is no readable data to export")
        self._follower.catch_up()
        history = self._consent.history_of_pseudonym(pseudo)
        try:
            profile = self._profiles.get(subject)
        except UnknownSubject:
            profile = {}
        events = self._events.list_by_pseudonym(pseudo) if self._events is not None else []
        decision_ids = list(self._decisions.decision_ids(pseudo))
        decisions = [self._decisions.decision(d) for d in decision_ids]
        explanations = [self._decisions.explanation(d) for d in decision_ids]
        if not (history or profile or decisions or events or self._keys.exists(pseudo)):
            raise UnknownSubject("nothing is stored about this subject")
        return SubjectExport(
            subject=pseudo,
            exported_at=datetime.now(UTC),
            consent=tuple(history),
            profile=profile,
            decisions=tuple(decisions),
            events=tuple(events),
            explanations=tuple(explanations),
            notes=tuple(self._notes(subject)) if self._notes is not None else (),
            contact_cases=(
                tuple(self._contact_cases(subject)) if self._contact_cases is not None else ()
            ),
        )

    def erase(self, subject: str) -> ErasureReceipt:
        """Crypto-shred ``subject`` and return a signed :class:`ErasureReceipt`.

        Every ciphertext of the subject — profile fields, events, decision inputs, contest
        messages — becomes unreadable (reads raise :class:`SubjectErased`); the ledger keeps its
        pseudonymous, hash-chained records, so proofs still verify. Calling it again returns the
        receipt of the first erasure.
        """
        pseudo = self._keys.pseudonym(subject)
        self._follower.catch_up()
        for entry in self._ledger.entries(stream=STREAM, subject=pseudo):
            if entry.kind == "subject.erased":
                counts = {k: int(entry.data.get(k, 0)) for k in _COUNTS}
                return self._receipt(
                    entry.subject or pseudo, entry.ts, entry.seq, entry.hash, counts
                )
        with self._db.transaction() as tx:
            purged = tx.blind_index.delete_subject(pseudo)
            counts = {
                "fields_destroyed": self._profiles.delete_all(pseudo, tx),
                "events_destroyed": (
                    self._events.delete_all(pseudo, tx) if self._events is not None else 0
                ),
                "index_entries_purged": purged,
                "keys_destroyed": self._keys.destroy(pseudo, tx),
            }
        entry = self._ledger.append(STREAM, "subject.erased", counts, subject=pseudo)
        # SQLite: fold the WAL (which still holds the pre-erasure pages) into the file
        if not self._db.purge_freed():
            logger.warning(
                "the erased rows' old pages could not be purged yet (another connection is "
                "reading); they leave the store at its next checkpoint"
            )
        return self._receipt(pseudo, entry.ts, entry.seq, entry.hash, counts)

    def _receipt(
        self, pseudo: str, at: datetime, seq: int, entry_hash: str, counts: dict[str, int]
    ) -> ErasureReceipt:
        unsigned = ErasureReceipt.model_validate(
            {
                "subject": pseudo,
                "erased_at": at,
                "ledger_seq": seq,
                "entry_hash": entry_hash,
                **counts,
            }
        )
        if self._keyring is None:
            return unsigned
        signed = unsigned.model_copy(
            update={
                "public_key": base64.b64encode(self._keyring.public_key_bytes()).decode(),
                "key_fingerprint": self._keyring.fingerprint,
            }
        )
        signature = self._keyring.sign(_signed_bytes(signed))
        return signed.model_copy(update={"signature": base64.b64encode(signature).decode()})


def _signed_bytes(receipt: ErasureReceipt) -> bytes:
    return canonical_json(receipt.model_dump(mode="json", exclude={"signature"}))


def verify_erasure_receipt(receipt: ErasureReceipt, *, public_key: str | None = None) -> bool:
    """True if ``receipt`` carries a valid Ed25519 signature.

    ``public_key`` (base64 of the raw 32-byte key) pins the expected signer; without it the key
    inside the receipt is used, which proves integrity but not who signed.
    """
    key_text = public_key if public_key is not None else receipt.public_key
    if public_key is not None and public_key != receipt.public_key:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text, validate=True))
        key.verify(base64.b64decode(receipt.signature, validate=True), _signed_bytes(receipt))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
