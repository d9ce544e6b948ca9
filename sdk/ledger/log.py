"""The :class:`Ledger`: appends with leader-based group commit, reads, and verification.

Group commit, without a background thread: an appender puts its validated entries on a queue; if
no commit is in progress it becomes the *leader*, takes the whole queue and writes it in one
transaction (assigning seq, ts, prev and hash in queue order), then wakes the appenders of that
batch with their entries (or with the batch's exception). Appenders that arrive while a commit is
running wait; when it ends one of them leads the next batch with everything queued meanwhile. So a
single thread gets one transaction per append and no waiting, while many threads share commits.
``append`` returns only once its transaction is committed, as durable as the database's
:class:`~sdk.store.Durability` mode makes it.

Do not call :meth:`Ledger.append` inside ``Store.transaction()``: the ledger opens its own. The
rows go through the storage seam (:class:`~sdk._store.abc.LedgerStorage`), which serializes the
chain across processes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._store.abc import LedgerBatch
from ..errors import ConfigurationError, LedgerError, LedgerIntegrityError, ProofError
from ..types import VerifyReport

if TYPE_CHECKING:
    from .._store.abc import LedgerReads, LedgerRow, LedgerTail, Store
    from .witness import WitnessSink
from .anchoring import AnchorsMixin, anchor_all, anchors_of, trusted_anchor
from .batch import LedgerStats, Waiter, result_of
from .checkpoint import (
    Checkpoint,
    Signer,
    sign_checkpoint,
)
from .entry import (
    GENESIS_HASH,
    LedgerEntry,
    PendingEntry,
    PreparedItem,
    RawEntry,
    body_hash,
    encode_body,
    entry_from_row,
    format_ts,
    hex_or_empty,
    parse_ts,
    prepare,
)
from .merkle import leaf_hash
from .proofs import ProofsMixin
from .tree import CHECKPOINT_KEY, TreeCache
from .verify import HEAD_KEY, check_tail, encode_head, verify_ledger

__all__ = ["Ledger", "LedgerStats"]

_READ_PAGE = 500
_RECENT_BODIES = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
@dataclass(frozen=True, slots=True)
class _State:
    """What the ledger knows about the end of the stored chain."""

    size: int
    last_hash: str
    last_ts: datetime
    head_text: str | None
    problem: str | None


class Ledger(AnchorsMixin, ProofsMixin):
    """The one append-only, hash-chained log of a whylens database (consent, audit, subjects...).

    ``mac_key`` signs the head (the size and last hash) after every commit. Opening a ledger whose
    head does not verify does not raise, so tools can still read it and :meth:`verify` reports the
    problem; but appending to it raises :class:`LedgerIntegrityError` (a new head would seal the
    damage).

    The entries are also the leaves of an RFC 9162 Merkle tree (:mod:`sdk.ledger.merkle`). With a
    ``signer`` (the keyring), every commit stores an Ed25519-signed checkpoint of the tree
    (:mod:`sdk.ledger.checkpoint`, C2SP signed-note format, key name = ``origin``), and
    :meth:`prove` / :meth:`prove_consistency` give proofs anyone can check offline.

    ``witnesses`` (:mod:`sdk.ledger.witness`; they need a ``signer``): every commit's checkpoint
    is also anchored outside the database, :meth:`check_anchors` (run by
    ``Personalizer.open``) and :meth:`verify` compare the store with the latest anchor, and a
    missing head is tampering, never an empty ledger. ``genesis=True`` (a store created a moment
    ago) writes and anchors the signed genesis head and checkpoint of size 0.
    """

    def __init__(
        self,
        db: Store,
        *,
        mac_key: bytes,
        signer: Signer | None = None,
        origin: str = "whylens.local/ledger",
        witnesses: Sequence[WitnessSink] = (),
        genesis: bool = False,
    ) -> None:
        if not isinstance(mac_key, bytes | bytearray) or len(mac_key) < 16:
            raise ConfigurationError("the ledger mac_key must be at least 16 bytes")
        if witnesses and signer is None:
            raise ConfigurationError("a ledger with witnesses needs a signer for its checkpoints")
        self._witnesses = tuple(witnesses)
        self._deferral = threading.Lock()
        self._deferred_anchoring = threading.Lock()
        self._deferred: Checkpoint | None = None
        self._deferred_timer: threading.Timer | None = None
        self._db = db
        self._rows = db.ledger
        self._key = bytes(mac_key)
        self._signer = signer
        self.origin = origin
        self._trees = TreeCache()
        self._checked_size = 0
        self._last_cp: Checkpoint | None = None
        # the bodies this object committed last, for receipts and proofs of what was just
        # appended without a read that waits behind the next commit's fsync
        self._recent: OrderedDict[int, bytes] = OrderedDict()
        self._pending_base = -1
        self._cond = threading.Condition()
        # one batch anchors at a time (the sinks and the counters see one caller), while the
        # next batch commits
        self._anchoring = threading.Lock()
        self._queue: list[Waiter] = []
        self._leading = False
        self.stats = LedgerStats()
        self._checks: list[Callable[[], str | None]] = []
        self._state = self._read_state(db.ledger)
        # a store created a moment ago; or an empty one from before genesis heads, which no
        # witness has seen (a wipe that a witness saw is caught by check_anchors)
        empty = self._state.size == 0 and self._state.head_text is None
        if empty and (genesis or (self._witnesses and self._nothing_anchored())):
            self._write_genesis()

    # -- writing ------------------------------------------------------------------------------

    def append(
        self,
        stream: str,
        kind: str,
        data: Mapping[str, Any],
        *,
        subject: str | None = None,
        defer_anchor: bool = False,
    ) -> LedgerEntry:
        """Append one entry and return it once committed.

        ``defer_anchor``: the entry is committed before this returns (it survives a crash of the
        process), but it is flushed to stable storage and anchored at a witness only within
        :data:`~sdk.ledger.anchoring.ANCHOR_DELAY`, together with every other such commit (or
        by the next ordinary commit): for frequent small entries whose loss in a power failure
        or a rollback of the *whole* store is allowed for a moment (subject integrity states,
        which may be one write ahead of the ledger).

        Raises :class:`LedgerError` for invalid input (nothing is written),
        :class:`LedgerIntegrityError` if the stored chain's end does not match its signed head,
        and :class:`~sdk.errors.StoreUnavailable` if the database cannot be written.
        """
        item = prepare(stream, kind, data, subject)
        return self._submit([item], waiter=Waiter([item], defer_anchor=defer_anchor))[0]

    def append_many(self, items: Sequence[PendingEntry]) -> list[LedgerEntry]:
        """Append several entries atomically (one transaction: all or none), in order."""
        if isinstance(items, PendingEntry | str | bytes) or not isinstance(items, Sequence):
            raise LedgerError("append_many takes a sequence of PendingEntry")
        prepared: list[PreparedItem] = []
        for i, item in enumerate(items):
            if not isinstance(item, PendingEntry):
                raise LedgerError(
                    f"append_many item {i} is a {type(item).__name__}, not a PendingEntry"
                )
            try:
                prepared.append(prepare(item.stream, item.kind, item.data, item.subject))
            except LedgerError as exc:
                raise LedgerError(f"append_many item {i}: {exc}") from None
        if not prepared:
            return []
        return self._submit(prepared)

    def append_once(self, items: Sequence[tuple[PendingEntry, int]]) -> list[LedgerEntry | None]:
        """Append each ``(entry, after_seq)`` unless the ledger already holds an entry of the same
        subject and kind after ``after_seq``; one transaction, in order.

        The check runs inside the commit, under the lock that serializes every writer of the
        chain (all processes), so of two processes appending the same entry only one succeeds:
        the other gets ``None`` at that position. Every entry needs a subject.
        """
        prepared: list[PreparedItem] = []
        after: list[int] = []
        for i, (item, seq) in enumerate(items):
            if not isinstance(item, PendingEntry) or item.subject is None:
                raise LedgerError(f"append_once item {i} is not a PendingEntry with a subject")
            prepared.append(prepare(item.stream, item.kind, item.data, item.subject))
            after.append(int(seq))
        if not prepared:
            return []
        waiter = Waiter(prepared, after)
        placed = iter(self._submit(prepared, waiter=waiter))
        return [None if i in waiter.skipped else next(placed) for i in range(len(prepared))]

    def _submit(
        self, items: list[PreparedItem], *, waiter: Waiter | None = None
    ) -> list[LedgerEntry]:
        waiter = waiter if waiter is not None else Waiter(items)
        with self._cond:
            self._queue.append(waiter)
            lead = not self._leading
            if lead:
                self._leading = True
                batch, self._queue = self._queue, []
        if not lead:
            # Sleep until our batch committed, or until the leader hands leadership to us. Each
            # waiter has its own event: waking every waiter after every commit costs more than
            # the commit itself when hundreds of threads append.
            waiter.wake.wait()
            if waiter.done:
                return result_of(waiter)
            with self._cond:
                batch, self._queue = self._queue, []
        anchor: Checkpoint | None = None
        try:
            anchor = self._commit(batch)
        except BaseException as exc:
            for w in batch:
                w.error = exc
            raise
        finally:
            with self._cond:
                if anchor is None:  # nothing to anchor (or failed): this batch is done
                    self._release(batch)
                # the next batch may commit while this one's checkpoint goes to the witnesses
                if self._queue:
                    self._queue[0].wake.set()  # the next leader; _leading stays True
                else:
                    self._leading = False
        if anchor is not None:
            # after the commit, and before anyone of the batch returns: one anchor covers the
            # whole batch. A later batch's anchor may land first; the sinks keep the larger
            # checkpoint (which extends this one), so the entries are covered either way.
            try:
                with self._anchoring:
                    anchor_all(self._witnesses, anchor, self._prover(anchor.size), self.stats)
                self._anchored_now(anchor)
            except BaseException as exc:
                for w in batch:
                    w.error = exc
                raise
            finally:
                with self._cond:
                    self._release(batch)
        return result_of(waiter)

    @staticmethod
    def _release(batch: list[Waiter]) -> None:
        for w in batch:
            w.done = True
            w.wake.set()

    def _commit(self, batch: list[Waiter]) -> Checkpoint | None:
        """Write ``batch`` in one transaction; the checkpoint the witnesses must see, if any."""
        rows: list[LedgerRow] = []
        made: list[list[LedgerEntry]] = []
        leaves: list[tuple[int, bytes]] = []
        try:
            cp = self._write(batch, rows, made, leaves)
        except BaseException:
            # the transaction rolled back (also when COMMIT itself failed): so does the tree
            with self._trees.lock:
                tree = self._trees.tree
                if tree is not None and 0 <= self._pending_base <= tree.size:
                    tree.truncate(self._pending_base)
            raise
        finally:
            self._pending_base = -1
        seq, prev, ts, head_text = cp[1:]
        # committed: the tree already holds the new leaves
        self._trees.unsaved = []
        self._checked_size = seq
        self._last_cp = cp[0]
        self._state = _State(seq, prev, ts, head_text, None)
        with self._trees.lock:  # the lock body_of reads under; only one leader commits
            recent = self._recent
            for row_seq, _stream, _kind, _subject, _ts, body, _prev, _digest in rows:
                recent[row_seq] = body
            while len(recent) > _RECENT_BODIES:
                recent.popitem(last=False)
        for w, out in zip(batch, made, strict=True):
            w.entries = out
        st = self.stats
        st.appends += len(rows)
        st.commits += 1
        st.largest_batch = max(st.largest_batch, len(rows))
        if not self._witnesses or cp[0] is None:
            return None
        if all(w.defer_anchor for w in batch):
            self._anchor_later(cp[0])  # a batch of deferred entries only: anchored within 0.2 s
            return None
        # anchored by the caller after the commit: anchoring before it could leave a witness
        # ahead of a store whose commit then failed
        return cp[0]

    def _write(
        self,
        batch: list[Waiter],
        rows: list[LedgerRow],
        made: list[list[LedgerEntry]],
        leaves: list[tuple[int, bytes]],
    ) -> tuple[Checkpoint | None, int, str, datetime, str]:
        """One transaction: the rows, their leaves, the head and the signed checkpoint."""
        out_cp: list[tuple[Checkpoint | None, int, str, datetime, str]] = []

        def build(read: LedgerReads) -> LedgerBatch:
            state = self._sync(read)
            problem = state.problem or self._tree_problem(read, state.size)
            if problem is not None:
                raise LedgerIntegrityError(
                    f"refusing to append: {problem}. Nothing was written; run verify() "
                    "and restore the database from a backup"
                )
            tree = self._trees.tree
            assert tree is not None
            now = datetime.now(UTC)
            ts = now if now > state.last_ts else state.last_ts
            ts_text = format_ts(ts)
            seq, prev = state.size, state.last_hash
            for w in batch:
                out: list[LedgerEntry] = []
                w.skipped = set()
                for i, it in enumerate(w.items):
                    if w.once_after is not None and _already(read, rows, it, w.once_after[i]):
                        w.skipped.add(i)
                        continue
                    seq += 1
                    body = encode_body(
                        seq=seq,
                        stream=it.stream,
                        kind=it.kind,
                        subject=it.subject,
                        ts=ts_text,
                        data_bytes=it.data_bytes,
                        prev=prev,
                    )
                    digest = body_hash(body)
                    leaves.append((seq, leaf_hash(body)))
                    rows.append(
                        (seq, it.stream, it.kind, it.subject, ts_text, body, bytes.fromhex(prev),
                         digest)
                    )
                    h = digest.hex()
                    out.append(
                        LedgerEntry(seq, it.stream, it.kind, it.subject, ts, it.data, prev, h)
                    )
                    prev = h
                made.append(out)
            with self._trees.lock:
                self._pending_base = tree.size
                tree.extend([leaf for _, leaf in leaves])
            head_text = encode_head(self._key, seq, prev)
            meta = {HEAD_KEY: head_text}
            cp = None
            if self._signer is not None:
                cp = sign_checkpoint(self.origin, seq, tree.root(), self._signer)
                meta[CHECKPOINT_KEY] = cp.note
            out_cp.append((cp, seq, prev, ts, head_text))
            return LedgerBatch(rows, self._trees.unsaved + leaves, meta)

        # commits that only carry deferred entries are not flushed on their own: the deferred
        # anchor flushes them first (sync), and any durable commit after them flushes them too
        self._rows.append(build, durable=not all(w.defer_anchor for w in batch))
        return out_cp[-1]

    def _sync(self, read: LedgerReads) -> _State:
        """The state of the stored chain's end, re-checked if another writer moved it."""
        cached = self._state
        tail = read.tail()
        head_text = read.meta(HEAD_KEY)
        size, last_hash, _ = _tail_of(tail)
        if (size, last_hash, head_text) == (cached.size, cached.last_hash, cached.head_text):
            return cached
        self._state = self._state_from(tail, head_text)
        return self._state

    def _refresh_state(self) -> None:
        self._state = self._read_state(self._rows)

    def _read_state(self, read: LedgerReads) -> _State:
        return self._state_from(read.tail(), read.meta(HEAD_KEY))

    def _state_from(self, tail: LedgerTail | None, head_text: str | None) -> _State:
        size, last_hash, ts_text = _tail_of(tail)
        problem = check_tail(head_text, size, last_hash, self._key)
        if problem is None and head_text is None and self._witnesses:
            problem = _HEAD_MISSING
        last_ts = _EPOCH
        if ts_text is not None:
            try:
                last_ts = parse_ts(ts_text)
            except ValueError:
                problem = problem or f"entry {size}: its timestamp column is malformed"
        return _State(size, last_hash, last_ts, head_text, problem)

    # -- reading ------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of entries stored (the seq of the last one)."""
        return _tail_of(self._rows.tail())[0]

    @property
    def head_hash(self) -> str:
        """The hash of the last stored entry (:data:`GENESIS_HASH` when empty)."""
        return _tail_of(self._rows.tail())[1]

    def entry_count(self, stream: str | None = None) -> int:
        """How many entries there are, in all or in one stream."""
        return self._rows.count(stream)

    def get(self, seq: int) -> LedgerEntry:
        """The entry with sequence number ``seq``; :class:`LedgerError` if there is none."""
        if type(seq) is not int:
            raise LedgerError("a ledger seq is an int")
        row = self._rows.entry(seq)
        if row is None:
            raise LedgerError(f"there is no ledger entry {seq} (the ledger has {self.size})")
        return entry_from_row(row)

    def entries(
        self,
        *,
        stream: str | None = None,
        subject: str | None = None,
        after_seq: int = 0,
        kinds: Collection[str] | None = None,
    ) -> Iterator[LedgerEntry]:
        """Entries in seq order, optionally only one stream, one subject, some kinds, or those
        after ``after_seq``. Reads in pages; each entry's stored bytes are checked against its
        hash (:class:`LedgerIntegrityError` if they differ)."""
        names: list[str] | None = None
        if kinds is not None:
            if isinstance(kinds, str):
                raise LedgerError("kinds must be a collection of kind names, not one string")
            names = sorted(set(kinds))
            if not names:
                return
        if type(after_seq) is not int or after_seq < 0:
            raise LedgerError("after_seq must be an int >= 0")
        last = after_seq
        while True:
            rows = self._rows.entries(
                after_seq=last, limit=_READ_PAGE, stream=stream, subject=subject, kinds=names
            )
            for row in rows:
                yield entry_from_row(row)
            if len(rows) < _READ_PAGE:
                return
            last = rows[-1][0]

    def raw_entries(self, *, after_seq: int = 0) -> Iterator[RawEntry]:
        """Every stored row in seq order, as is (body bytes and columns, nothing checked).

        For exports and forensic tools; use :meth:`entries` to read checked, parsed entries.
        """
        if type(after_seq) is not int or after_seq < 0:
            raise LedgerError("after_seq must be an int >= 0")
        for seq, stream, kind, subject, ts, prev, digest, body in self._raw_rows(after_seq):
            try:
                when: datetime | None = parse_ts(ts)
            except (ValueError, TypeError):
                when = None
            yield RawEntry(
                seq=seq,
                stream=stream,
                kind=kind,
                subject=subject,
                ts=when,
                prev_hash=hex_or_empty(prev),
                hash=hex_or_empty(digest),
                body=body if isinstance(body, bytes) else str(body).encode(),
            )

    def _raw_rows(self, after_seq: int) -> Iterator[tuple[Any, ...]]:
        last = after_seq
        while True:
            rows = self._rows.raw(after_seq=last, limit=_READ_PAGE)
            yield from rows
            if len(rows) < _READ_PAGE:
                return
            last = rows[-1][0]

    def verify(self, *, trusted_checkpoint: str | Checkpoint | None = None) -> VerifyReport:
        """Check the whole chain, its signed head, every entry's Merkle leaf, the signed
        checkpoint's root (see :mod:`sdk.ledger.verify`), and that the store holds everything
        the witnesses anchored.

        ``trusted_checkpoint``: a checkpoint note an auditor kept (from :meth:`checkpoint`); the
        report fails if the store no longer holds those entries, or holds other ones.
        """
        public = self._signer.public_key_bytes() if self._signer is not None else None
        anchors = anchors_of(self._witnesses, self.origin, public)
        if trusted_checkpoint is not None:
            if public is None:
                raise LedgerError("checking a trusted checkpoint needs the ledger's signer")
            try:
                anchors.append(trusted_anchor(trusted_checkpoint, public, self.origin))
            except ProofError as exc:
                return VerifyReport(
                    ok=False,
                    checked=0,
                    problem=f"the trusted checkpoint does not verify: {exc}",
                    head_hash=None,
                )
        report = verify_ledger(
            self._rows,
            self._key,
            public_key=public,
            origin=self.origin,
            anchors=anchors,
            require_head=bool(self._witnesses),
        )
        for check in self._checks if report.ok else ():
            problem = check()
            if problem is not None:
                return report.model_copy(update={"ok": False, "problem": problem})
        return report

    def add_check(self, check: Callable[[], str | None]) -> None:
        """Make :meth:`verify` also run ``check``: a layer above that keeps state beside the
        ledger whose truth the ledger records (the retired data-key versions) says what is
        wrong with it, or None."""
        self._checks.append(check)


_HEAD_MISSING = (
    "the signed ledger head is missing: the ledger was wiped or its head deleted (a store "
    "anchored to a witness starts with a signed genesis head, so this is never an empty ledger)"
)


def _already(read: LedgerReads, rows: list[LedgerRow], item: PreparedItem, after: int) -> bool:
    """Is an entry of ``item``'s subject and kind after seq ``after`` stored, or earlier in this
    commit?"""
    assert item.subject is not None
    if any(r[0] > after and r[2] == item.kind and r[3] == item.subject for r in rows):
        return True
    return read.has_entry(subject=item.subject, kind=item.kind, after_seq=after)


def _tail_of(tail: LedgerTail | None) -> tuple[int, str, str | None]:
    if tail is None:
        return 0, GENESIS_HASH, None
    return tail.seq, tail.hash.hex(), tail.ts
