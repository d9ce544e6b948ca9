"""The verification walk's fast path over whole pages, and the worker process that runs it.

Standard library only, on purpose: :mod:`sdk.ledger.verify` imports it, and it is also started as
a script (``python -I .../_segment.py``) in a few worker processes that each verify a *segment*
of the chain (entries ``after+1 .. end``) from their own read connection, so that ``verify()``
hashes on every core. Starting it as a script keeps a worker's start-up to the interpreter's
(no ``sdk`` import, and no re-import of the caller's ``__main__`` as multiprocessing would do).

:func:`check_page` accepts a page only if every row passes every check of the walk (the same
checks as :meth:`~sdk.ledger.verify._Walker._page`, done column-wise in C-level loops instead of
per row). It never says *what* failed: on any failure the caller walks the page (or the segment)
again row by row, from a state that the rows before it proved, which names the first bad entry
with exactly the serial walk's words.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import marshal
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

GENESIS = bytes(32)
_HEAD = b'{"data":{'
_TAIL = ',"kind":"{}","prev":"{}","seq":{},"stream":"{}","subject":{},"ts":"{}","v":1}}'
_MAX_SUBJECTS = 200_000  # remembered good subject ids; beyond that the cache starts again

Patterns = tuple[tuple[str, int], tuple[str, int], tuple[str, int], tuple[str, int]]
"""(pattern, flags) of the stream, kind, subject and timestamp columns, in that order."""


@dataclass(slots=True)
class Rules:
    """The column formats, compiled from :data:`Patterns` (sent to workers as plain strings)."""

    stream: Callable[[str], Any]
    kind: Callable[[str], Any]
    subject: Callable[[str], Any]
    ts: Callable[[str], Any]

    @classmethod
    def compile(cls, patterns: Patterns) -> Rules:
        """The four ``fullmatch`` functions."""
        stream, kind, subject, ts = (re.compile(p, f).fullmatch for p, f in patterns)
        return cls(stream, kind, subject, ts)


@dataclass(slots=True)
class WalkState:
    """What the walk carries from one row to the next: the rows so far, the last hash and
    timestamp; and caches of column values already found well formed."""

    size: int = 0
    prev: bytes = GENESIS
    last_ts: str = ""
    names_ok: set[tuple[str, str]] = field(default_factory=set)
    subjects_ok: set[str | None] = field(default_factory=lambda: {None})


def check_page(rows: Sequence[tuple[Any, ...]], st: WalkState, rules: Rules) -> list[bytes] | None:
    """The Merkle leaf hashes of ``rows`` if every row is good (``st`` then moves past them), or
    None if any row fails a check (``st`` unchanged). Rows: ``seq, stream, kind, subject, ts,
    body, prev_hash, hash, cached leaf``, in seq order."""
    if not rows:
        return []
    seqs, streams, kinds, subjects, tss, bodies, prevs, hashes, cached = zip(*rows, strict=True)
    n = len(rows)
    first = st.size + 1
    if seqs != tuple(range(first, first + n)):
        return None
    if set(map(type, bodies)) != {bytes} or set(map(type, tss)) != {str}:
        return None
    sha = hashlib.sha256
    digests = [sha(body).digest() for body in bodies]
    if digests != list(hashes) or prevs[0] != st.prev or list(prevs[1:]) != digests[:-1]:
        return None
    if not _names_ok(set(zip(streams, kinds, strict=True)), st, rules):
        return None
    if not _subjects_ok(set(subjects), st, rules):
        return None
    if tss[0] < st.last_ts or not all(map(rules.ts, tss)) or list(tss) != sorted(tss):
        return None
    # the body must be exactly its data followed by the row's columns in canonical form
    subj = ["null" if s is None else f'"{s}"' for s in subjects]
    prev_hex = map(bytes.hex, itertools.chain((st.prev,), digests[:-1]))
    tails = map(
        str.encode,
        itertools.starmap(
            _TAIL.format, zip(kinds, prev_hex, seqs, streams, subj, tss, strict=True)
        ),
    )
    if not all(map(bytes.endswith, bodies, tails)):
        return None
    if not all(map(bytes.startswith, bodies, itertools.repeat(_HEAD))):
        return None
    leaves = _leaf_hashes(bodies)
    if list(cached) != leaves and any(
        c is not None and c != leaf for c, leaf in zip(cached, leaves, strict=True)
    ):
        return None
    st.size, st.prev, st.last_ts = first + n - 1, digests[-1], tss[-1]
    return leaves


_LEAF_PREFIX = hashlib.sha256(b"\x00")


def _leaf_hashes(bodies: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 leaf hashes, ``SHA-256(0x00 || body)``, each from a copy of the prefix's state
    (no 2 KB concatenation per body)."""
    out = []
    for body in bodies:
        h = _LEAF_PREFIX.copy()
        h.update(body)
        out.append(h.digest())
    return out


def _names_ok(pairs: set[tuple[Any, Any]], st: WalkState, rules: Rules) -> bool:
    for stream, kind in pairs - st.names_ok:
        if not (type(stream) is str and type(kind) is str):
            return False
        if not (rules.stream(stream) and rules.kind(kind)):
            return False
        st.names_ok.add((stream, kind))
    return True


def _subjects_ok(subjects: set[Any], st: WalkState, rules: Rules) -> bool:
    new = subjects - st.subjects_ok
    if not all(type(s) is str and rules.subject(s) for s in new):
        return False
    if len(st.subjects_ok) > _MAX_SUBJECTS:
        st.subjects_ok = {None}
    st.subjects_ok |= new
    return True


def parent_level(level: bytes | bytearray | memoryview) -> bytes:
    """The RFC 9162 interior nodes over consecutive pairs of 32-byte nodes (an odd last node
    waits for its sibling): ``SHA-256(0x01 || left || right)`` each."""
    sha = hashlib.sha256
    with memoryview(level) as view:
        return b"".join(
            sha(b"\x01" + view[i : i + 64]).digest() for i in range(0, len(view) - 63, 64)
        )


def subtree_levels(leaves: bytes) -> list[bytes]:
    """Every complete aligned subtree over ``leaves`` (32 bytes each), level by level: what a
    :class:`~sdk.ledger.merkle.MerkleTree` holds for them when they start at a multiple of
    the segment size (a power of two)."""
    levels = [leaves]
    while len(levels[-1]) >= 64:
        levels.append(parent_level(levels[-1]))
    return levels


# -- the worker ---------------------------------------------------------------------------------

Job = tuple[str, str, str, str, Patterns, int, list[str]]
"""(reader module path, driver, target, page sql, patterns, page rows, extra sys.path) sent once
to a worker."""
Fetch = Callable[[int, int], list[tuple[Any, ...]]]

Reply = tuple[bool, bytes, str, int, bytes, str, list[bytes]]
"""(ok, start hash, start ts, end size, end hash, end ts, subtree levels) for one segment."""


def _reader(path: str, driver: str, target: str, sql: str) -> Fetch:
    """The store's ``open_reader`` (loaded from its file: this process imports no ``sdk``)."""
    spec = importlib.util.spec_from_file_location("_whylens_segment_reader", path)
    if spec is None or spec.loader is None:
        raise ValueError("no reader module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fetch: Fetch = module.open_reader(driver, target, sql)
    return fetch


def verify_segment(
    fetch: Callable[[int, int], list[tuple[Any, ...]]],
    rules: Rules,
    after: int,
    end: int,
    page: int,
) -> Reply:
    """Check entries ``after+1 .. end``, starting from what entry ``after`` stores (its hash and
    timestamp; the caller checks that the segment before it ended there)."""
    fail: Reply = (False, b"", "", 0, b"", "", [])
    st = WalkState(size=after)
    if after:
        anchor = fetch(after - 1, 1)
        if not anchor or anchor[0][0] != after:
            return fail
        prev, ts = anchor[0][7], anchor[0][4]
        if type(prev) is not bytes or type(ts) is not str:
            return fail
        st.prev, st.last_ts = prev, ts
    start_prev, start_ts = st.prev, st.last_ts
    leaves: list[bytes] = []
    while st.size < end:
        rows = fetch(st.size, min(page, end - st.size))
        got = check_page(rows, st, rules) if rows else None
        if got is None:
            return fail
        leaves += got
    return (
        True,
        start_prev,
        start_ts,
        st.size,
        st.prev,
        st.last_ts,
        subtree_levels(b"".join(leaves)),
    )


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Read a :data:`Job`, then ``(after, end)`` requests until None; one :data:`Reply` each."""
    reader, driver, target, sql, patterns, page, path = marshal.load(inp)
    sys.path.extend(p for p in path if p not in sys.path)
    fetch = _reader(reader, driver, target, sql)
    rules = Rules.compile(patterns)
    while (request := marshal.load(inp)) is not None:
        after, end = request
        try:
            reply = verify_segment(fetch, rules, after, end, page)
        except Exception:
            reply = (False, b"", "", 0, b"", "", [])
        marshal.dump(reply, out)
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
