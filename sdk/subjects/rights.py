"""Subject rights: access and portability (export), erasure by crypto-shredding.

Erasure destroys every wrapped data key of the subject (all versions), deletes their profile
fields, behavioural events and blind-index entries, purges the unwrapped-key cache, appends a
``subject.erased`` entry to the ledger, folds the WAL back into the database file and truncates it
(``secure_delete`` has zeroed the freed bytes; PostgreSQL: VACUUM), and returns a receipt signed
with the keyring's Ed25519 key. The receipt is ``complete`` only once those bytes are gone; while
another connection pins them it is ``pending`` (on the ledger, :mod:`.erasure_state`) and
:meth:`SubjectRights.finish_erasures` — run after later writes and on close — completes it.
The ledger's own entries about the subject stay: they are pseudonymous, their personal parts are
ciphertexts under the destroyed key, and removing them would break the chain.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._canonical import canonical_json
from ..crypto.signing import Signer
from ..crypto.trust import TrustMaterial, load_key, unpinned
from ..errors import ConfigurationError, SubjectErased, UnknownSubject, WhylensError
from ..keys import SubjectKeys
from ..ledger.entry import PendingEntry
from ..types import (
    ConsentEvent,
    ContactCase,
    Decision,
    ErasureReceipt,
    Explanation,
    Note,
    SubjectExport,
    VerifyReport,
)
from .erasure_state import (
    COMPLETED,
    ERASED,
    PURGE_MARK,
    PendingErasures,
    find_erasure,
    receipt_fields,
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
_RETRY_AFTER_WRITE = 1.0  # seconds between attempts made after writes while erasures pend
# receipt fields added with pending receipts: left out of the signed bytes at their defaults, so
# receipts signed before they existed still verify
_LATER_FIELDS = {"status": "complete", "completed_seq": None, "completed_at": None}


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
        keyring: Signer | None = None,
        notes: Callable[[str], Sequence[Note]] | None = None,
        contact_cases: Callable[[str], Sequence[ContactCase]] | None = None,
        erasure_patience: float = 1.0,
    ) -> None:
        """``data``: the personal data at rest; ``consent`` and ``decisions``: the records about
        the subject an export includes; ``keyring`` signs erasure receipts; ``notes`` and
        ``contact_cases`` give a subject's notes to the shop and requests for a person;
        ``erasure_patience`` is how long (seconds) an erasure retries, with backoff, to get the
        deleted bytes out of the store's files before its receipt says ``pending``."""
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
        self._patience = float(erasure_patience)
        self._pending = PendingErasures()
        self._finishing = threading.Lock()
        self._last_try = 0.0
        follower.register(self._pending, (STREAM,))
        data.db.on_commit(self._after_write)

    def export(self, subject: str) -> SubjectExport:
        """Everything held about ``subject`` (GDPR Art. 15 / 20): consents with the notices shown,
        the decrypted profile, behavioural events, and every decision with its current outcome
        and its end-user explanation. ``.model_dump_json()`` gives the portable JSON."""
        pseudo = self._keys.pseudonym(subject, create=False)
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
        pseudo = self._keys.pseudonym_to_erase(subject)
        self._follower.catch_up()
        earlier = find_erasure(self._ledger, STREAM, pseudo)
        if earlier is not None:
            if earlier[1] is None and earlier[0].data.get(PURGE_MARK) == "pending":
                self.finish_erasures()
                earlier = find_erasure(self._ledger, STREAM, pseudo)
                assert earlier is not None
            return self._receipt(receipt_fields(*earlier))
        with self._db.transaction() as tx:
            purged = tx.blind_index.delete_subject(pseudo)
            # the bias-audit attributes: unreadable once the key is gone, but their rows would
            # still say when they were set and (by length) which value they hold
            tx.protected.delete_subject(pseudo)
            counts = {
                "fields_destroyed": self._profiles.delete_all(pseudo, tx),
                "events_destroyed": (
                    self._events.delete_all(pseudo, tx) if self._events is not None else 0
                ),
                "index_entries_purged": purged,
                "keys_destroyed": self._keys.destroy(pseudo, tx),
            }
        entry = self._ledger.append(
            STREAM, ERASED, {**counts, PURGE_MARK: "pending"}, subject=pseudo
        )
        self._follower.appended(entry)
        # apart from the key destruction: one transaction must not tie the id's row to the key
        # row (PostgreSQL xmin); a crash before this is mended by the next finish_erasures
        self._keys.unlink(pseudo)
        for receipt in self.finish_erasures(patience=self._patience):
            if receipt.ledger_seq == entry.seq:
                return receipt
        found = find_erasure(self._ledger, STREAM, pseudo)  # another process completed it
        return self._receipt(receipt_fields(*found) if found else receipt_fields(entry, None))

    def pending_erasures(self) -> list[ErasureReceipt]:
        """The signed ``pending`` receipts of every erasure (by any process) whose deleted bytes
        are not yet confirmed gone from the store's files, oldest first."""
        self._follower.catch_up()
        return [self._receipt(receipt_fields(e, None)) for e in self._pending.entries()]

    def finish_erasures(self, *, patience: float | None = None) -> list[ErasureReceipt]:
        """Try to complete every pending erasure (any process's); their receipts, oldest first.

        Purges the store's freed bytes (retrying for up to ``patience`` seconds, default the
        ``erasure_patience`` of this object); on success appends ``subject.erasure_completed``
        for each and returns the final ``complete`` receipts, else the ``pending`` ones again.
        Runs by itself after later writes of this process and when the Personalizer closes.
        """
        with self._finishing:
            return self._finish(self._patience if patience is None else patience)

    def _finish(self, wait: float) -> list[ErasureReceipt]:
        # the caller holds self._finishing
        self._follower.catch_up()
        pending = self._pending.entries()
        if not pending:
            return []
        for e in pending:  # an erasure interrupted before its id's row was re-pointed
            if e.subject is not None:
                self._keys.unlink(e.subject)
        if not self._db.purge_freed(patience=wait):
            logger.info(
                "%d erasures stay pending: another connection still pins the deleted rows' "
                "old pages; they complete on a later write or on close",
                len(pending),
            )
            return [self._receipt(receipt_fields(e, None)) for e in pending]
        # the purge may have waited: another process may have completed some meanwhile. The
        # completion is appended only if no process appended one since the erasure (checked
        # under the ledger's cross-process write lock), so each erasure completes exactly once
        self._follower.catch_up()
        still = {e.seq for e in self._pending.entries()}
        pending = [e for e in pending if e.seq in still]
        if not pending:
            return []
        placed = self._ledger.append_once(
            [
                (PendingEntry(STREAM, COMPLETED, {"erased_seq": e.seq}, subject=e.subject), e.seq)
                for e in pending
            ]
        )
        done = [c for c in placed if c is not None]
        self._follower.appended(done)
        self._db.purge_freed()  # best effort: fold the completion entries' own pages too
        return [
            self._receipt(receipt_fields(e, c))
            for e, c in zip(pending, placed, strict=True)
            if c is not None
        ]

    def _after_write(self) -> None:
        # the store calls this after each committed write: cheap unless erasures pend
        if not self._pending:
            return
        now = time.monotonic()
        if now - self._last_try < _RETRY_AFTER_WRITE:
            return
        # never wait for the lock here: the writer may hold the follower's lock, which a
        # finishing thread needs (and a finish's own ledger append lands here too)
        if not self._finishing.acquire(blocking=False):
            return
        try:
            self._last_try = now
            self._finish(0.0)
        except WhylensError as exc:  # the caller's write committed; never fail it for this
            logger.warning("could not complete pending erasures after a write: %s", exc)
        finally:
            self._finishing.release()

    def close(self) -> None:
        """Complete what erasures can be completed (the Personalizer calls it on close)."""
        try:
            self._follower.catch_up()
            if self._pending:
                self.finish_erasures()
        except WhylensError as exc:
            logger.warning("could not complete pending erasures on close: %s", exc)
        finally:
            self._db.on_commit(None)

    def _receipt(self, fields: dict[str, object]) -> ErasureReceipt:
        unsigned = ErasureReceipt.model_validate(fields)
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
    body = receipt.model_dump(mode="json", exclude={"signature"})
    for name, default in _LATER_FIELDS.items():
        if body.get(name) == default:
            del body[name]
    return canonical_json(body)


def verify_erasure_receipt(
    receipt: ErasureReceipt | Mapping[str, Any] | str | bytes,
    *,
    trust: TrustMaterial | None = None,
    public_key: TrustMaterial | None = None,
) -> VerifyReport:
    """Check an erasure receipt's Ed25519 signature offline; the report is truthy only if ok.

    ``trust`` (or its older name ``public_key``) is the signer's key you pinned: raw 32 bytes,
    base64 text, or a trust file written by ``whylens keys public``. Without it the report is
    not ok, even when the signature matches the key inside the receipt (anyone can sign with a
    key of their own), and its problem says how to pin. A malformed receipt (JSON text, dict
    or model) gives a failing report, never an exception.
    """
    material = trust if trust is not None else public_key
    try:
        pinned = load_key(material) if material is not None else None
    except ConfigurationError as exc:
        return VerifyReport(ok=False, checked=0, problem=f"trust: {exc}")
    try:
        if isinstance(receipt, str | bytes):
            receipt = json.loads(receipt)
        if not isinstance(receipt, ErasureReceipt):
            receipt = ErasureReceipt.model_validate(receipt, strict=False)
        signature = base64.b64decode(receipt.signature, validate=True)
        claimed = base64.b64decode(receipt.public_key, validate=True)
    except (ValueError, TypeError, RecursionError, binascii.Error):
        return VerifyReport(
            ok=False, checked=0, problem="receipt: not a well-formed erasure receipt"
        )
    if pinned is not None and claimed != pinned.raw:
        return VerifyReport(
            ok=False,
            checked=0,
            problem=f"receipt: signed by a different key than the one pinned ({pinned.source})",
        )
    try:
        key = Ed25519PublicKey.from_public_bytes(pinned.raw if pinned is not None else claimed)
        key.verify(signature, _signed_bytes(receipt))
    except (InvalidSignature, ValueError, TypeError):
        return VerifyReport(
            ok=False, checked=1, problem="receipt: signature does not verify (altered or forged)"
        )
    if pinned is None:
        return VerifyReport(ok=False, checked=1, problem=unpinned("the erasure receipt"))
    return VerifyReport(ok=True, checked=1, head_hash=receipt.entry_hash)
