"""The verification walk on every core: chain segments checked in worker processes.

The chain is cut into segments of :data:`SEGMENT_ROWS` entries (a power of two, so that each
segment is a run of complete Merkle subtrees). A few workers (:mod:`sdk.ledger._segment`, started
as scripts) each open their own read connection, check whole segments with the walk's page check,
and send back the segment's end (size, last hash and timestamp), the hash and timestamp of the
entry before it they started from, and the segment's Merkle subtrees. Hashing is most of the
work and ``hashlib`` keeps the GIL for a 2 KB body, so threads would not help: processes do.

Segments are taken in order only: a segment counts if it started exactly where the one before it
ended. At the first segment that failed, or did not join up, or a worker that died, the parallel
part stops and the caller's serial walk continues from the last proven entry, so a bad entry is
always named by the serial walk itself, with the same index and words as without workers.
"""

from __future__ import annotations

import marshal
import os
import selectors
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from . import _segment

if TYPE_CHECKING:
    from .._store.abc import ReadSource
    from ._segment import Job, Patterns, Reply
    from .merkle import MerkleTree

__all__ = ["MIN_ROWS", "SEGMENT_ROWS", "default_workers", "walk_segments"]

SEGMENT_ROWS = 1 << 14
"""Entries per segment: 32 MB of 2 KB bodies, about a tenth of a second of one core."""

MIN_ROWS = 2 * SEGMENT_ROWS
"""Below this, starting workers costs more than it saves: the walk stays in this process."""

PAGE_ROWS = 2048
_SCRIPT = Path(_segment.__file__).resolve()


def default_workers() -> int:
    """One worker per core this process may run on (0 on one core: the walk stays serial)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


@dataclass(slots=True)
class _Worker:
    proc: subprocess.Popen[bytes]
    stdin: IO[bytes]
    stdout: IO[bytes]
    pending: deque[int] = field(default_factory=deque)


@contextmanager
def _workers(count: int, job: Job) -> Iterator[list[_Worker]]:
    """Start ``count`` workers with ``job``; stop them all on the way out, whatever happened."""
    with ExitStack() as stack:
        started: list[_Worker] = []

        def stop() -> None:
            for w in started:
                for pipe in (w.stdin, w.stdout):
                    with suppress(OSError):
                        pipe.close()
                if w.proc.poll() is None:
                    w.proc.kill()
                w.proc.wait()

        stack.callback(stop)
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, "-I", str(_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert proc.stdin is not None and proc.stdout is not None
            worker = _Worker(proc, proc.stdin, proc.stdout)
            started.append(worker)
            marshal.dump(job, worker.stdin)
            worker.stdin.flush()
        yield started


def can_spawn() -> bool:
    """Whether ``sys.executable`` is a Python interpreter we may start (not an embedding host)."""
    exe = sys.executable
    return bool(exe) and Path(exe).name.lower().startswith("python")


def walk_segments(
    source: ReadSource,
    patterns: Patterns,
    state: _segment.WalkState,
    tree: MerkleTree,
    *,
    end: int,
    workers: int,
    segment_rows: int = SEGMENT_ROWS,
) -> None:
    """Move ``state`` and ``tree`` (both empty) over entries ``1 .. end`` as far as segments
    checked by ``workers`` processes prove them; the caller walks on from ``state.size``."""
    if state.size or tree.size or segment_rows & (segment_rows - 1):
        raise ValueError("segments start from an empty walk, with a power-of-two size")
    job: Job = (
        source.reader,
        source.driver,
        source.target,
        source.sql,
        patterns,
        PAGE_ROWS,
        list(sys.path),
    )
    count = min(workers, -(-end // segment_rows))
    try:
        with _workers(count, job) as pool:
            _run(pool, end, segment_rows, state, tree)
    except (OSError, EOFError, ValueError, TypeError):
        return  # a worker could not start or died: the serial walk does the rest


def _run(
    pool: list[_Worker],
    end: int,
    segment_rows: int,
    state: _segment.WalkState,
    tree: MerkleTree,
) -> None:
    # segments are made as they are sent: a forged huge last seq costs nothing up front
    next_after = 0
    done: dict[int, Reply] = {}

    def send(w: _Worker) -> None:
        nonlocal next_after
        marshal.dump((next_after, min(next_after + segment_rows, end)), w.stdin)
        w.stdin.flush()
        w.pending.append(next_after)
        next_after += segment_rows

    with selectors.DefaultSelector() as sel:
        for w in pool:
            sel.register(w.stdout, selectors.EVENT_READ, w)
            # one request at a time per worker: a second reply could sit in the pipe reader's
            # buffer, where select() does not see it
            if next_after < end:
                send(w)
        while state.size < end:
            for key, _ in sel.select():
                w = key.data
                reply = marshal.load(w.stdout)
                done[w.pending.popleft()] = reply
                if next_after < end:
                    send(w)
            while state.size in done:
                after = state.size
                ok, start_prev, start_ts, size, last, last_ts, levels = done.pop(after)
                if not (
                    ok
                    and size == min(after + segment_rows, end)
                    and start_prev == state.prev
                    and start_ts == state.last_ts
                ):
                    return  # the serial walk names what is wrong from here
                tree.graft(levels)
                state.size, state.prev, state.last_ts = size, last, last_ts
