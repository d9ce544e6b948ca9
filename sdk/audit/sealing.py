"""The personal parts of audit records, sealed under the subject's own key.

An audit record is on the ledger for good (it is hash-chained and in every later export), so
what it says about the person must become unreadable when the person is erased, while the
chain, the Merkle proofs and the exports keep verifying. Records of version 3
(:data:`RECORD_VERSION`) therefore keep in clear only what an audit needs without the person
(ids, model, consent, outcome, status, trigger kind, ranks and item ids, reviewer ids, hash
commitments), and seal every personal value in ONE AEAD encryption under the subject's data key,
bound by associated data to the pseudonym, the record and the part:

* a ``decision``: its inputs, exact score and probability, contributions, additivity residual,
  the exact review trigger, the shadow candidate's figures and the unknown categories
  (:class:`~sdk.audit.entries.SealedDecision`);
* a ``recommendation``: every served item's inputs, score, model score, propensity,
  contributions and residual, and the shadow figures (:class:`~sdk.audit.entries.SealedListing`);
* a review action: the reviewer's note or override reason (``{"note": ..., "reason": ...}``);
  the contest message was already encrypted under the person's key.

Why the score too: a tree model is a function anyone holding the store can run, and the exact
float it returned is a fingerprint of the input; trying a plausible domain and keeping the inputs
that give the stored float recovers the person's values (``tests/security/
test_score_bruteforce.py``).

The sealed JSON is plain ``json`` (it is encrypted, never hashed or signed, so it needs no
canonical form) and the associated data has a fixed shape (:func:`record_aad`): sealing a
decision costs one JSON encoding and one AES-GCM call, not one per input.

The keyed hashes that stand for personal values on a record (``feature_mac``,
``shown_text_sha256``, an item's ``why_sha256``) are HMAC-SHA256 under a key derived (HKDF) from
the subject's data key, not from the keyring: feature vectors and texts have little entropy, and
a hash keyed by the keyring could be reversed by whoever holds it by trying the likely values.
The data-key version of a record's hashes is the version in its ``sealed`` ciphertext.

Version 2 records (inputs encrypted one by one, score, probability and item scores in clear,
sealed parts bound by RFC 8785 associated data) and version 1 records (contributions, notes and
reasons in clear, global-key hashes) still read as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from .._canonical import loads
from ..crypto.field import FieldCipher, field_aad
from ..crypto.keyset import SubjectCipher
from ..errors import AuditError, DecryptionError
from ..ledger import LedgerEntry
from .entries import (
    DecisionRecord,
    RecommendationRecord,
    ReviewRecord,
    SealedDecision,
    SealedItem,
    SealedListing,
    review_record,
)
from .records import decrypt_inputs, input_aad_id

__all__ = [
    "RECORD_VERSION",
    "ItemValues",
    "Opened",
    "clear_trigger",
    "decision_contributions",
    "decision_parts",
    "item_contributions",
    "keyed_hash",
    "listing_parts",
    "open_decision",
    "open_entries",
    "open_listing",
    "open_part",
    "record_aad",
    "record_mac_key",
    "review_text",
    "review_text_id",
    "seal_part",
]

RECORD_VERSION = 3
"""The version of the typed audit records this whylens writes."""
_MAC_INFO = b"whylens.audit.record-mac.v1"
_AAD_DOMAIN = b"whylens.audit.sealed.v3"
_BAND = "uncertainty_band: probability "


def record_mac_key(cipher: FieldCipher, *, version: int | None = None) -> bytes:
    """The subject's key for the keyed hashes on their records (destroyed with their data key)."""
    if not isinstance(cipher, SubjectCipher):
        raise AuditError("record hashes need the subject's own cipher")
    return cipher.derive_key(_MAC_INFO, version=version)


def keyed_hash(key: bytes, data: bytes) -> str:
    """Hex HMAC-SHA256 of ``data`` under ``key``."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def record_aad(pseudo: str, record_id: str, part: str) -> bytes:
    """The associated data of a sealed part from record version 3: a domain, then the
    pseudonym, the record id and the part name, each length-prefixed (4 bytes, big-endian), so
    no two triples give the same bytes and no JSON encoder runs per part."""
    out = bytearray(_AAD_DOMAIN)
    for text in (pseudo, record_id, part):
        raw = text.encode()
        out += len(raw).to_bytes(4, "big")
        out += raw
    return bytes(out)


def _aad(pseudo: str, record_id: str, part: str, version: int) -> bytes:
    if version >= 3:
        return record_aad(pseudo, record_id, part)
    return field_aad(subject=pseudo, field=f"audit/{record_id}/{part}")  # versions 1 and 2


def seal_part(
    cipher: FieldCipher, pseudo: str, record_id: str, part: str, value: Mapping[str, Any]
) -> str:
    """``value`` (JSON-able, finite numbers) encrypted under the subject's key, as base64 text
    for a record of version :data:`RECORD_VERSION`."""
    try:
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise AuditError("a sealed part holds a value that is not finite JSON") from None
    blob = cipher.encrypt(plain.encode(), aad=record_aad(pseudo, record_id, part))
    return base64.b64encode(blob).decode()


def clear_trigger(trigger: str | None) -> str | None:
    """The review trigger as a record keeps it in clear: an uncertainty band without the
    probability (the exact trigger is sealed with the score)."""
    if trigger is None or not trigger.startswith(_BAND):
        return trigger
    band = trigger[len(_BAND) :].partition(" in ")[2]
    return f"{_BAND}in {band}" if band else "uncertainty_band"


def open_part(
    cipher: FieldCipher | None,
    pseudo: str,
    record_id: str,
    part: str,
    text: str,
    *,
    version: int = RECORD_VERSION,
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
    value = loads(cipher.decrypt(blob, aad=_aad(pseudo, record_id, part, version)))
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
    if record.version >= 3:
        sealed = open_decision(record, cipher, pseudo)
        return None if sealed is None else list(sealed.contributions)
    body = open_part(
        cipher, pseudo, record.decision_id, "explanation", record.sealed, version=record.version
    )
    return None if body is None else _floats(body.get("contributions"))


def _validated(model: Any, body: dict[str, Any] | None) -> Any:
    if body is None:
        return None
    try:
        return model.model_validate(body)
    except ValidationError:
        raise AuditError("a sealed part of an audit record does not have its shape") from None


def open_decision(
    record: DecisionRecord, cipher: FieldCipher | None, pseudo: str
) -> SealedDecision | None:
    """The personal part of a version-3 decision record (``None`` once the subject was
    erased, or for an earlier version)."""
    if record.version < 3 or record.sealed is None:
        return None
    body = open_part(cipher, pseudo, record.decision_id, "explanation", record.sealed)
    sealed: SealedDecision | None = _validated(SealedDecision, body)
    if sealed is not None and len(sealed.contributions) != len(sealed.inputs):
        raise AuditError("the sealed attributions do not match the sealed inputs")
    return sealed


def open_listing(
    record: RecommendationRecord, cipher: FieldCipher | None, pseudo: str
) -> SealedListing | None:
    """The personal part of a version-3 recommendation record (``None`` once erased, or for
    an earlier version)."""
    if record.version < 3 or record.sealed is None:
        return None
    body = open_part(cipher, pseudo, record.decision_id, "explanation", record.sealed)
    sealed: SealedListing | None = _validated(SealedListing, body)
    if sealed is not None and len(sealed.items) != len(record.items):
        raise AuditError("the sealed attributions do not match the record's items")
    return sealed


def item_contributions(
    record: RecommendationRecord, cipher: FieldCipher | None, pseudo: str
) -> list[list[float]] | None:
    """Each served item's exact contributions, in item order (``None`` once erased)."""
    if record.sealed is None:
        return [list(i.contributions) for i in record.items]
    if record.version >= 3:
        sealed = open_listing(record, cipher, pseudo)
        return None if sealed is None else [list(i.contributions) for i in sealed.items]
    body = open_part(
        cipher, pseudo, record.decision_id, "explanation", record.sealed, version=record.version
    )
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
        cipher,
        pseudo,
        review_text_id(record.decision_id, kind),
        "text",
        record.sealed,
        version=record.version,
    )
    if body is None:
        return None
    return {k: (str(body[k]) if body.get(k) is not None else None) for k in ("note", "reason")}


@dataclass(frozen=True)
class ItemValues:
    """The personal values of one served item, opened (``None`` where erased)."""

    score: float | None
    model_score: float | None
    propensity: float | None
    residual: float | None
    unknown: tuple[str, ...]
    inputs: dict[str, float] | None
    """Feature -> input value (NaN for a missing one); ``None`` once the subject was erased."""


@dataclass(frozen=True)
class Opened:
    """The personal parts of one decision's entries, decrypted for staff.

    ``erased`` is true when the subject's key is gone and a sealed part could not be read; then
    ``contributions`` (or ``items``) is ``None``, the texts of sealed actions are ``None``, and
    (record version 3) so are the score, probability and residual. Records of versions 1 and 2
    keep their clear score and probability here even after erasure: that is how they were
    written.
    """

    erased: bool = False
    contributions: list[float] | None = None
    items: list[list[float]] | None = None
    texts: dict[int, str | None] = field(default_factory=dict)
    """Review action seq -> its reason or note as the history shows it."""
    score: float | None = None
    probability: float | None = None
    residual: float | None = None
    trigger: str | None = None
    """The exact review trigger while it can be read, else the clear one."""
    shadow: dict[str, Any] | None = None
    unknown: tuple[str, ...] = ()
    inputs: dict[str, float] | None = None
    """A decision's inputs (NaN for a missing value); ``None`` once the subject was erased."""
    values: list[ItemValues] | None = None
    """A recommendation's items, in record order."""


def _nan(values: Mapping[str, float | None]) -> dict[str, float]:
    return {k: float("nan") if v is None else float(v) for k, v in values.items()}


def decision_parts(record: DecisionRecord, cipher: FieldCipher | None, pseudo: str) -> Opened:
    """The personal parts of a decision record of any version, opened with ``cipher``."""
    output = record.output
    if record.version >= 3:
        sealed = open_decision(record, cipher, pseudo)
        if sealed is None:
            return Opened(erased=True, trigger=output.trigger, shadow=record.shadow)
        return Opened(
            contributions=list(sealed.contributions),
            score=sealed.score,
            probability=sealed.probability,
            residual=sealed.residual,
            trigger=sealed.trigger,
            shadow=sealed.shadow,
            unknown=sealed.unknown_categories,
            inputs=_nan(sealed.inputs),
        )
    contributions = decision_contributions(record, cipher, pseudo)
    inputs = None
    if cipher is not None:
        inputs = decrypt_inputs(cipher, pseudo, record.decision_id, record.inputs)
    return Opened(
        erased=contributions is None,
        contributions=contributions,
        score=output.score,
        probability=output.probability,
        residual=record.explanation.residual,
        trigger=output.trigger,
        shadow=record.shadow,
        unknown=record.unknown_categories,
        inputs=None if inputs is None else _nan(inputs),
    )


def listing_parts(
    record: RecommendationRecord, cipher: FieldCipher | None, pseudo: str
) -> Opened:
    """The personal parts of a recommendation record of any version, opened with ``cipher``."""
    if record.version >= 3:
        sealed = open_listing(record, cipher, pseudo)
        if sealed is None:
            blank = ItemValues(None, None, None, None, (), None)
            return Opened(erased=True, shadow=record.shadow, values=[blank] * len(record.items))
        return Opened(
            items=[list(i.contributions) for i in sealed.items],
            shadow=sealed.shadow,
            values=[_item_values(i) for i in sealed.items],
        )
    items = item_contributions(record, cipher, pseudo)
    values = []
    for item in record.items:
        inputs = None
        if cipher is not None:
            record_id = input_aad_id(record.decision_id, item.item_id)
            inputs = _nan(decrypt_inputs(cipher, pseudo, record_id, item.inputs))
        values.append(
            ItemValues(
                item.score,
                item.model_score,
                item.propensity,
                item.residual,
                item.unknown_categories,
                inputs,
            )
        )
    return Opened(erased=items is None, items=items, shadow=record.shadow, values=values)


def _item_values(item: SealedItem) -> ItemValues:
    return ItemValues(
        item.score,
        item.model_score,
        item.propensity,
        item.residual,
        item.unknown_categories,
        _nan(item.inputs),
    )


def open_entries(
    cipher: FieldCipher | None, pseudo: str, entry: LedgerEntry, actions: Sequence[LedgerEntry]
) -> Opened:
    """Open the sealed parts of a decision entry and its review actions with ``cipher``."""
    if entry.kind == "decision":
        opened = decision_parts(DecisionRecord.model_validate(entry.data), cipher, pseudo)
    elif entry.kind == "recommendation":
        opened = listing_parts(RecommendationRecord.model_validate(entry.data), cipher, pseudo)
    else:
        opened = Opened()
    texts: dict[int, str | None] = {}
    erased = opened.erased
    for action in actions:
        if not action.kind.startswith("review."):
            continue
        text = review_text(review_record(action), action.kind, cipher, pseudo)
        erased = erased or text is None
        texts[action.seq] = None if text is None else (text["reason"] or text["note"])
    return replace(opened, erased=erased, texts=texts)
