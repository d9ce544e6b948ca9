"""Group-commit bookkeeping of the :class:`~sdk.ledger.Ledger`: waiters, results, counters."""

from __future__ import annotations

import copy
import threading

from ..errors import LedgerError
from .entry import LedgerEntry, PreparedItem

__all__ = ["LedgerStats", "Waiter", "result_of"]


class LedgerStats:
    """Counters for tests and benchmarks: entries written, transactions committed, largest batch."""

    __slots__ = ("anchor_failures", "anchors", "appends", "commits", "largest_batch")

    def __init__(self) -> None:
        self.appends = 0
        self.commits = 0
        self.largest_batch = 0
        self.anchors = 0
        """Checkpoints handed to the witness sinks (one per commit and sink)."""
        self.anchor_failures = 0
        """Anchors that failed because a sink could not be reached (logged; the entries stay
        committed and inside the rollback window until a later anchor succeeds)."""

    def __repr__(self) -> str:
        return (
            f"LedgerStats(appends={self.appends}, commits={self.commits}, "
            f"largest_batch={self.largest_batch}, anchors={self.anchors})"
        )


class Waiter:
    """An appender waiting for the commit that carries its entries."""

    __slots__ = (
        "defer_anchor", "done", "entries", "error", "items", "once_after", "skipped", "wake"
    )

    def __init__(
        self,
        items: list[PreparedItem],
        once_after: list[int] | None = None,
        *,
        defer_anchor: bool = False,
    ) -> None:
        self.items = items
        self.defer_anchor = defer_anchor
        """The appender lets the witness anchor wait (see ``Ledger.append``)."""
        self.once_after = once_after
        """For :meth:`~sdk.ledger.Ledger.append_once`: per item, the seq after which an entry of
        its subject and kind means it is already there (then it is skipped)."""
        self.skipped: set[int] = set()
        """Positions of items the commit skipped (see ``once_after``)."""
        self.wake = threading.Event()
        self.entries: list[LedgerEntry] = []
        self.error: BaseException | None = None
        self.done = False


def result_of(waiter: Waiter) -> list[LedgerEntry]:
    """The waiter's entries, or (a copy of) the error of the commit that carried them."""
    err = waiter.error
    if err is None:
        return waiter.entries
    if isinstance(err, Exception):
        try:
            mine = copy.copy(err)
        except Exception:  # pragma: no cover - exotic exception types
            mine = LedgerError("the group commit carrying this entry failed; nothing was written")
        raise mine from err
    raise LedgerError("the group commit carrying this entry was interrupted; nothing was written")
