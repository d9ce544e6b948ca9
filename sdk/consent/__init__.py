"""Consent: the purposes catalog, grants and withdrawals on the ledger, and state at any moment.

``p.consent`` is a :class:`ConsentLedger`. Consent events are entries of the shared tamper-evident
ledger; the state of a subject at any moment is derived from those entries alone.
"""

from .ledger import ConsentLedger
from .purposes import BUILTIN_PURPOSES, LegalBasis, Purpose, PurposeCatalog

__all__ = ["BUILTIN_PURPOSES", "ConsentLedger", "LegalBasis", "Purpose", "PurposeCatalog"]
