"""Data-key retirement recorded on the ledger, so an edit of ``whylens_meta`` cannot pass for one.

``min_data_key_version`` in ``whylens_meta`` says which data-key versions are retired (their
ciphertexts raise :class:`~sdk.errors.KeyRetired`). Alone, it is state beside the ledger: a
database-only attacker who raised it made every read fail as if on purpose, with ``verify()``
ok. So each retirement is also a ``keys.data_keys_retired`` entry (stream ``keys``, data
``{"below": N}``), the ledger's latest one is the minimum in force, and the meta value must match
it: on open and in ``Ledger.verify()`` a mismatch is :class:`~sdk.errors.KeyScheduleTampered`,
and while it lasts every data-key access raises it (a denial of service, named, not a silent
one). A store whose versions were retired by a whylens from before these entries reads the same
way until the retirement is recorded again (``p.keys.retire_data_keys(N)``).

Writers keep ``meta <= ledger`` at every instant: raising the minimum appends first, lowering it
writes the meta value first. A reader that sees meta below the ledger looks again a few times
before it calls that tampering, as another process may be between its two writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._store.abc import Store
    from ..ledger import Ledger, LedgerEntry
    from ..ledger.follow import LedgerFollower

__all__ = ["META_KEY", "RETIRED", "STREAM", "DataKeyRetirements"]

STREAM = "keys"
RETIRED = "keys.data_keys_retired"
META_KEY = "min_data_key_version"
_LOOKS = 5  # a reader's looks at a meta value below the ledger's before it says tampered
_PAUSE = 0.05  # seconds between them


def stored_minimum(db: Store) -> int:
    """The minimum data-key version ``whylens_meta`` holds (1 if none)."""
    stored = db.meta.get(META_KEY)
    return int(stored) if stored and stored.isdigit() else 1


class DataKeyRetirements:
    """A ledger view of the ``keys`` stream: the minimum data-key version the ledger records.

    ``changed(below)`` is called whenever a folded entry changes it (the keys then drop cached
    ciphers, so a retirement by another process applies at this process's next catch-up)."""

    def __init__(
        self, db: Store, ledger: Ledger, follower: LedgerFollower, changed: Callable[[int], None]
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._follower = follower
        self._changed = changed
        self._lock = threading.Lock()
        self._below = 1
        follower.register(self, (STREAM,))

    def reset(self) -> None:
        """Forget what was folded (before a rebuild)."""
        with self._lock:
            self._below = 1

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``keys`` entry."""
        if entry.kind != RETIRED:
            return
        below = int(entry.data["below"])
        with self._lock:
            moved, self._below = below != self._below, below
        if moved:
            self._changed(below)

    @property
    def recorded(self) -> int:
        """The minimum in force as folded so far (1 if the ledger records no retirement)."""
        with self._lock:
            return self._below

    def retire(self, below: int) -> None:
        """Record a new minimum on the ledger and in ``whylens_meta``, keeping meta <= ledger."""
        self._follower.catch_up()
        if below >= self.recorded:
            self._append(below)
            self._db.meta.set(META_KEY, str(below))
        else:
            self._db.meta.set(META_KEY, str(below))
            self._append(below)

    def _append(self, below: int) -> None:
        entry = self._ledger.append(STREAM, RETIRED, {"below": below})
        self._follower.appended(entry)

    def problem(self) -> str | None:
        """What is wrong when ``whylens_meta`` and the ledger disagree, else None (catches up)."""
        for look in range(_LOOKS):
            stored = stored_minimum(self._db)  # before the catch-up: see the module docstring
            self._follower.catch_up()
            recorded = self.recorded
            if stored == recorded:
                return None
            if stored > recorded or look == _LOOKS - 1:
                break
            time.sleep(_PAUSE)
        return (
            f"whylens_meta says data-key versions below {stored} are retired "
            f"(min_data_key_version) but the ledger records {recorded}: the database was edited "
            "behind whylens's back, and no data key is used until this is resolved. Restore the "
            "database from a backup; or, if a whylens older than ledger-recorded retirements "
            f"retired them, record it again: p.keys.retire_data_keys({stored}) "
            f"(CLI: whylens keys retire --data-keys --below {stored})"
        )
