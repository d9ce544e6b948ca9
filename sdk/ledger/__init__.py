"""The ledger: ONE tamper-evident, append-only, hash-chained log in the shared database.

The consent ledger, the audit trail and subject-rights events all append to it, each in its own
*stream* (``"consent"``, ``"audit"``, ``"subjects"``...)::

    from sdk.ledger import Ledger, PendingEntry

    ledger = Ledger(db, mac_key=key)
    e = ledger.append("consent", "consent.grant", {"purposes": ["personalization"]},
                      subject=pseudonym)
    ledger.append_many([PendingEntry("audit", "decision", {...}), ...])   # one transaction
    for entry in ledger.entries(stream="consent", subject=pseudonym):
        ...
    report = ledger.verify()          # sdk.types.VerifyReport: ok, checked, first_bad, problem

Each entry's body is canonical JSON (RFC 8785) carrying the previous entry's hash; after every
commit an HMAC-signed head (size and last hash) seals the end of the chain, so editing, removing,
reordering or appending entries without the key is detected by :meth:`Ledger.verify`. The entries
are also the leaves of an RFC 9162 Merkle tree: with a signer, each commit stores an Ed25519-signed
checkpoint (C2SP signed note), and :meth:`Ledger.prove` / :meth:`Ledger.prove_consistency` give
proofs that :func:`verify_inclusion_proof` / :func:`verify_consistency_proof` check offline.
Concurrent appends share transactions (group commit); see :mod:`sdk.ledger.log`.
"""

from __future__ import annotations

from .checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    Signer,
    open_checkpoint,
    sign_checkpoint,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from .entry import GENESIS_HASH, LedgerEntry, PendingEntry, RawEntry
from .follow import ChangeProbe, LedgerFollower, LedgerView, SizeProbe
from .log import Ledger, LedgerStats
from .merkle import MerkleTree, leaf_hash, node_hash, verify_consistency, verify_inclusion

__all__ = [
    "GENESIS_HASH",
    "ChangeProbe",
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "Ledger",
    "LedgerEntry",
    "LedgerFollower",
    "LedgerStats",
    "LedgerView",
    "MerkleTree",
    "PendingEntry",
    "RawEntry",
    "Signer",
    "SizeProbe",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "sign_checkpoint",
    "verify_consistency",
    "verify_consistency_proof",
    "verify_inclusion",
    "verify_inclusion_proof",
]
