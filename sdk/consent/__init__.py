"""Consent: purposes, versioned notices, consent events on the ledger, state at any moment,
and signed receipts that prove themselves offline.

``p.consent`` is a :class:`ConsentLedger`. Consent events are entries of the shared tamper-evident
ledger (an RFC 9162 Merkle log); the state of a subject at any moment is derived from those entries
alone. :func:`verify_receipt` checks a receipt with nothing but the public key.
"""

from .ledger import ConsentLedger
from .notices import NoticeRegistry
from .purposes import BUILTIN_PURPOSES, LegalBasis, Purpose, PurposeCatalog
from .receipts import kantara_receipt, verify_receipt
from .state import DPV_STATUS

__all__ = [
    "BUILTIN_PURPOSES",
    "DPV_STATUS",
    "ConsentLedger",
    "LegalBasis",
    "NoticeRegistry",
    "Purpose",
    "PurposeCatalog",
    "kantara_receipt",
    "verify_receipt",
]
