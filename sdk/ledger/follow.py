"""Ledger-derived views that stay current across processes: one catch-up shared by all of them.

Consent state, GPC signals, purposes and notices, the audit index, sign-offs and shadows, and
preferences are folds of the ledger kept in memory. Another process (another app worker, another
app instance) appends to the same ledger, so every call that serves or decides first *catches up*:

1. ask the probe for the position of the newest committed entry (default: ``ledger.size``, one
   indexed read of the head; a PostgreSQL LISTEN/NOTIFY probe can answer without a round trip);
2. if it is past the last entry folded, read the entries after that one, in seq order, and give
   each to the views registered for its stream.

Own appends go through the same door (:meth:`LedgerFollower.appended`): an entry right after the
last one folded is folded at once; one further on means another process (or thread) wrote in
between, and the entries in the gap are read first. So no entry is skipped and every view sees
the log in seq order, whoever wrote it. A view is rebuilt from the log only on :meth:`rebuild`.

A view is any object with ``apply(entry)`` (fold one entry) and ``reset()`` (forget everything).
``apply`` runs under the follower's lock, one entry at a time; a view must never call back into
the follower while it holds a lock of its own that ``apply`` also takes.

Fail closed: if the log cannot be read, or a view cannot fold an entry (a writer bug; the bytes
verified), folding stops before that entry and :attr:`LedgerFollower.problem` says why; views
that authorise processing (consent) refuse to answer while it is set. The next catch-up tries
again from the same entry.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import LedgerError, WhylensError
from .entry import LedgerEntry

if TYPE_CHECKING:
    from .log import Ledger

__all__ = ["ChangeProbe", "LedgerFollower", "LedgerView", "SizeProbe"]

logger = logging.getLogger(__name__)


@runtime_checkable
class LedgerView(Protocol):
    """An in-memory fold of one or more ledger streams."""

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one entry (entries arrive in seq order, each exactly once)."""

    def reset(self) -> None:
        """Forget everything folded so far (before a rebuild from the log)."""


class ChangeProbe(Protocol):
    """Answers "has anything been appended?" as cheaply as the store allows."""

    def position(self) -> int:
        """The seq of the newest committed entry: at least the seq of every entry whose commit
        finished before this call started (so a write another process acknowledged is seen)."""


class SizeProbe:
    """The default probe: ``ledger.size``, one indexed read of the ledger's head, shared by the
    callers that arrive while one is in flight.

    Many threads catching up at once would each queue a read behind the store's commits; here
    they share reads instead, as a group commit shares a flush. A read answers only the callers
    that were waiting before it *started*: one that arrives while a read is in flight waits for
    the next one (which it shares with everyone else arriving meanwhile), so every answer still
    covers every commit that finished before its caller asked.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._running: _Read | None = None
        self._next: _Read | None = None

    def position(self) -> int:
        """The ledger's size (the seq of its last entry)."""
        after: _Read | None = None
        with self._lock:
            if self._running is None:
                mine = self._running = _Read()
            elif self._next is None:
                # this caller makes the next read, once the one in flight is done
                after, mine = self._running, _Read()
                self._next = mine
            else:
                queued = self._next
                mine = None
        if mine is None:
            queued.done.wait()
            return queued.size if queued.size is not None else self._ledger.size
        try:
            if after is not None:
                after.done.wait()
                with self._lock:
                    self._running, self._next = mine, None
            mine.size = self._ledger.size
            return mine.size
        finally:
            with self._lock:
                if self._next is mine:  # interrupted before its turn: the next caller reads
                    self._next = None
                if self._running is mine and self._next is None:
                    self._running = None
            # a read that failed, or never ran, leaves size None: its sharers read themselves
            mine.done.set()


class _Read:
    __slots__ = ("done", "size")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.size: int | None = None


class LedgerFollower:
    """Keeps every registered view folded up to the ledger's head (see the module docstring)."""

    def __init__(self, ledger: Ledger, *, probe: ChangeProbe | None = None) -> None:
        self._ledger = ledger
        self._probe: ChangeProbe = probe if probe is not None else SizeProbe(ledger)
        self._lock = threading.RLock()
        self._views: list[tuple[LedgerView, frozenset[str]]] = []
        self._by_stream: dict[str, tuple[LedgerView, ...]] = {}
        self._folded = 0
        self._in_call: ContextVar[bool] = ContextVar(f"whylens_follow_{id(self)}", default=False)
        self._read_problem: str | None = None
        self._broken: dict[int, str] = {}  # id(view) -> why its rebuild failed
        self.stopped = False
        """True while :attr:`problem` is set (a plain attribute: the hot path reads it)."""

    @property
    def ledger(self) -> Ledger:
        """The ledger followed."""
        return self._ledger

    @property
    def problem(self) -> str | None:
        """Why folding stopped (None while every view holds every entry up to the position)."""
        if self._read_problem is not None:
            return self._read_problem
        return next(iter(self._broken.values()), None)

    @property
    def position(self) -> int:
        """The seq of the last entry folded into the views."""
        return self._folded

    @property
    def probe(self) -> ChangeProbe:
        """The "has anything changed?" probe (settable, e.g. to a LISTEN/NOTIFY one)."""
        return self._probe

    @probe.setter
    def probe(self, probe: ChangeProbe) -> None:
        self._probe = probe

    # -- registration -------------------------------------------------------------------------

    def register(self, view: LedgerView, streams: Iterable[str]) -> None:
        """Feed ``view`` every entry of ``streams`` from now on; it is first brought up to the
        position the other views are at (entries of its streams up to there are folded)."""
        names = frozenset(streams)
        if not names or not all(isinstance(s, str) for s in names):
            raise LedgerError("a view follows at least one stream, named by a string")
        if not isinstance(view, LedgerView):
            raise LedgerError("a view needs apply(entry) and reset() methods")
        with self._lock:
            if any(v is view for v, _ in self._views):
                raise LedgerError("this view is registered already")
            self._views.append((view, names))
            by_stream: dict[str, list[LedgerView]] = {}
            for v, ss in self._views:
                for s in ss:
                    by_stream.setdefault(s, []).append(v)
            self._by_stream = {s: tuple(vs) for s, vs in by_stream.items()}
            self._fold_view(view, names)

    # -- catching up --------------------------------------------------------------------------

    @contextmanager
    def call(self) -> Iterator[int]:
        """One serving call: catch up once on entry; inside, :meth:`catch_up` is free (the call
        works on the point it started from, plus its own appends). Nests."""
        if self._in_call.get():
            yield self._folded
            return
        position = self.catch_up()
        token = self._in_call.set(True)
        try:
            yield position
        finally:
            self._in_call.reset(token)

    def catch_up(self) -> int:
        """Fold every entry committed so far that the views have not seen; returns the position.

        When nothing changed this costs one probe (one indexed read) and takes no lock; inside
        :meth:`call` it costs nothing (that call caught up when it began).
        """
        if self._in_call.get():
            return self._folded
        head = self._probe.position()
        if head <= self._folded and self._read_problem is None:
            return self._folded
        with self._lock:
            if head > self._folded or self._read_problem is not None:
                self._fold_new()
            return self._folded

    def appended(self, entries: LedgerEntry | Sequence[LedgerEntry]) -> None:
        """Fold entries this process just appended (and, first, any gap before them)."""
        items = [entries] if isinstance(entries, LedgerEntry) else list(entries)
        with self._lock:
            for entry in sorted(items, key=lambda e: e.seq):
                if entry.seq <= self._folded:
                    continue  # folded already, by a catch-up that read past it
                if entry.seq == self._folded + 1 and self._read_problem is None:
                    if not self._dispatch(entry):
                        return
                    self._folded = entry.seq
                else:
                    self._fold_new()

    def rebuild(self, view: LedgerView | None = None) -> None:
        """Drop ``view`` (default: every view) and fold it again from the log alone."""
        with self._lock:
            targets = [(v, s) for v, s in self._views if view is None or v is view]
            if view is not None and not targets:
                raise LedgerError("this view is not registered with the follower")
            if view is None:
                self._read_problem = None
                self._broken = {}
                for v, _ in targets:
                    v.reset()
                self._folded = 0
                self._fold_new()
                return
            for v, streams in targets:
                self._broken.pop(id(v), None)
                v.reset()
                self._fold_view(v, streams)
            self._settle()

    # -- internals ----------------------------------------------------------------------------

    def _fold_new(self) -> None:
        """Fold the entries after the last one folded, in seq order (lock held)."""
        start = self._folded
        try:
            for entry in self._ledger.entries(after_seq=self._folded):
                if entry.seq != self._folded + 1:
                    self._fail(f"entry {self._folded + 1} is missing from the log")
                    return
                if not self._dispatch(entry):
                    return
                self._folded = entry.seq
        except WhylensError as exc:
            self._fail(f"the ledger could not be read after entry {self._folded} ({exc.code})")
            return
        self._read_problem = None
        self._settle()
        if self._folded > start:
            logger.debug("views caught up from entry %d to %d", start, self._folded)

    def _dispatch(self, entry: LedgerEntry) -> bool:
        for view in self._by_stream.get(entry.stream, ()):
            try:
                view.apply(entry)
            except (WhylensError, ValueError, KeyError, TypeError) as exc:
                # the bytes verified, so only a writer bug gets here: stop before this entry
                self._fail(
                    f"ledger entry {entry.seq} ({entry.stream}) could not be folded "
                    f"({type(exc).__name__})"
                )
                return False
        return True

    def _fail(self, problem: str) -> None:
        if self._read_problem != problem:
            logger.error("ledger views stopped: %s", problem)
        self._read_problem = problem
        self.stopped = True

    def _settle(self) -> None:
        self.stopped = self.problem is not None

    def _fold_view(self, view: LedgerView, streams: frozenset[str]) -> None:
        """Bring one view up to the follower's position (lock held)."""
        limit = self._folded
        if limit == 0:
            return
        readers: list[Iterator[LedgerEntry]] = [
            self._ledger.entries(stream=s) for s in sorted(streams)
        ]
        try:
            for entry in heapq.merge(*readers, key=lambda e: e.seq):
                if entry.seq > limit:
                    break
                view.apply(entry)
        except (WhylensError, ValueError, KeyError, TypeError) as exc:
            problem = f"a view could not be rebuilt from the log ({type(exc).__name__})"
            logger.error("ledger views stopped: %s", problem)
            self._broken[id(view)] = problem
            self.stopped = True
