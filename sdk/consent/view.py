"""The in-memory consent view: each subject's events and current state, folded from the ledger.

Fed by the shared :class:`~sdk.ledger.follow.LedgerFollower` (stream ``consent``: grants and the
other actions, notice versions, app-defined purposes), so it holds what every process recorded.
The current state per subject is cached with the moment it next changes on its own (an expiry);
``state_of_pseudonym`` is then a dictionary look-up.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from ..errors import ConsentUnavailable, InvalidConsentEvent
from ..ledger import LedgerEntry
from ..ledger.follow import LedgerFollower
from ..types import ConsentEvent, ConsentState
from .events import PURPOSE_KIND, events_of
from .notices import NOTICE_KIND, NoticeRegistry
from .purposes import Purpose, PurposeCatalog
from .state import fold_state, next_change

__all__ = ["ConsentView"]

_INF = float("inf")


class ConsentView:
    """Events and cached states per subject pseudonym; a :class:`LedgerView` of ``consent``."""

    def __init__(
        self, follower: LedgerFollower, purposes: PurposeCatalog, notices: NoticeRegistry
    ) -> None:
        self._follower = follower
        self.purposes = purposes
        self.notices = notices
        self.accept_stale = False
        # taken by apply() (under the follower's lock) and by readers; never held while calling
        # the follower, so the two locks are always taken in the same order
        self._lock = threading.RLock()
        self._events: dict[str, list[ConsentEvent]] = {}
        self.current: dict[str, tuple[ConsentState, float]] = {}
        """pseudonym -> (state, POSIX time it next changes on its own); cleared in place, never
        replaced, so the hot path may hold on to it."""

    # -- folding (LedgerView) -----------------------------------------------------------------

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``consent`` stream entry."""
        with self._lock:
            if entry.kind == NOTICE_KIND:
                self.notices.add(entry.data, entry.seq, entry.ts)
                self.current.clear()
            elif entry.kind == PURPOSE_KIND:
                self.purposes._add_recorded(Purpose.model_validate(entry.data, strict=False))
                self.current.clear()
            else:
                events = events_of(entry)
                if events:
                    mine = self._events.setdefault(entry.subject or "", [])
                    late = bool(mine) and events[0].at < mine[-1].at
                    mine.extend(events)
                    if late:
                        # an event dated before one already folded (an import with at=, or
                        # two processes racing past check_at): keep effective-time order, so
                        # a back-dated grant cannot land after, and undo, a withdrawal
                        mine.sort(key=_effective_order)
                    self.current.pop(entry.subject or "", None)

    def reset(self) -> None:
        """Forget every event, state and notice (before a rebuild)."""
        with self._lock:
            self._events = {}
            self.current.clear()
            self.notices.clear()

    def forget_states(self) -> None:
        """Drop the cached states (a setting that changes every state changed)."""
        with self._lock:
            self.current.clear()

    # -- reading ------------------------------------------------------------------------------

    def usable(self) -> None:
        """Raise :class:`ConsentUnavailable` while the log could not be folded."""
        problem = self._follower.problem
        if problem is not None:
            raise ConsentUnavailable(
                f"the consent log could not be read ({problem}); no purpose is authorised until "
                "the ledger is restored (run verify() to find the damaged entry)"
            )

    def state_of_pseudonym(self, pseudo: str, *, as_of: datetime | None = None) -> ConsentState:
        """The state of one subject (no catch-up here: the calling request did that once)."""
        if as_of is None:
            cached = self.current.get(pseudo)
            if cached is not None and time.time() < cached[1] and not self._follower.stopped:
                return cached[0]
        elif not isinstance(as_of, datetime) or as_of.tzinfo is None:
            raise InvalidConsentEvent("as_of must be timezone-aware (e.g. UTC)")
        self.usable()
        with self._lock:
            if as_of is not None:
                return self.fold(pseudo, as_of)
            now = datetime.now(UTC)
            state = self.fold(pseudo, now)
            nxt = next_change(self._events.get(pseudo, ()), now)
            self.current[pseudo] = (state, nxt.timestamp() if nxt is not None else _INF)
            return state

    def fold(self, pseudo: str, at: datetime) -> ConsentState:
        """The state of ``pseudo`` at ``at``, folded from its events now."""
        with self._lock:
            return fold_state(
                pseudo,
                self._events.get(pseudo, ()),
                self.purposes,
                self.notices,
                at,
                stale_allowed=self.accept_stale,
            )

    def events_of(self, pseudo: str) -> list[ConsentEvent]:
        """A copy of one subject's events, oldest first."""
        with self._lock:
            return list(self._events.get(pseudo, ()))

    def subjects(self) -> list[str]:
        """Pseudonyms of every subject with consent events."""
        with self._lock:
            return sorted(self._events)


_ENDING = frozenset({"withdraw", "refuse", "invalidate", "object"})


def _effective_order(event: ConsentEvent) -> tuple[datetime, bool, int]:
    # at the same instant an ending wins (folded last), whatever order the ledger has them in
    return (event.at, event.action in _ENDING, event.seq)
