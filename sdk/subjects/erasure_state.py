"""Where an erasure stands, on the ledger so every process sees it: pending until the bytes go.

An erasure appends ``subject.erased`` (the counts, and ``"purge": "pending"``) once the rows are
deleted and the key is destroyed. The deleted bytes may still sit in the store's files while
another connection pins them (SQLite: a reader keeps the WAL from being checkpointed;
PostgreSQL: an open snapshot keeps VACUUM from removing the old row version). Only when
:meth:`~sdk._store.abc.Store.purge_freed` succeeds does some process append
``subject.erasure_completed`` (``{"erased_seq": n}``); the complete receipt cites both entries.

:class:`PendingErasures` folds the ``subjects`` stream into the set of erasures still waiting
(in memory, kept current by the ledger follower); :func:`receipt_fields` reads one subject's
state straight from the ledger (indexed by subject), so a completed erasure costs no memory.
``subject.erased`` entries written before this existed carry no ``purge`` mark and were reported
complete when they were made; they are read that way (their receipts keep verifying).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..ledger.entry import LedgerEntry

__all__ = ["COMPLETED", "ERASED", "PURGE_MARK", "PendingErasures", "receipt_fields"]

ERASED = "subject.erased"
COMPLETED = "subject.erasure_completed"
PURGE_MARK = "purge"
COUNTS = ("fields_destroyed", "keys_destroyed", "events_destroyed", "index_entries_purged")


class PendingErasures:
    """The erasures of any process whose bytes were not yet confirmed gone (a ledger view)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, LedgerEntry] = {}

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``subjects`` entry."""
        with self._lock:
            if entry.kind == ERASED and entry.data.get(PURGE_MARK) == "pending":
                self._pending[entry.seq] = entry
            elif entry.kind == COMPLETED:
                seq = entry.data.get("erased_seq")
                if isinstance(seq, int):
                    self._pending.pop(seq, None)

    def reset(self) -> None:
        """Forget everything (before a rebuild)."""
        with self._lock:
            self._pending.clear()

    def entries(self) -> list[LedgerEntry]:
        """The ``subject.erased`` entries still pending, oldest first."""
        with self._lock:
            return [self._pending[seq] for seq in sorted(self._pending)]

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._pending)


def counts_of(entry: LedgerEntry) -> dict[str, int]:
    """The destroyed-item counts an erasure entry records."""
    return {k: int(entry.data.get(k, 0)) for k in COUNTS}


def receipt_fields(
    erased: LedgerEntry, completion: LedgerEntry | None
) -> dict[str, Any]:
    """The unsigned receipt of the erasure ``erased`` given its completion entry (if any)."""
    fields: dict[str, Any] = {
        "subject": erased.subject,
        "erased_at": erased.ts,
        "ledger_seq": erased.seq,
        "entry_hash": erased.hash,
        **counts_of(erased),
    }
    if completion is not None:
        fields.update(
            status="complete", completed_seq=completion.seq, completed_at=completion.ts
        )
    elif erased.data.get(PURGE_MARK) == "pending":
        fields["status"] = "pending"
    return fields


def find_erasure(
    ledger: Ledger, stream: str, pseudo: str
) -> tuple[LedgerEntry, LedgerEntry | None] | None:
    """The first erasure of ``pseudo`` and its completion entry, read from the ledger."""
    erased: LedgerEntry | None = None
    for entry in ledger.entries(stream=stream, subject=pseudo, kinds=(ERASED, COMPLETED)):
        if entry.kind == ERASED and erased is None:
            erased = entry
        elif (
            entry.kind == COMPLETED
            and erased is not None
            and entry.data.get("erased_seq") == erased.seq
        ):
            return erased, entry
    return None if erased is None else (erased, None)
