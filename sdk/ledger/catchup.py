"""A ledger-derived view that catches up before each read.

A view folds the entries of the streams it owns, in seq order, own appends included; before every
read it folds only the entries after the last one it saw, so a write made by another process is
seen on the very next call. With a shared follower (an object with ``register(view, streams)``
and ``catch_up()``, such as the one the views of consent and audit share) the view registers
with it and the follower does the reading; without one it reads its own streams
(``ledger.entries(stream=..., after_seq=seen)``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from .._canonical import canonical_json
from .entry import LedgerEntry
from .log import Ledger

__all__ = ["CaughtUpView", "Follower", "read_record"]

R = TypeVar("R", bound=BaseModel)


class Follower(Protocol):
    """A shared catch-up: feeds registered views every new entry of their streams, in order."""

    def register(self, view: Any, streams: Iterable[str]) -> None:
        """Feed ``view`` every entry of ``streams``."""

    def catch_up(self) -> int:
        """Fold what was appended since the last call; returns the position."""


class CaughtUpView(ABC):
    """Base of a view folded from ``streams``: subclasses implement :meth:`fold` and
    :meth:`clear`; readers call :meth:`catch_up` first, then read under ``_lock``."""

    streams: Sequence[str] = ()

    def __init__(self, ledger: Ledger, follower: Follower | None = None) -> None:
        self._ledger = ledger
        self._lock = threading.RLock()
        self._seen = dict.fromkeys(self.streams, 0)
        self._follower = follower
        if follower is not None:
            follower.register(self, self.streams)

    @abstractmethod
    def fold(self, entry: LedgerEntry) -> None:
        """Fold one entry of an owned stream into the view (``_lock`` is held)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget everything folded (``_lock`` is held)."""

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one entry (in seq order, each once)."""
        with self._lock:
            self.fold(entry)
            self._seen[entry.stream] = max(self._seen.get(entry.stream, 0), entry.seq)

    def reset(self) -> None:
        """Forget everything folded so far (before a rebuild from the log)."""
        with self._lock:
            self.clear()
            self._seen = dict.fromkeys(self.streams, 0)

    def catch_up(self) -> None:
        """Fold every entry appended (by anyone) since the last call, in seq order."""
        if self._follower is not None:
            self._follower.catch_up()
            return
        with self._lock:
            for stream in self.streams:
                for entry in self._ledger.entries(stream=stream, after_seq=self._seen[stream]):
                    self.apply(entry)


def read_record(cls: type[R], entry: LedgerEntry) -> R:
    """An entry's data as the typed record ``cls`` it was written from.

    Validated from JSON (strict, as the records are), where arrays read back as tuples.
    """
    return cls.model_validate_json(canonical_json(entry.data))
