"""Proofs a compliance officer can check offline: a decision and the consent it used are in the
signed ledger (RFC 9162 inclusion proofs), and the ledger only grew (consistency proofs).

``p.audit.prove(decision_id)`` returns an :class:`AuditProof`: the latest signed checkpoint, the
decision's entry bytes, its review actions and the consent entries its record names, each with
an inclusion proof against that checkpoint. :func:`verify_proof` checks it with nothing but the
proof and the ledger's public key. ``p.audit.prove_consistency(old_checkpoint)`` and
:func:`verify_consistency` catch a ledger served from an older or forked state (rollback).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Any

from ..crypto.trust import TrustedKey, TrustMaterial, load_key, load_note, unpinned
from ..errors import AuditError, ConfigurationError, LedgerError, ProofError
from ..ledger import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    Ledger,
    open_checkpoint,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from ..ledger.entry import loads
from ..ledger.trusted import ConsistencyEvidence, EvidenceInput, compare_with_trusted, load_evidence
from ..types import Frozen, VerifyReport

__all__ = [
    "AuditProof",
    "ConsistencyEvidence",
    "EntryProof",
    "prove_consistency",
    "prove_decision",
    "verify_consistency",
    "verify_proof",
]


class EntryProof(Frozen):
    """One ledger entry: its exact bytes, their SHA-256, and its inclusion proof (JSON form)."""

    seq: int
    hash: str
    body: str
    proof: dict[str, Any]


class AuditProof(Frozen):
    """Evidence that a decision, its review actions and the consent it used are in the log."""

    decision_id: str
    origin: str
    checkpoint: str
    """The signed checkpoint (C2SP signed note) every proof is checked against."""
    public_key: str
    """Base64 Ed25519 key of the checkpoint signer, as the proof claims it: verify_proof trusts
    it only when it is the key you pinned."""
    decision: EntryProof
    actions: tuple[EntryProof, ...]
    consent: tuple[EntryProof, ...]


def _entry(ledger: Ledger, seq: int, size: int) -> EntryProof:
    body = ledger.body(seq)
    return EntryProof(
        seq=seq,
        hash=hashlib.sha256(body).hexdigest(),
        body=body.decode(),
        proof=ledger.prove(seq, size=size).to_json(),
    )


def prove_decision(
    ledger: Ledger, decision_seq: int, action_seqs: list[int], decision_id: str
) -> AuditProof:
    """Build the :class:`AuditProof` of one decision against the latest checkpoint."""
    key = ledger.public_key
    if key is None:
        raise AuditError(
            "this ledger has no signing key, so it has no checkpoints to prove against"
        )
    cp = ledger.checkpoint()
    if cp.size < decision_seq:
        raise AuditError("the decision is newer than the latest checkpoint; try again")
    record = loads(ledger.body(decision_seq))
    consent = record["data"].get("consent", {}).get("entries", [])
    return AuditProof(
        decision_id=decision_id,
        origin=cp.origin,
        checkpoint=cp.note,
        public_key=base64.b64encode(key).decode(),
        decision=_entry(ledger, decision_seq, cp.size),
        actions=tuple(_entry(ledger, s, cp.size) for s in action_seqs if s <= cp.size),
        consent=tuple(_entry(ledger, int(e["seq"]), cp.size) for e in consent),
    )


_BAD_INPUT = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError)


def _fail(problem: str, checked: int = 0, first_bad: int | None = None) -> VerifyReport:
    return VerifyReport(ok=False, checked=checked, first_bad=first_bad, problem=problem)


def _parse(proof: AuditProof | dict[str, Any] | str | bytes) -> AuditProof | None:
    try:
        if isinstance(proof, str | bytes):
            proof = json.loads(proof)
        if isinstance(proof, AuditProof):
            return proof
        return AuditProof.model_validate(proof, strict=False)
    except _BAD_INPUT:
        return None


def _signer_key(proof: AuditProof, pinned: TrustedKey | None) -> bytes | None:
    if pinned is not None:
        return pinned.raw
    try:
        raw = base64.b64decode(proof.public_key, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def verify_proof(
    proof: AuditProof | dict[str, Any] | str | bytes,
    public_key: TrustMaterial | None = None,
    *,
    trust: TrustMaterial | None = None,
    trusted_checkpoint: str | os.PathLike[str] | None = None,
    consistency: EvidenceInput | None = None,
) -> VerifyReport:
    """Check an :class:`AuditProof` offline; the report names the first check that failed.

    ``trust`` (or ``public_key``, positional) is the signer's key you pinned: raw 32 bytes,
    base64 text or a trust file written by ``whylens keys public``. ``trusted_checkpoint`` is a
    signed checkpoint note you hold from elsewhere, which the proof's key must have signed.
    Without either the report is not ok, whatever else passed, and says how to pin: the key
    inside the proof proves nothing about who made it.

    A trusted checkpoint of another size than the proof's needs ``consistency``: the RFC 9162
    consistency evidence between the two (``p.audit.prove_consistency(trusted, proof.checkpoint)``
    or the other way round), else the report is not ok, since a fork signed by an insider
    looks like a log that grew. A fork is named with the size at or before which the logs differ.

    Checks: the checkpoint is signed by the pinned key; every entry's bytes hash to its stated
    hash and are included in the checkpointed tree; the decision entry is that decision; each
    action names it; and the consent entries are exactly the ones (seq and hash) the decision
    record names. Malformed input gives a failing report, never an exception.
    """
    try:
        material = trust if trust is not None else public_key
        pinned = load_key(material) if material is not None else None
        note = load_note(trusted_checkpoint) if trusted_checkpoint is not None else None
        evidence = load_evidence(consistency) if consistency is not None else None
    except ConfigurationError as exc:
        return _fail(f"trust: {exc}")
    parsed = _parse(proof)
    if parsed is None:
        return _fail("proof: malformed (not an audit proof's JSON)")
    key = _signer_key(parsed, pinned)
    if key is None:
        return _fail("proof: its public key is not base64 of an Ed25519 key")
    try:
        cp = open_checkpoint(parsed.checkpoint, key, origin=parsed.origin)
    except ProofError as exc:
        return _fail(f"checkpoint: {exc}")
    report = _check_entries(parsed, cp, key)
    if not report.ok:
        return report
    if note is not None:
        try:
            trusted = open_checkpoint(note, key, origin=parsed.origin)
        except ProofError as exc:
            return _fail(
                f"trusted checkpoint: not signed by the proof's key, so the proof is not from "
                f"that log ({exc})",
                report.checked,
            )
        problem = compare_with_trusted(trusted, cp, key, what="the proof", evidence=evidence)
        if problem is not None:
            return _fail(f"trusted checkpoint: {problem[1]}", report.checked, problem[0])
    elif pinned is None:
        return _fail(unpinned("the proof"), report.checked)
    return report


def _check_entries(proof: AuditProof, cp: Checkpoint, key: bytes) -> VerifyReport:
    entries = [("decision", proof.decision)]
    entries += [("action", a) for a in proof.actions]
    entries += [("consent", c) for c in proof.consent]
    for checked, (role, item) in enumerate(entries):

        def fail(problem: str, item: EntryProof = item, checked: int = checked) -> VerifyReport:
            return _fail(problem, checked, item.seq)

        try:
            body = item.body.encode()
        except UnicodeEncodeError:
            return fail(f"{role} entry {item.seq}: its bytes are not UTF-8 text")
        if hashlib.sha256(body).hexdigest() != item.hash:
            return fail(f"{role} entry {item.seq}: bytes do not match their hash")
        try:
            parsed = InclusionProof.from_json(item.proof)
            if parsed.seq != item.seq:
                raise ProofError("the proof is for another entry")
            verify_inclusion_proof(body, parsed, cp, key, origin=proof.origin)
            data = loads(body)["data"]
            about = data.get("decision_id")
            named = (
                [(int(e["seq"]), e["hash"]) for e in data["consent"].get("entries", [])]
                if role == "decision"
                else []
            )
        except ProofError as exc:
            return fail(f"{role} entry {item.seq}: {exc}")
        except _BAD_INPUT as exc:
            return fail(f"{role} entry {item.seq}: its body is malformed ({type(exc).__name__})")
        if about != proof.decision_id and role != "consent":
            return fail(f"{role} entry {item.seq}: is about another decision")
        if role == "decision" and named != [(c.seq, c.hash) for c in proof.consent]:
            return fail("consent entries differ from those the decision record names")
    return VerifyReport(ok=True, checked=len(entries), head_hash=cp.root.hex())


def prove_consistency(
    ledger: Ledger, old_checkpoint: str, new_checkpoint: str | None = None
) -> ConsistencyEvidence:
    """Evidence that the log of ``new_checkpoint`` (default: today's) extends the log of
    ``old_checkpoint`` (a note you kept; an export's or a proof's checkpoint).

    Raises :class:`AuditError` when it cannot: the log is now shorter than the old checkpoint
    (rolled back), a checkpoint was not signed by this ledger's key, or the new one is not of
    this ledger's entries.
    """
    key = ledger.public_key
    if key is None:
        raise AuditError("this ledger has no signing key, so it has no checkpoints")
    try:
        old = open_checkpoint(old_checkpoint, key, origin=ledger.origin)
        new = (
            ledger.checkpoint()
            if new_checkpoint is None
            else open_checkpoint(new_checkpoint, key, origin=ledger.origin)
        )
    except ProofError as exc:
        raise AuditError(f"the checkpoint does not verify: {exc}") from None
    if new_checkpoint is not None:
        try:
            ours = ledger.checkpoint(new.size)
        except LedgerError as exc:
            raise AuditError(f"no consistency proof: {exc}") from None
        if ours.root != new.root:
            raise AuditError(
                f"the new checkpoint is not of this ledger's first {new.size} entries"
            )
    if old.size > new.size:
        raise AuditError(
            f"the ledger has {new.size} entries but the old checkpoint has {old.size}: "
            "it was rolled back or replaced"
        )
    try:
        proof = ledger.prove_consistency(old.size, new.size)
    except LedgerError as exc:
        raise AuditError(f"no consistency proof: {exc}") from None
    return ConsistencyEvidence(
        old_checkpoint=old.note, new_checkpoint=new.note, proof=proof.to_json()
    )


def verify_consistency(
    evidence: ConsistencyEvidence,
    public_key: TrustMaterial,
    *,
    old_checkpoint: str | None = None,
) -> VerifyReport:
    """Check offline that the new checkpoint's log extends the old one's.

    ``public_key`` is the signer's key you pinned (raw, base64 or a trust file). Pass
    ``old_checkpoint`` (the note *you* kept) so a server cannot swap in another old one.
    """
    try:
        key = load_key(public_key).raw
    except ConfigurationError as exc:
        return VerifyReport(ok=False, checked=0, problem=f"trust: {exc}")
    if old_checkpoint is not None and old_checkpoint != evidence.old_checkpoint:
        return VerifyReport(
            ok=False, checked=0, problem="the evidence is for another old checkpoint"
        )
    try:
        raw = evidence.proof
        proof = ConsistencyProof(
            int(raw["old_size"]),
            int(raw["new_size"]),
            tuple(base64.b64decode(p, validate=True) for p in raw["path"]),
        )
        verify_consistency_proof(evidence.old_checkpoint, evidence.new_checkpoint, proof, key)
    except ProofError as exc:
        return VerifyReport(ok=False, checked=0, problem=f"consistency: {exc}")
    except _BAD_INPUT as exc:
        return VerifyReport(
            ok=False, checked=0, problem=f"consistency: malformed proof ({type(exc).__name__})"
        )
    return VerifyReport(ok=True, checked=1)
