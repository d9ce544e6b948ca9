"""Consent receipts: signed, self-proving, and readable as ISO/IEC TS 27560 (DPV) or Kantara v1.1.

A receipt carries the ledger entry's canonical bytes, its RFC 9162 inclusion proof and the signed
checkpoint (C2SP note) the proof leads to, and is itself signed (Ed25519, the keyring's key) over
the RFC 8785 canonical JSON of all its other fields, prefixed with a domain tag.
:func:`verify_receipt` needs only the receipt and a key the verifier pinned, or a checkpoint the
verifier holds from elsewhere (which vouches for the key the receipt names):

1. the receipt's signature (so no field, not one byte, was changed);
2. the checkpoint's signature (the same key);
3. SHA-256 of the entry bytes is the receipt's entry hash, and its leaf is in the checkpointed tree;
4. the entry says what the receipt says: action, subject pseudonym, purposes, seq;
5. with a trusted checkpoint: the same key signed it, for the same log, and at the same tree size
   it has the same root.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._canonical import canonical_json
from ..crypto.trust import PIN_HINT, TrustMaterial, load_key, load_note
from ..errors import ConfigurationError, ProofError
from ..ledger import (
    Checkpoint,
    InclusionProof,
    Ledger,
    LedgerEntry,
    Signer,
    open_checkpoint,
    verify_inclusion_proof,
)
from ..ledger.trusted import (
    ConsistencyEvidence,
    EvidenceInput,
    compare_with_trusted,
    load_evidence,
)
from ..types import ConsentReceipt, Notice
from .events import events_of
from .purposes import PurposeCatalog
from .state import DPV_STATUS

__all__ = [
    "build_receipt",
    "dpv_record",
    "kantara_receipt",
    "receipt_for",
    "verify_receipt",
]

_DOMAIN = b"whylens.consent-receipt.v1\x00"
_GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
_BASIS = {
    "consent": "A6-1-a",
    "contract": "A6-1-b",
    "legal_obligation": "A6-1-c",
    "vital_interest": "A6-1-d",
    "public_task": "A6-1-e",
    "legitimate_interest": "A6-1-f",
}


def _signed_bytes(fields: Mapping[str, Any]) -> bytes:
    return _DOMAIN + canonical_json({k: v for k, v in fields.items() if k != "signature"})


def dpv_record(
    *,
    receipt_id: str,
    entry: LedgerEntry,
    action: str,
    purposes: Sequence[str],
    statuses: Mapping[str, str],
    catalog: PurposeCatalog,
    notice: Notice | None,
    source: str | None,
    expires_at: datetime | None,
    at: datetime,
    controller: str | None,
) -> dict[str, Any]:
    """The ISO/IEC TS 27560 consent record fields, in the terms W3C DPV maps them to."""
    purpose_nodes = []
    for pid in purposes:
        p = catalog.get(pid)
        status = DPV_STATUS.get(statuses.get(pid, ""))
        purpose_nodes.append(
            {
                "@id": p.dpv_iri,
                "dct:identifier": pid,
                "dct:title": p.name,
                "dpv:hasLegalBasis": {"@id": _GDPR + _BASIS[p.legal_basis]},
                "dpv:hasConsentStatus": {"@id": status} if status else None,
                "tcf:purposes": list(p.tcf_purposes),
            }
        )
    return {
        "@context": {
            "dpv": "https://w3id.org/dpv#",
            "dct": "http://purl.org/dc/terms/",
            "tcf": "https://iabeurope.eu/tcf#",
        },
        "@type": "dpv:ConsentRecord",
        "dct:identifier": receipt_id,
        "dct:conformsTo": "ISO/IEC TS 27560:2023",
        "dct:created": _iso(entry.ts),
        "dpv:hasDataSubject": {"@id": f"urn:whylens:subject:{entry.subject}"},
        "dpv:hasDataController": controller,
        "dpv:hasPurpose": purpose_nodes,
        "dpv:isIndicatedAtTime": _iso(at),
        "dpv:hasIndicationMethod": source,
        "event": action,
        "dpv:hasNotice": (
            {
                "dct:identifier": notice.notice_id,
                "dct:hasVersion": notice.version,
                "dct:language": notice.language,
                "sha256": notice.text_sha256,
            }
            if notice is not None
            else None
        ),
        "dct:valid": _iso(expires_at) if expires_at is not None else None,
        "ledger": {"seq": entry.seq, "hash": entry.hash},
    }


def build_receipt(
    *,
    receipt_id: str,
    action: str,
    entry: LedgerEntry,
    body: bytes,
    purposes: Sequence[str],
    at: datetime,
    notice: Notice | None,
    source: str | None,
    expires_at: datetime | None,
    record: dict[str, Any],
    proof: InclusionProof,
    checkpoint: Checkpoint,
    signer: Signer,
    recorded: bool,
) -> ConsentReceipt:
    """Assemble and sign a receipt for ``entry``."""
    fields: dict[str, Any] = {
        "receipt_id": receipt_id,
        "subject": entry.subject,
        "action": action,
        "purposes": list(purposes),
        "at": _iso(at),
        "notice": notice.model_dump(mode="json") if notice is not None else None,
        "source": source,
        "expires_at": _iso(expires_at) if expires_at is not None else None,
        "ledger_seqs": [entry.seq],
        "entry_hashes": [entry.hash],
        "recorded": recorded,
        "record": record,
        "entry_body": body.decode(),
        "inclusion_proof": [base64.b64encode(p).decode() for p in proof.path],
        "tree_size": proof.tree_size,
        "checkpoint": checkpoint.note,
        "key_fingerprint": hashlib.sha256(signer.public_key_bytes()).hexdigest(),
        "public_key": base64.b64encode(signer.public_key_bytes()).decode(),
    }
    unsigned = ConsentReceipt.model_validate(fields, strict=False)
    # sign the receipt's own JSON form, so what a verifier re-reads is exactly what was signed
    sig = signer.sign(_signed_bytes(unsigned.model_dump(mode="json")))
    return unsigned.model_copy(update={"signature": base64.b64encode(sig).decode()})


def verify_receipt(
    receipt: ConsentReceipt | Mapping[str, Any] | str | bytes,
    public_key: TrustMaterial | None = None,
    *,
    trusted_checkpoint: str | os.PathLike[str] | None = None,
    consistency: EvidenceInput | None = None,
) -> None:
    """Check a consent receipt offline against a key you pinned or a checkpoint you hold.

    ``public_key``: the signer's key, the raw 32 bytes, base64 text, or a trust file written by
    ``whylens keys public``. ``trusted_checkpoint``: a signed checkpoint note (its text, or a
    file holding it) you got from elsewhere -- a witness, an auditor, an earlier export: the
    key the receipt names must have signed it (so the receipt comes from that log), and one log
    must extend the other: at the same tree size the same root, at another size an RFC 9162
    consistency proof between the two checkpoints, ``consistency`` (made by
    ``p.audit.prove_consistency(old, new)``; its JSON, a dict or a file); without it a receipt
    of another size fails, since an insider with the signing key can sign a fork of any size.
    A receipt's own key proves nothing (a forger puts theirs), so with neither argument
    :class:`ProofError` says how to pin; with both, both must hold.

    Accepts the receipt object, its JSON dict, or its JSON text (``receipt.model_dump_json()``).
    The signature covers the fields exactly as given, so changing any byte of the JSON fails.
    Raises :class:`ProofError` naming the first check that failed (malformed input included);
    returns None when all pass.
    """
    if public_key is None and trusted_checkpoint is None:
        raise ProofError(
            "no trusted key or checkpoint to check the receipt against: "
            f"{PIN_HINT}, or pass a checkpoint you hold (trusted_checkpoint=, --checkpoint)"
        )
    try:
        pinned = load_key(public_key).raw if public_key is not None else None
        note = load_note(trusted_checkpoint) if trusted_checkpoint is not None else None
        evidence = load_evidence(consistency) if consistency is not None else None
    except ConfigurationError as exc:
        raise ProofError(f"trust: {exc}") from None
    try:
        if isinstance(receipt, ConsentReceipt):
            raw: Any = receipt.model_dump(mode="json")
            if raw.get("public_key") is None:
                raw.pop("public_key", None)  # a receipt from before the field: never signed
        elif isinstance(receipt, str | bytes):
            raw = json.loads(receipt)
        else:
            raw = dict(receipt)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        receipt = ConsentReceipt.model_validate(raw, strict=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ProofError("the receipt is not a well-formed consent receipt") from exc
    if receipt.signature is None or receipt.checkpoint is None or receipt.entry_body is None:
        raise ProofError("the receipt carries no signature, checkpoint or entry")
    key_bytes = pinned if pinned is not None else _claimed_key(receipt)
    try:
        key = Ed25519PublicKey.from_public_bytes(key_bytes)
        sig = base64.b64decode(receipt.signature, validate=True)
        if base64.b64encode(sig).decode() != receipt.signature:
            raise ValueError("not canonical base64")  # the signature itself is not signed
        key.verify(sig, _signed_bytes(raw))
    except (InvalidSignature, ValueError, TypeError, RecursionError, binascii.Error) as exc:
        raise ProofError(
            "the receipt's signature does not verify with this key (it was altered, or signed "
            "by another key)"
        ) from exc
    _check_proof(receipt, key_bytes)
    if note is not None:
        _check_trusted_checkpoint(note, receipt.checkpoint, key_bytes, evidence)


def _claimed_key(receipt: ConsentReceipt) -> bytes:
    if receipt.public_key is None:
        raise ProofError(
            "the receipt names no public key (made before receipts carried one), so a trusted "
            f"checkpoint cannot vouch for it: {PIN_HINT}"
        )
    try:
        key = base64.b64decode(receipt.public_key, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError("the receipt's public key is not base64") from None
    if len(key) != 32:
        raise ProofError("the receipt's public key is not an Ed25519 key")
    return key


def _check_trusted_checkpoint(
    note: str, ours_note: str, key: bytes, evidence: ConsistencyEvidence | None
) -> None:
    """The receipt's key signed the checkpoint the verifier holds, of the same log, and one of
    the two logs extends the other."""
    ours = open_checkpoint(ours_note, key)
    try:
        trusted = open_checkpoint(note, key, origin=ours.origin)
    except ProofError as exc:
        raise ProofError(
            f"trusted checkpoint: not signed by the receipt's key for its log, so the receipt "
            f"is not from that log ({exc})"
        ) from None
    wrong = compare_with_trusted(trusted, ours, key, what="the receipt", evidence=evidence)
    if wrong is not None:
        raise ProofError(f"trusted checkpoint: {wrong[1]}")


def _check_proof(receipt: ConsentReceipt, public_key: bytes) -> None:
    """The entry bytes are in the receipt's checkpointed tree and say what the receipt says."""
    assert receipt.entry_body is not None and receipt.checkpoint is not None
    if len(receipt.ledger_seqs) != 1 or len(receipt.entry_hashes) != 1:
        raise ProofError("a receipt proves exactly one ledger entry")
    try:
        body = receipt.entry_body.encode()
    except UnicodeEncodeError:
        raise ProofError("the receipt's entry bytes are not UTF-8 text") from None
    if hashlib.sha256(body).hexdigest() != receipt.entry_hashes[0]:
        raise ProofError("the entry bytes do not match the receipt's entry hash")
    try:
        path = tuple(base64.b64decode(p, validate=True) for p in receipt.inclusion_proof)
    except (binascii.Error, ValueError) as exc:
        raise ProofError("the receipt's inclusion proof is not base64") from exc
    proof = InclusionProof(receipt.ledger_seqs[0], receipt.tree_size or 0, path)
    verify_inclusion_proof(body, proof, receipt.checkpoint, public_key)
    try:
        entry = json.loads(body)
        data = entry["data"]
        same = (
            entry["kind"] == f"consent.{receipt.action}"
            and entry["subject"] == receipt.subject
            and entry["seq"] == receipt.ledger_seqs[0]
            and tuple(data["purposes"]) == receipt.purposes
        )
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ProofError("the receipt's ledger entry does not parse") from exc
    if not same:
        raise ProofError("the ledger entry does not record what the receipt says")


def kantara_receipt(
    receipt: ConsentReceipt,
    catalog: PurposeCatalog,
    *,
    controller: Mapping[str, str] | None = None,
    jurisdiction: str = "EU",
    policy_url: str = "",
    service: str = "whylens",
    public_key: bytes | None = None,
) -> dict[str, Any]:
    """The Kantara Initiative Consent Receipt Specification v1.1 JSON view of a receipt."""
    ctrl = dict(controller or {})
    ending = _iso(receipt.expires_at) if receipt.expires_at else "until withdrawn"
    purposes = []
    for pid in receipt.purposes:
        p = catalog.get(pid)
        purposes.append(
            {
                "purpose": p.name,
                "purposeCategory": [p.dpv_iri],
                "consentType": "EXPLICIT" if p.needs_consent else "NOT APPLICABLE",
                "piiCategory": [],
                "primaryPurpose": pid == "service",
                "termination": ending if receipt.action == "grant" else "withdrawn",
                "thirdPartyDisclosure": False,
            }
        )
    return {
        "version": "KI-CR-v1.1.0",
        "jurisdiction": jurisdiction,
        "consentTimestamp": int(receipt.at.timestamp()),
        "collectionMethod": receipt.source or "api",
        "consentReceiptID": receipt.receipt_id,
        "publicKey": base64.b64encode(public_key).decode() if public_key else None,
        "language": receipt.notice.language if receipt.notice else "en",
        "piiPrincipalId": receipt.subject,
        "piiControllers": [
            {
                "piiController": ctrl.get("name", ""),
                "contact": ctrl.get("contact", ""),
                "address": ctrl.get("address", ""),
                "email": ctrl.get("email", ""),
                "phone": ctrl.get("phone", ""),
            }
        ],
        "policyUrl": policy_url,
        "services": [{"service": service, "purposes": purposes}],
        "sensitive": False,
        "spiCat": [],
    }


def receipt_for(
    ledger: Ledger,
    entry: LedgerEntry,
    *,
    recorded: bool,
    catalog: PurposeCatalog,
    statuses: Callable[[str, datetime], Mapping[str, str]],
    controller: str | None,
) -> ConsentReceipt:
    """The receipt of consent entry ``entry``: signed, with the proof against the latest
    checkpoint (unsigned and proof-less when the ledger has no signer)."""
    events = events_of(entry)
    first = events[0]
    receipt_id = f"rcpt-{entry.seq}-{entry.hash[:16]}"
    purposes = tuple(e.purpose for e in events)
    signer = ledger.signer
    if signer is None:
        return ConsentReceipt(
            receipt_id=receipt_id,
            subject=first.subject,
            action=first.action,
            purposes=purposes,
            at=first.at,
            notice=first.notice,
            source=first.source,
            expires_at=first.expires_at,
            ledger_seqs=(entry.seq,),
            entry_hashes=(entry.hash,),
            recorded=recorded,
        )
    cp = ledger.checkpoint_covering(entry.seq)
    record = dpv_record(
        receipt_id=receipt_id,
        entry=entry,
        action=first.action,
        purposes=purposes,
        statuses=statuses(first.subject, first.at),
        catalog=catalog,
        notice=first.notice,
        source=first.source,
        expires_at=first.expires_at,
        at=first.at,
        controller=controller,
    )
    return build_receipt(
        receipt_id=receipt_id,
        action=first.action,
        entry=entry,
        body=ledger.body_of(entry),
        purposes=purposes,
        at=first.at,
        notice=first.notice,
        source=first.source,
        expires_at=first.expires_at,
        record=record,
        proof=ledger.prove(entry.seq, size=cp.size),
        checkpoint=cp,
        signer=signer,
        recorded=recorded,
    )


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
