"""Checking the ledger end to end, and the signed head that seals it.

Two things make the ledger tamper-evident:

* the **hash chain**: every body carries the hash of the previous entry, so altering, removing or
  reordering an entry in the middle breaks a link;
* the **signed head**: after every commit the ledger writes ``whylens_meta['ledger_head']`` =
  ``{"size", "hash", "mac"}`` with ``mac = HMAC-SHA256(key, canonical_json({"size", "hash"}))``.
  Without the key nobody can cut entries off the end, rewrite the tail, or add entries, and then
  produce a head that verifies.

:func:`verify_ledger` walks every row once, in pages (memory stays small), checking for each:
seq gapless from 1; SHA-256 of the stored bytes equals the stored hash; the body links to the
previous hash; the body is canonical, parses, and agrees with the row's columns; timestamps never
decrease; the entry's RFC 9162 leaf hash equals the cached one in ``ledger_leaves`` (if cached).
Then it checks the head and, given the public key, the Ed25519-signed checkpoint: its signature,
and that the Merkle root of the entries it covers is the root it signed. Problem strings carry seq
numbers only, never data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ProofError
from ..types import VerifyReport
from ._segment import Patterns, Rules, WalkState, check_page
from .checkpoint import open_checkpoint
from .entry import (
    GENESIS_HASH,
    KIND_RE,
    STREAM_RE,
    SUBJECT_RE,
    TS_RE,
    entry_from_body,
    tail_bytes,
)
from .head import HEAD_KEY, Head, check_tail, decode_head, encode_head, head_problem
from .merkle import MerkleTree
from .parallel import SEGMENT_ROWS, can_spawn, default_workers, walk_segments
from .tree import CHECKPOINT_KEY, tree_problem
from .witness import rollback_problem

if TYPE_CHECKING:
    from .._store.abc import LedgerStorage
    from .witness import Anchor

__all__ = ["HEAD_KEY", "Head", "check_tail", "decode_head", "encode_head", "verify_ledger"]

PAGE_ROWS = 4096
PATTERNS: Patterns = (
    (STREAM_RE.pattern, STREAM_RE.flags),
    (KIND_RE.pattern, KIND_RE.flags),
    (SUBJECT_RE.pattern, SUBJECT_RE.flags),
    (TS_RE.pattern, TS_RE.flags),
)
RULES = Rules.compile(PATTERNS)
"""The column formats for :func:`~sdk.ledger._segment.check_page` (and, as patterns, workers)."""
_RUN_VERIFY = "run verify() for details"


# -- the walk -----------------------------------------------------------------------------------


class _Walker:
    """Walks rows in seq order, remembering only the last hash and timestamp (:attr:`st`)."""

    def __init__(self) -> None:
        self.st = WalkState(prev=bytes.fromhex(GENESIS_HASH))
        self.tree = MerkleTree()

    @property
    def size(self) -> int:
        """The number of entries walked (all good)."""
        return self.st.size

    @property
    def prev_hex(self) -> str:
        """The hash of the last entry walked, hex."""
        return self.st.prev.hex()

    def walk(self, db: LedgerStorage) -> VerifyReport | None:
        """Check every row after the ones already walked; a failure report, or None."""
        while True:
            rows = db.with_leaves(after_seq=self.size, limit=PAGE_ROWS)
            if not rows:
                return None
            leaves = check_page(rows, self.st, RULES)
            if leaves is not None:  # the whole page is good (checked column-wise)
                self.tree.extend(leaves)
            else:  # some row is not: find it, row by row, and say what is wrong with it
                bad = self._page(rows)
                if bad is not None:
                    return bad
            if len(rows) < PAGE_ROWS:
                return None

    def _page(self, rows: Sequence[tuple[Any, ...]]) -> VerifyReport | None:
        sha256 = hashlib.sha256
        subject_ok = SUBJECT_RE.fullmatch
        ts_ok = TS_RE.fullmatch
        st = self.st
        names_ok = st.names_ok
        expected = st.size
        prev, prev_hex, last_ts = st.prev, st.prev.hex(), st.last_ts
        tree = self.tree
        leaves: list[bytes] = []
        leaf_prefix = sha256(b"\x00")
        try:
            for full in rows:
                row = full[:8]
                seq, stream, kind, subject, ts, body, prev_col, hash_col = row
                cached_leaf = full[8]
                expected += 1
                # Fast path: every check in one expression; the slow path says which failed.
                if (
                    seq == expected
                    and type(body) is bytes
                    and (digest := sha256(body).digest()) == hash_col
                    and prev_col == prev
                    and (stream, kind) in names_ok
                    and (subject is None or (type(subject) is str and subject_ok(subject)))
                    and type(ts) is str
                    and ts_ok(ts)
                    and ts >= last_ts
                ):
                    tail = tail_bytes(
                        seq=seq, stream=stream, kind=kind, subject=subject, ts=ts, prev=prev_hex
                    )
                else:
                    problem = self._check_row(row, expected, prev, last_ts)
                    if problem is not None:
                        return self._fail(
                            min(expected, seq) if type(seq) is int else expected, problem
                        )
                    digest = hash_col
                    tail = tail_bytes(
                        seq=seq, stream=stream, kind=kind, subject=subject, ts=ts, prev=prev_hex
                    )
                if not (body.endswith(tail) and body.startswith(b'{"data":{')):
                    return self._fail(seq, _diagnose(seq, body, prev_hex, row[1:5]))
                # No JSON parse of the payload here: the bytes were canonical JSON when written,
                # and any later change breaks the hash chain, the keyed head and the signed
                # checkpoint; parsing 2 KB per entry would cost more than all the hashing.
                leaf_hasher = leaf_prefix.copy()
                leaf_hasher.update(body)
                leaf = leaf_hasher.digest()
                if cached_leaf is not None and cached_leaf != leaf:
                    return self._fail(
                        seq, f"entry {seq}: its cached Merkle leaf hash differs from its body's"
                    )
                leaves.append(leaf)
                prev, prev_hex, last_ts = digest, digest.hex(), ts
                st.size, st.prev, st.last_ts = expected, prev, last_ts
        finally:
            tree.extend(leaves)  # the good rows before a bad one count as walked
        return None

    def _check_row(
        self, row: tuple[Any, ...], expected: int, prev: bytes, last_ts: str
    ) -> str | None:
        """The first check a row fails, in order (None if all pass); caches good names."""
        seq, stream, kind, subject, ts, body, prev_col, hash_col = row
        if seq != expected:
            if type(seq) is int and seq > expected:
                return f"entry {expected} is missing (deleted)"
            return f"entry {expected}: its row number is malformed"
        if type(body) is not bytes:
            return f"entry {seq}: the stored body is not a byte string"
        if hashlib.sha256(body).digest() != hash_col:
            return (
                f"entry {seq}: stored bytes do not match their hash (altered after it was written)"
            )
        if prev_col != prev:
            return f"entry {seq}: its prev_hash column does not match the hash of entry {seq - 1}"
        if not (
            isinstance(stream, str)
            and isinstance(kind, str)
            and STREAM_RE.fullmatch(stream)
            and KIND_RE.fullmatch(kind)
        ):
            return f"entry {seq}: its stream or kind column is malformed"
        if subject is not None and not (isinstance(subject, str) and SUBJECT_RE.fullmatch(subject)):
            return f"entry {seq}: its subject column is malformed"
        if not (isinstance(ts, str) and TS_RE.fullmatch(ts)):
            return f"entry {seq}: its timestamp column is malformed"
        if ts < last_ts:
            return f"entry {seq}: its timestamp is earlier than entry {seq - 1}'s"
        self.st.names_ok.add((stream, kind))
        return None

    def _fail(self, seq: int, problem: str) -> VerifyReport:
        return VerifyReport(ok=False, checked=seq, first_bad=seq, problem=problem, head_hash=None)


def _diagnose(
    seq: int, body: bytes, prev_hex: str, cols: tuple[object, object, object, object]
) -> str:
    """Why a body with a correct hash is not the canonical encoding of its row (slow path)."""
    try:
        entry = entry_from_body(body, "")
    except (ValueError, UnicodeDecodeError):
        return f"entry {seq}: its body does not parse as a ledger entry"
    if entry.prev_hash != prev_hex:
        return (
            f"entry {seq}: it does not link to entry {seq - 1} (its recorded previous hash "
            "differs: an entry before it was replaced or removed)"
        )
    if entry.seq != seq:
        return f"entry {seq}: its body records a different sequence number ({entry.seq})"
    body_fields = (entry.stream, entry.kind, entry.subject, body_ts(body))
    for name, col, val in zip(("stream", "kind", "subject", "ts"), cols, body_fields, strict=True):
        if col != val:
            return f"entry {seq}: its {name} column disagrees with the hashed body"
    return f"entry {seq}: its body is not in canonical form"


def body_ts(body: bytes) -> str | None:
    """The raw ``ts`` string of a body (None if unreadable)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    ts = obj.get("ts") if isinstance(obj, dict) else None
    return ts if isinstance(ts, str) else None


# -- the whole check ----------------------------------------------------------------------------


def verify_ledger(
    db: LedgerStorage,
    mac_key: bytes,
    *,
    public_key: bytes | None = None,
    origin: str | None = None,
    anchors: Sequence[Anchor | str] = (),
    require_head: bool = False,
    workers: int | None = None,
    segment_rows: int = SEGMENT_ROWS,
) -> VerifyReport:
    """Verify every entry of the ledger in ``db``, its signed head and, with ``public_key``, its
    signed checkpoint (see the module docstring).

    ``anchors`` are checkpoints held outside the store (read before the walk, so entries
    appended meanwhile never look lost; a string is a witness that could not be read): the store
    must hold at least as many entries and the same root for that prefix
    (:func:`~sdk.ledger.anchoring.rollback_problem`). ``require_head``: a missing head (and
    checkpoint) is tampering, not an empty ledger (a store with witnesses starts with a signed
    genesis head).

    Safe to run while other threads append: rows committed during the walk are walked too.

    ``workers``: processes that check chain segments of ``segment_rows`` entries in parallel
    (default: one per core; 0 = all in this process; ledgers under two segments always are); the
    first bad entry is named by the serial walk either way (:mod:`sdk.ledger.parallel`).
    """
    walker = _Walker()
    _walk_in_parallel(db, walker, workers, segment_rows)
    bad = walker.walk(db)
    if bad is not None:
        return bad
    for anchor in anchors:
        if isinstance(anchor, str):
            return _fail_head(walker.size, anchor)
        lost = rollback_problem(anchor, walker.size, walker.tree.root)
        if lost is not None:
            first_bad, problem = lost
            return VerifyReport(
                ok=False, checked=walker.size, first_bad=first_bad, problem=problem, head_hash=None
            )
    if require_head and db.meta(HEAD_KEY) is None:
        return _fail_head(walker.size, _HEAD_MISSING)
    report = _verify_head(db, mac_key, walker)
    if not report.ok or public_key is None:
        return report
    if require_head and db.meta(CHECKPOINT_KEY) is None:
        return _fail_head(walker.size, "the signed checkpoint is missing (it was deleted)")
    return _verify_checkpoint(db, walker, report, public_key, origin)


def _walk_in_parallel(
    db: LedgerStorage, walker: _Walker, workers: int | None, segment_rows: int
) -> None:
    count = default_workers() if workers is None else workers
    if count < 1 or not can_spawn():
        return
    tail = db.tail()
    if tail is None or tail.seq < 2 * segment_rows:
        return
    source = db.read_source()
    if source is not None:
        walk_segments(
            source,
            PATTERNS,
            walker.st,
            walker.tree,
            end=tail.seq,
            workers=count,
            segment_rows=segment_rows,
        )


_HEAD_MISSING = (
    "the signed ledger head is missing: the ledger was wiped or its head deleted (a store "
    "anchored to a witness starts with a signed genesis head, so this is never an empty ledger)"
)


def _verify_checkpoint(
    db: LedgerStorage,
    walker: _Walker,
    report: VerifyReport,
    public_key: bytes,
    origin: str | None,
) -> VerifyReport:
    note = db.meta(CHECKPOINT_KEY)
    if note is None:
        if walker.size == 0:
            return report
        return _fail_head(
            walker.size, "the signed checkpoint is missing although the ledger has entries"
        )
    try:
        cp = open_checkpoint(note, public_key, origin=origin)
    except ProofError as exc:
        return _fail_head(walker.size, f"the signed checkpoint does not verify: {exc}")
    if cp.size > walker.size:
        # appends committed after the head was read moved the checkpoint too: walk them
        bad = walker.walk(db)
        if bad is not None:
            return bad
    elif cp.size < report.checked:
        return _fail_head(
            walker.size,
            f"entries {cp.size + 1}..{report.checked} are not covered by the signed checkpoint "
            "(appended without the signing key)",
        )
    problem = tree_problem(walker.tree, cp)
    if problem is not None:
        return _fail_head(walker.size, problem)
    return report


def _verify_head(db: LedgerStorage, mac_key: bytes, walker: _Walker) -> VerifyReport:
    while True:
        head_text = db.meta(HEAD_KEY)
        head, problem = head_problem(head_text, mac_key)
        if problem is not None:
            return _fail_head(walker.size, problem)
        if head is None:
            if walker.size == 0:
                return VerifyReport(ok=True, checked=0, head_hash=GENESIS_HASH)
            return _fail_head(walker.size, check_tail(None, walker.size, "", mac_key) or "")
        if head.size <= walker.size:
            break
        # The head was read after the rows: more rows committed meanwhile, or the end was cut.
        before = walker.size
        bad = walker.walk(db)
        if bad is not None:
            return bad
        if walker.size == before:
            return _fail_head(
                walker.size, check_tail(head_text, walker.size, walker.prev_hex, mac_key) or ""
            )
    if head.size == walker.size:
        problem = check_tail(head_text, walker.size, walker.prev_hex, mac_key)
        if problem is not None:
            return _fail_head(walker.size, problem)
        return VerifyReport(ok=True, checked=walker.size, head_hash=walker.prev_hex)
    # Rows beyond the head: nobody with the key wrote them.
    stored = db.hash_at(head.size)
    at_head = stored.hex() if stored is not None else GENESIS_HASH
    if at_head != head.hash:
        return _fail_head(
            walker.size,
            f"the chain no longer passes through the signed head (entry {head.size}): the "
            "ledger was rewritten from there on",
        )
    return VerifyReport(
        ok=False,
        checked=walker.size,
        first_bad=head.size + 1,
        problem=check_tail(head_text, walker.size, walker.prev_hex, mac_key),
        head_hash=None,
    )


def _fail_head(checked: int, problem: str) -> VerifyReport:
    return VerifyReport(ok=False, checked=checked, first_bad=None, problem=problem, head_hash=None)
