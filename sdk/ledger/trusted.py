"""Comparing what a verifier is shown with a checkpoint it holds from elsewhere (RFC 9162).

A checkpoint the verifier kept (from a witness, an earlier audit) pins the log: whatever it is
shown later, an export, a proof or a consent receipt, must be of the same log and one of the two
trees must be a prefix of the other. At the same size that is the same root. At different sizes
it takes an RFC 9162 consistency proof from the smaller to the larger: the verifier computes the
larger root's prefix itself when an export holds the whole ledger (every entry from 1 to its
size), and otherwise needs :class:`ConsistencyEvidence` from the caller
(``p.audit.prove_consistency``).
Without one the answer is a failure, never a pass: an insider with the signing key can sign a
fork of any size, and only the trusted checkpoint stands against it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigurationError, ProofError
from ..types import Frozen
from .checkpoint import Checkpoint, ConsistencyProof, open_checkpoint, verify_consistency_proof
from .merkle import MerkleTree

__all__ = ["ConsistencyEvidence", "EvidenceInput", "compare_with_trusted", "load_evidence"]

_MAX_EVIDENCE = 1 << 20


class ConsistencyEvidence(Frozen):
    """The log at ``new_checkpoint`` extends the one at ``old_checkpoint``."""

    old_checkpoint: str
    new_checkpoint: str
    proof: dict[str, Any]


EvidenceInput = ConsistencyEvidence | dict[str, Any] | str | bytes | os.PathLike[str]
"""Consistency evidence: the model, its JSON (text, bytes or a dict), or a file holding it."""


def load_evidence(value: EvidenceInput) -> ConsistencyEvidence:
    """:class:`ConsistencyEvidence` from any :data:`EvidenceInput`; :class:`ConfigurationError`
    (naming what is wrong, never its content) if it is not one."""
    if isinstance(value, ConsistencyEvidence):
        return value
    try:
        if isinstance(value, os.PathLike):
            path = Path(value)
            if not path.is_file() or path.stat().st_size > _MAX_EVIDENCE:
                raise ConfigurationError(
                    f"consistency file {path.name}: missing, not a file or too large"
                )
            value = path.read_bytes()
        if isinstance(value, str | bytes):
            value = json.loads(value)
        return ConsistencyEvidence.model_validate(value, strict=False)
    except (OSError, ValueError, TypeError, RecursionError, ValidationError):
        raise ConfigurationError(
            "the consistency evidence is not the JSON of p.audit.prove_consistency(...)"
        ) from None


def parse_proof(raw: dict[str, Any]) -> ConsistencyProof:
    """The :class:`ConsistencyProof` of an evidence's ``proof`` field; raises ValueError,
    TypeError or KeyError if malformed."""
    old, new, path = raw["old_size"], raw["new_size"], raw["path"]
    if type(old) is not int or type(new) is not int or not isinstance(path, list):
        raise TypeError("malformed consistency proof")
    return ConsistencyProof(old, new, tuple(base64.b64decode(p, validate=True) for p in path))


def compare_with_trusted(
    trusted: Checkpoint,
    shown: Checkpoint,
    key: bytes,
    *,
    what: str,
    leaves: Sequence[bytes] | None = None,
    evidence: ConsistencyEvidence | None = None,
) -> tuple[int | None, str] | None:
    """What is wrong between the ``trusted`` checkpoint and the ``shown`` one (of ``what``: "the
    export", "the proof"): ``(first_bad, problem)``, or None when one log extends the other.

    ``leaves`` are the leaf hashes of every entry of the shown log (when the verifier holds
    them all); ``evidence`` a consistency proof between the two sizes. ``first_bad`` is the
    size at which the logs are known to differ: they differ at or before that entry.
    """
    if shown.origin != trusted.origin:
        return None, f"{what} is of another log (origin {shown.origin!r})"
    n, m = trusted.size, shown.size
    if n == m:
        if shown.root != trusted.root:
            return n, (
                f"{what}'s tree of {n} entries differs from the trusted one of the same size: "
                f"a fork (the logs differ at or before entry {n})"
            )
        return None
    if leaves is not None and n < m and len(leaves) == m:
        tree = MerkleTree(list(leaves))
        if tree.root(m) != shown.root:
            return None, f"the entries of {what} are not the tree its checkpoint signs"
        if tree.root(n) != trusted.root:
            return n, (
                f"the first {n} entries of {what} are not the tree of the trusted checkpoint: "
                f"a fork (the logs differ at or before entry {n})"
            )
        return None
    if evidence is None:
        return None, (
            f"{what} is of a log of {m} entries and the trusted checkpoint of {n}: pass "
            "consistency evidence between them (p.audit.prove_consistency(old, new)), without "
            "which a fork cannot be told from a log that grew"
        )
    return _check_evidence(trusted, shown, key, evidence, what)


def _check_evidence(
    trusted: Checkpoint, shown: Checkpoint, key: bytes, evidence: ConsistencyEvidence, what: str
) -> tuple[int | None, str] | None:
    small, large = (trusted, shown) if trusted.size < shown.size else (shown, trusted)
    try:
        old = open_checkpoint(evidence.old_checkpoint, key, origin=trusted.origin)
        new = open_checkpoint(evidence.new_checkpoint, key, origin=trusted.origin)
        if (old.size, old.root, new.size, new.root) != (
            small.size, small.root, large.size, large.root
        ):
            return None, (
                f"the consistency evidence is not between the trusted checkpoint and {what}'s"
            )
        proof = parse_proof(evidence.proof)
        verify_consistency_proof(old, new, proof, key, origin=trusted.origin)
    except ProofError as exc:
        return small.size, (
            f"the log of {large.size} entries does not extend the one of {small.size} ({exc}): "
            f"a fork (the logs differ at or before entry {small.size})"
        )
    except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError):
        return None, "the consistency evidence is malformed"
    return None
