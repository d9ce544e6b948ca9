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
reordering or appending entries without the key is detected by :meth:`Ledger.verify`.
Concurrent appends share transactions (group commit); see :mod:`sdk.ledger.log`.
"""

from __future__ import annotations

from .entry import GENESIS_HASH, LedgerEntry, PendingEntry, RawEntry
from .log import Ledger, LedgerStats

__all__ = [
    "GENESIS_HASH",
    "Ledger",
    "LedgerEntry",
    "LedgerStats",
    "PendingEntry",
    "RawEntry",
]
