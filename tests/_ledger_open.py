"""Open the ledger of a test store (SQLite path or PostgreSQL URL) in any process.

Used by the cross-process tests' child processes (which import it from the tests folder) and
by their parents, so both open the same ledger the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk._store import open_store
from sdk.crypto.keyring import Keyring
from sdk.ledger import Ledger


def open_ledger(store: str, keyring: str | Path) -> tuple[Ledger, Any]:
    """The ledger of ``store`` (signed with ``keyring``) and the handle to close."""
    ring = Keyring.load(Path(keyring))
    db = open_store(store)
    return Ledger(db, mac_key=ring.mac_key, signer=ring, origin="tests/ledger"), db
