"""Subject rights: access and portability (export), erasure by crypto-shredding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ..audit.trail import AuditTrail
from ..consent import ConsentLedger
from ..errors import SubjectErased, UnknownSubject
from ..ledger import Ledger
from ..store import Database
from ..types import Decision, ErasureReceipt, SubjectExport
from .keystore import SubjectKeys
from .profiles import Profiles

__all__ = ["SubjectRights"]

STREAM = "subjects"


class SubjectRights:
    """``p.subjects``: what a person may ask for about their own data."""

    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        keys: SubjectKeys,
        profiles: Profiles,
        consent: ConsentLedger,
        trail: AuditTrail,
        decision: Callable[[str], Decision],
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._keys = keys
        self._profiles = profiles
        self._consent = consent
        self._trail = trail
        self._decision = decision

    def export(self, subject: str) -> SubjectExport:
        """Everything held about ``subject`` (GDPR Art. 15 / 20): consents with the notices shown,
        the decrypted profile, and every decision with its current outcome and reasons."""
        pseudo = self._keys.pseudonym(subject)
        if self._keys.is_erased(pseudo):
            raise SubjectErased("this subject was erased; there is no readable data to export")
        history = self._consent.history_of_pseudonym(pseudo)
        try:
            profile = self._profiles.get(subject)
        except UnknownSubject:
            profile = {}
        decisions = [self._decision(d) for d in self._trail.decisions(subject=pseudo)]
        if not history and not profile and not decisions and not self._keys.exists(pseudo):
            raise UnknownSubject("nothing is stored about this subject")
        return SubjectExport(
            subject=pseudo,
            exported_at=datetime.now(UTC),
            consent=tuple(history),
            profile=profile,
            decisions=tuple(decisions),
        )

    def erase(self, subject: str) -> ErasureReceipt:
        """Destroy the subject's data key and encrypted profile (crypto-shredding).

        Every ciphertext of the subject — profile fields, decision inputs, contest messages —
        becomes unreadable; the ledger keeps its pseudonymous, hash-chained records, so proofs
        still verify. Calling it again returns the receipt of the first erasure.
        """
        pseudo = self._keys.pseudonym(subject)
        for entry in self._ledger.entries(stream=STREAM, subject=pseudo):
            if entry.kind == "subject.erased":
                return _receipt(
                    entry.subject or pseudo,
                    entry.ts,
                    entry.seq,
                    entry.hash,
                    int(entry.data["fields_destroyed"]),
                )
        with self._db.transaction() as tx:
            fields = self._profiles.delete_all(pseudo, tx)
            self._keys.destroy(pseudo, tx)
        self._db.checkpoint()
        entry = self._ledger.append(
            STREAM, "subject.erased", {"fields_destroyed": fields}, subject=pseudo
        )
        return _receipt(pseudo, entry.ts, entry.seq, entry.hash, fields)


def _receipt(pseudo: str, at: datetime, seq: int, entry_hash: str, fields: int) -> ErasureReceipt:
    return ErasureReceipt(
        subject=pseudo,
        erased_at=at,
        ledger_seq=seq,
        entry_hash=entry_hash,
        fields_destroyed=fields,
    )
