"""Audit: decision records on the ledger, human review, exports and proofs verifiable offline.

``p.audit`` is an :class:`AuditTrail`, ``p.reviews`` a :class:`ReviewQueue`.
:func:`verify_export` checks an export folder with nothing but its files; :func:`verify_proof`
checks ``p.audit.prove(decision_id)``; :func:`verify_consistency` checks that the ledger only grew.
"""

from .export import verify_export
from .fairness import FairnessReport, GroupRates
from .proofs import AuditProof, ConsistencyEvidence, verify_consistency, verify_proof
from .reviews import ReviewCase, ReviewQueue
from .trail import AuditTrail

__all__ = [
    "AuditProof",
    "AuditTrail",
    "ConsistencyEvidence",
    "FairnessReport",
    "GroupRates",
    "ReviewCase",
    "ReviewQueue",
    "verify_consistency",
    "verify_export",
    "verify_proof",
]
