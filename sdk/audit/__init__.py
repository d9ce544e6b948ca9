"""Audit: decision records on the ledger, human review, exports verifiable offline.

``p.audit`` is an :class:`AuditTrail`, ``p.reviews`` a :class:`ReviewQueue`.
:func:`verify_export` checks an export folder with nothing but its files.
"""

from .export import verify_export
from .reviews import ReviewQueue
from .trail import AuditTrail

__all__ = ["AuditTrail", "ReviewQueue", "verify_export"]
