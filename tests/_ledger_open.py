"""Open the ledger of a test store (SQLite path or PostgreSQL URL) in any process.

Used by the cross-process tests' child processes (which import it from the tests folder) and
by their parents, so both open the same ledger the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk.crypto.keyring import Keyring
from sdk.ledger import Ledger


def open_ledger(store: str, keyring: str | Path) -> tuple[Ledger, Any]:
    """The ledger of ``store`` (signed with ``keyring``) and the handle to close."""
    ring = Keyring.load(Path(keyring))
    db: Any
    if store.startswith("postgresql://"):
        from sdk._store._postgres.database import PgDatabase
        from sdk._store._postgres.interim import LedgerDatabase

        db = LedgerDatabase(PgDatabase.open(store, max_size=4))
    else:
        from sdk.store import Database

        db = Database.open(store)
    return Ledger(db, mac_key=ring.mac_key, signer=ring, origin="tests/ledger"), db
