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
import hashlib
import json
from typing import Any

from ..errors import AuditError, LedgerError, ProofError
from ..ledger import (
    ConsistencyProof,
    InclusionProof,
    Ledger,
    open_checkpoint,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from ..ledger.entry import loads
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
    """Base64 Ed25519 key of the checkpoint signer; pin the one you expect in verify_proof."""
    decision: EntryProof
    actions: tuple[EntryProof, ...]
    consent: tuple[EntryProof, ...]


class ConsistencyEvidence(Frozen):
    """The log at ``new_checkpoint`` extends the one at ``old_checkpoint``."""

    old_checkpoint: str
    new_checkpoint: str
    proof: dict[str, Any]


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


def _key(public_key: bytes | str) -> bytes:
    return public_key if isinstance(public_key, bytes) else base64.b64decode(public_key)


def verify_proof(
    proof: AuditProof | dict[str, Any] | str, public_key: bytes | str | None = None
) -> VerifyReport:
    """Check an :class:`AuditProof` offline; the report names the first check that failed.

    Checks: the checkpoint is signed by ``public_key`` (default: the key in the proof; pin the
    one you expect); every entry's bytes hash to its stated hash and are included in the
    checkpointed tree; the decision entry is that decision; each action names it; and the
    consent entries are exactly the ones (seq and hash) the decision record names.
    """
    try:
        if isinstance(proof, str):
            proof = json.loads(proof)
        if not isinstance(proof, AuditProof):
            proof = AuditProof.model_validate(proof, strict=False)
        key = _key(public_key if public_key is not None else proof.public_key)
        cp = open_checkpoint(proof.checkpoint, key, origin=proof.origin)
    except (ValueError, ProofError) as exc:
        problem = str(exc) if isinstance(exc, ProofError) else "malformed proof"
        return VerifyReport(ok=False, checked=0, problem=f"checkpoint: {problem}")
    entries = [("decision", proof.decision)]
    entries += [("action", a) for a in proof.actions]
    entries += [("consent", c) for c in proof.consent]
    for checked, (role, item) in enumerate(entries):

        def fail(problem: str, item: EntryProof = item, checked: int = checked) -> VerifyReport:
            return VerifyReport(ok=False, checked=checked, first_bad=item.seq, problem=problem)

        body = item.body.encode()
        if hashlib.sha256(body).hexdigest() != item.hash:
            return fail(f"{role} entry {item.seq}: bytes do not match their hash")
        try:
            parsed = InclusionProof.from_json(item.proof)
            if parsed.seq != item.seq:
                raise ProofError("the proof is for another entry")
            verify_inclusion_proof(body, parsed, cp, key, origin=proof.origin)
            data = loads(body)["data"]
        except (ProofError, ValueError, KeyError, TypeError) as exc:
            return fail(f"{role} entry {item.seq}: {exc}")
        if data.get("decision_id") != proof.decision_id and role != "consent":
            return fail(f"{role} entry {item.seq}: is about another decision")
        if role == "decision":
            named = [(int(e["seq"]), e["hash"]) for e in data["consent"].get("entries", [])]
            if named != [(c.seq, c.hash) for c in proof.consent]:
                return VerifyReport(
                    ok=False,
                    checked=checked,
                    first_bad=item.seq,
                    problem="consent entries differ from those the decision record names",
                )
    return VerifyReport(ok=True, checked=len(entries), head_hash=cp.root.hex())


def prove_consistency(ledger: Ledger, old_checkpoint: str) -> ConsistencyEvidence:
    """Evidence that today's log extends the log of ``old_checkpoint`` (a note you kept).

    Raises :class:`AuditError` when it cannot: the log is now shorter than the old checkpoint
    (rolled back), or the old checkpoint was not signed by this ledger's key.
    """
    key = ledger.public_key
    if key is None:
        raise AuditError("this ledger has no signing key, so it has no checkpoints")
    try:
        old = open_checkpoint(old_checkpoint, key, origin=ledger.origin)
    except ProofError as exc:
        raise AuditError(f"the old checkpoint does not verify: {exc}") from None
    new = ledger.checkpoint()
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
    evidence: ConsistencyEvidence, public_key: bytes | str, *, old_checkpoint: str | None = None
) -> VerifyReport:
    """Check offline that the new checkpoint's log extends the old one's.

    Pass ``old_checkpoint`` (the note *you* kept) so a server cannot swap in another old one.
    """
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
        verify_consistency_proof(
            evidence.old_checkpoint, evidence.new_checkpoint, proof, _key(public_key)
        )
    except (ProofError, ValueError, KeyError, TypeError) as exc:
        return VerifyReport(ok=False, checked=0, problem=f"consistency: {exc}")
    return VerifyReport(ok=True, checked=1)
