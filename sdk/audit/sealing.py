"""The personal parts of audit records, sealed under the subject's own key.

An audit record is on the ledger for good (it is hash-chained and in every later export), so
what it says about the person must become unreadable when the person is erased, while the
chain, the Merkle proofs and the exports keep verifying. Records of version 2
(:data:`RECORD_VERSION`) therefore keep in clear only what an audit needs without the person
(ids, model, consent, output, reviewer ids), and seal the rest with one AEAD encryption under
the subject's data key, bound by associated data to the pseudonym, the record and the part:

* a ``decision``: its exact TreeSHAP contributions (``sealed`` = ``{"contributions": [...]}``);
  the inputs were already encrypted one by one;
* a ``recommendation``: every served item's contributions (``{"items": [[...], ...]}``);
* a review action: the reviewer's note or override reason (``{"note": ..., "reason": ...}``);
  the contest message was already encrypted under the person's key.

The keyed hashes that stand for personal values on a record (``feature_mac``,
``shown_text_sha256``, an item's ``why_sha256``) are HMAC-SHA256 under a key derived (HKDF) from
the subject's data key, not from the keyring: feature vectors and texts have little entropy, and
a hash keyed by the keyring could be reversed by whoever holds it by trying the likely values.
The data-key version of a record's hashes is the version in its ``sealed`` ciphertext.

Version 1 records (written before this) carry contributions, notes and reasons in clear and
global-key hashes; they still read as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._canonical import canonical_json, loads
from ..crypto.field import FieldCipher, field_aad
from ..crypto.keyset import SubjectCipher
from ..errors import AuditError, DecryptionError
from ..ledger import LedgerEntry
from .entries import DecisionRecord, RecommendationRecord, ReviewRecord, review_record

__all__ = [
    "RECORD_VERSION",
    "Opened",
    "decision_contributions",
    "item_contributions",
    "keyed_hash",
    "open_entries",
    "open_part",
    "record_mac_key",
    "review_text",
    "review_text_id",
    "seal_part",
]

RECORD_VERSION = 2
"""The version of the typed audit records this whylens writes."""
_MAC_INFO = b"whylens.audit.record-mac.v1"


def record_mac_key(cipher: FieldCipher, *, version: int | None = None) -> bytes:
    """The subject's key for the keyed hashes on their records (destroyed with their data key)."""
    if not isinstance(cipher, SubjectCipher):
        raise AuditError("record hashes need the subject's own cipher")
    return cipher.derive_key(_MAC_INFO, version=version)


def keyed_hash(key: bytes, data: bytes) -> str:
    """Hex HMAC-SHA256 of ``data`` under ``key``."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _aad(pseudo: str, record_id: str, part: str) -> bytes:
    return field_aad(subject=pseudo, field=f"audit/{record_id}/{part}")


def seal_part(
    cipher: FieldCipher, pseudo: str, record_id: str, part: str, value: Mapping[str, Any]
) -> str:
    """``value`` (JSON-able) encrypted under the subject's key, as base64 text for a record."""
    blob = cipher.encrypt(canonical_json(dict(value)), aad=_aad(pseudo, record_id, part))
    return base64.b64encode(blob).decode()


def open_part(
    cipher: FieldCipher | None, pseudo: str, record_id: str, part: str, text: str
) -> dict[str, Any] | None:
    """What :func:`seal_part` sealed, or ``None`` without the subject's cipher (erased).

    A ciphertext that fails authentication (altered, or moved from another record or person)
    raises :class:`~sdk.errors.DecryptionError`; it never reads as missing.
    """
    if cipher is None:
        return None
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("a sealed part of an audit record is not valid base64") from None
    value = loads(cipher.decrypt(blob, aad=_aad(pseudo, record_id, part)))
    if not isinstance(value, dict):
        raise DecryptionError("a sealed part of an audit record is not an object")
    return value


def _floats(value: Any) -> list[float]:
    if not isinstance(value, list):
        raise AuditError("a sealed attribution vector is not a list")
    return [float(v) for v in value]


def decision_contributions(
    record: DecisionRecord, cipher: FieldCipher | None, pseudo: str
) -> list[float] | None:
    """The decision's exact contributions (``None`` once the subject was erased)."""
    if record.sealed is None:
        return list(record.explanation.contributions)
    body = open_part(cipher, pseudo, record.decision_id, "explanation", record.sealed)
    return None if body is None else _floats(body.get("contributions"))


def item_contributions(
    record: RecommendationRecord, cipher: FieldCipher | None, pseudo: str
) -> list[list[float]] | None:
    """Each served item's exact contributions, in item order (``None`` once erased)."""
    if record.sealed is None:
        return [list(i.contributions) for i in record.items]
    body = open_part(cipher, pseudo, record.decision_id, "explanation", record.sealed)
    if body is None:
        return None
    items = body.get("items")
    if not isinstance(items, list) or len(items) != len(record.items):
        raise AuditError("the sealed attributions do not match the record's items")
    return [_floats(v) for v in items]


def review_text_id(decision_id: str, kind: str) -> str:
    """The record id a review action's sealed text is bound to: the decision and the action's
    kind (moving it between two entries of the same kind is caught by the ledger chain)."""
    return f"{decision_id}/{kind}"


def review_text(
    record: ReviewRecord, kind: str, cipher: FieldCipher | None, pseudo: str
) -> dict[str, str | None] | None:
    """The note and reason of a review action (``None`` once the subject was erased)."""
    if record.sealed is None:
        return {"note": record.note, "reason": record.reason}
    body = open_part(
        cipher, pseudo, review_text_id(record.decision_id, kind), "text", record.sealed
    )
    if body is None:
        return None
    return {k: (str(body[k]) if body.get(k) is not None else None) for k in ("note", "reason")}


@dataclass(frozen=True)
class Opened:
    """The personal parts of one decision's entries, decrypted for staff.

    ``erased`` is true when the subject's key is gone and a version-2 part could not be read;
    then ``contributions`` (or ``items``) is ``None`` and the texts of sealed actions are
    ``None``.
    """

    erased: bool = False
    contributions: list[float] | None = None
    items: list[list[float]] | None = None
    texts: dict[int, str | None] = field(default_factory=dict)
    """Review action seq -> its reason or note as the history shows it."""


def open_entries(
    cipher: FieldCipher | None, pseudo: str, entry: LedgerEntry, actions: Sequence[LedgerEntry]
) -> Opened:
    """Open the sealed parts of a decision entry and its review actions with ``cipher``."""
    contributions = items = None
    if entry.kind == "decision":
        record = DecisionRecord.model_validate(entry.data)
        contributions = decision_contributions(record, cipher, pseudo)
        erased = contributions is None
    elif entry.kind == "recommendation":
        listing = RecommendationRecord.model_validate(entry.data)
        items = item_contributions(listing, cipher, pseudo)
        erased = items is None
    else:
        erased = False
    texts: dict[int, str | None] = {}
    for action in actions:
        if not action.kind.startswith("review."):
            continue
        text = review_text(review_record(action), action.kind, cipher, pseudo)
        erased = erased or text is None
        texts[action.seq] = None if text is None else (text["reason"] or text["note"])
    return Opened(erased=erased, contributions=contributions, items=items, texts=texts)
