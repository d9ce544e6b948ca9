"""Comparing a store with the checkpoints anchored outside it (see :mod:`sdk.ledger.witness`).

:func:`~sdk.ledger.witness.rollback_problem` is the one rule, used on open, on every verify and
for a checkpoint an auditor holds: the store must hold at least the anchored number of entries,
and the Merkle root of its first ``size`` entries must be the anchored root. Checking the root of
a prefix costs O(log n) on a tree already built, nothing per entry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .._store.abc import LedgerBatch
from ..errors import (
    LedgerError,
    LedgerRollback,
    ProofError,
    WhylensError,
    WitnessConflict,
    WitnessError,
    WitnessOriginConflict,
)
from .batch import LedgerStats
from .checkpoint import Checkpoint, Signer, open_checkpoint, sign_checkpoint
from .entry import GENESIS_HASH
from .merkle import EMPTY_ROOT, MerkleTree
from .tree import CHECKPOINT_KEY
from .verify import HEAD_KEY, encode_head
from .witness import Anchor, ProbingSink, ProveFn, WitnessSink, rollback_problem

if TYPE_CHECKING:
    from .._store.abc import LedgerReads, LedgerStorage

__all__ = ["AnchorsMixin", "anchor_all", "anchors_of", "trusted_anchor"]

logger = logging.getLogger(__name__)
ANCHOR_DELAY = 0.2
"""Seconds within which a commit appended with ``defer_anchor=True`` is anchored (with every
other such commit of the interval: one anchor for all of them), unless an ordinary commit's
anchor, :meth:`AnchorsMixin.flush_anchors` or closing the Personalizer comes first."""


def trusted_anchor(note: str | Checkpoint, public_key: bytes, origin: str) -> Anchor:
    """An auditor's checkpoint as an :class:`Anchor`, once its signature verifies."""
    text = note.note if isinstance(note, Checkpoint) else note
    cp = open_checkpoint(text, public_key, origin=origin)
    return Anchor("the trusted checkpoint", cp.size, cp.root, cp.note)


def anchors_of(
    sinks: Sequence[WitnessSink], origin: str, public_key: bytes | None
) -> list[Anchor | str]:
    """The latest anchor of every sink; a string (the problem) for a sink whose record cannot
    be read or is not signed by the ledger's key."""
    out: list[Anchor | str] = []
    for sink in sinks:
        try:
            anchor = sink.latest(origin)
        except WitnessError as exc:
            out.append(f"the witness {sink.name} cannot be read: {exc}")
            continue
        if anchor is None:
            continue
        if anchor.note is not None and public_key is not None:
            try:
                open_checkpoint(anchor.note, public_key, origin=origin)
            except ProofError as exc:
                out.append(f"the checkpoint anchored in {sink.name} does not verify: {exc}")
                continue
        out.append(anchor)
    return out


def anchor_all(
    sinks: Sequence[WitnessSink], cp: Checkpoint, prove: ProveFn, stats: LedgerStats
) -> list[Anchor]:
    """Hand ``cp`` to every sink. A conflict (a fork) raises; an unreachable sink is logged and
    counted, and the entries stay in the rollback window until a later anchor succeeds."""
    held: list[Anchor] = []
    for sink in sinks:
        try:
            held.append(sink.anchor(cp, prove))
            stats.anchors += 1
        except WitnessOriginConflict as exc:
            raise WitnessOriginConflict(
                f"{exc}. The entries of this commit are stored; run verify()",
                witness=exc.witness,
                pinned=exc.pinned,
            ) from None
        except WitnessConflict as exc:
            # the commit is stored; the store's history is not the one the witness saw
            raise WitnessConflict(
                f"{exc}. The entries of this commit are stored; run verify()"
            ) from None
        except WitnessError as exc:
            stats.anchor_failures += 1
            logger.warning("could not anchor checkpoint %d in %s: %s", cp.size, sink.name, exc)
    return held


class AnchorsMixin:
    """Genesis, anchoring and the open-time check of a :class:`~sdk.ledger.Ledger`."""

    _witnesses: tuple[WitnessSink, ...]
    _deferral: threading.Lock
    _deferred_anchoring: threading.Lock
    _deferred: Checkpoint | None
    _deferred_timer: threading.Timer | None
    _signer: Signer | None
    _rows: LedgerStorage
    _key: bytes
    origin: str
    stats: LedgerStats

    if TYPE_CHECKING:  # provided by ProofsMixin and Ledger (stubs here would shadow them)

        def _tree(self, size: int) -> MerkleTree: ...

        def _refresh_state(self) -> None: ...

    @property
    def witnesses(self) -> tuple[WitnessSink, ...]:
        """Where this ledger's checkpoints are anchored."""
        return self._witnesses

    # -- deferred anchors: one anchor for many frequent, small commits -------------------------

    def _anchor_later(self, cp: Checkpoint) -> None:
        """Anchor ``cp`` within :data:`ANCHOR_DELAY` (a later checkpoint covers it)."""
        with self._deferral:
            if self._deferred is None or cp.size > self._deferred.size:
                self._deferred = cp
            if self._deferred_timer is None:
                timer = threading.Timer(ANCHOR_DELAY, self._anchor_deferred)
                timer.daemon = True
                self._deferred_timer = timer
                timer.start()

    def _anchored_now(self, cp: Checkpoint) -> None:
        """An ordinary commit anchored ``cp``: it covers every deferred checkpoint before it."""
        with self._deferral:
            if self._deferred is not None and self._deferred.size <= cp.size:
                self._deferred = None

    def flush_anchors(self) -> None:
        """Anchor now what was deferred (the Personalizer calls it on close)."""
        with self._deferral:
            timer, self._deferred_timer = self._deferred_timer, None
        if timer is not None:
            timer.cancel()
        self._anchor_deferred(quiet=False)

    def _anchor_deferred(self, *, quiet: bool = True) -> None:
        # one deferred anchor at a time: close waits for the timer's, never races the store
        with self._deferred_anchoring:
            with self._deferral:
                cp, self._deferred = self._deferred, None
                if quiet:
                    self._deferred_timer = None
            if cp is None:
                return
            try:
                self._rows.sync()  # never anchor a commit that a power loss could still undo
                anchor_all(self._witnesses, cp, self._prover(cp.size), self.stats)
            except WhylensError as exc:
                if not quiet:
                    raise
                # nobody to raise to: the next anchor, or the next open, sees the gap
                logger.warning("could not anchor deferred checkpoint %d: %s", cp.size, exc)

    def _prover(self, size: int) -> ProveFn:
        def prove(old: int) -> list[bytes]:
            return self._tree(size).consistency_path(old, size)

        return prove

    def _root_at(self, size: int) -> bytes:
        return self._tree(size).root(size)

    def check_anchors(self) -> list[Anchor]:
        """Compare the store with every witness (and catch up a witness that missed anchors).

        Raises :class:`~sdk.errors.LedgerRollback` naming the anchored size, the present size
        and the entries lost, if the store holds fewer entries than a witness anchored or other
        ones. A witness that cannot be reached is logged and skipped (``verify`` reports it).
        """
        if not self._witnesses:
            return []
        assert self._signer is not None
        tail = self._rows.tail()
        present = 0 if tail is None else tail.seq
        note = self._rows.meta(CHECKPOINT_KEY)
        cp: Checkpoint | None = None
        if note is not None:
            try:
                cp = open_checkpoint(note, self._signer.public_key_bytes(), origin=self.origin)
            except ProofError:
                cp = None  # verify() and the next append say what is wrong with it
        held: list[Anchor] = []
        for sink in self._witnesses:
            try:
                if cp is not None and cp.size == present:
                    anchor: Anchor | None = sink.anchor(cp, self._prover(cp.size))
                else:
                    anchor = sink.latest(self.origin)
            except WitnessOriginConflict as exc:
                raise LedgerRollback(self._renamed(sink, exc, present)) from None
            except WitnessConflict as exc:
                raise LedgerRollback(
                    f"the store is not the ledger its witness saw: {exc}"
                ) from None
            except WitnessError as exc:
                logger.warning("could not check the witness %s: %s", sink.name, exc)
                continue
            except LedgerError:
                # the chain has a gap, so no proof can be built: compare sizes only below;
                # verify() names the missing entry and appends refuse
                try:
                    anchor = sink.latest(self.origin)
                except WitnessConflict as exc:
                    raise LedgerRollback(
                        f"the store is not the ledger its witness saw: {exc}"
                    ) from None
                except WitnessError:
                    continue
            if anchor is None:
                continue
            lost = self._lost(anchor, present)
            if lost is not None:
                # another process may have committed and anchored after ``present`` was read;
                # anchors follow commits, so a fresh read of the store covers every one of them
                tail = self._rows.tail()
                present = 0 if tail is None else tail.seq
                lost = self._lost(anchor, present)
            if lost is not None:
                raise LedgerRollback(lost[1])
            held.append(anchor)
        return held

    def _renamed(self, sink: WitnessSink, exc: WitnessOriginConflict, present: int) -> str:
        """The problem of a store whose ledger origin is not the one ``sink`` is pinned to.

        The origin comes from the keyring's ``id``, which whoever holds the keyring can change
        (and re-sign the store's checkpoint under the new one). The witness is asked what it
        holds for its pinned origin, without recording anything: read, or (an HTTP witness)
        probed with a checkpoint of that origin, signed here, of the store's present entries.
        A witness that holds more says which entries were lost."""
        renamed = (
            f"{exc} (this store's ledger is {self.origin!r}; a witness is pinned to one ledger)"
        )
        assert self._signer is not None
        try:
            held = sink.latest(exc.pinned)
            if held is None and isinstance(sink, ProbingSink):
                root = self._root_at(present)
                held = sink.probe(sign_checkpoint(exc.pinned, present, root, self._signer))
        except (WitnessError, LedgerError, ProofError):
            return renamed
        if held is None:
            return renamed
        lost = self._lost(held, present)
        return renamed if lost is None else f"{lost[1]}; and {renamed}"

    def _lost(self, anchor: Anchor, present: int) -> tuple[int | None, str] | None:
        try:
            return rollback_problem(anchor, present, self._root_at)
        except LedgerError:  # the chain has a gap, met while building the tree
            return rollback_problem(replace(anchor, root=None), present, self._root_at)

    def _nothing_anchored(self) -> bool:
        """No witness shows a checkpoint of this log (an unreadable one counts as showing)."""
        for sink in self._witnesses:
            try:
                if sink.latest(self.origin) is not None:
                    return False
            except WitnessError:
                return False
        return True

    def _write_genesis(self) -> None:
        """The signed head and checkpoint of the empty ledger, written once and anchored."""
        made: list[Checkpoint] = []

        def build(read: LedgerReads) -> LedgerBatch:
            if read.tail() is not None or read.meta(HEAD_KEY) is not None:
                return LedgerBatch([], [], {})  # another process wrote it first
            meta = {HEAD_KEY: encode_head(self._key, 0, GENESIS_HASH)}
            if self._signer is not None:
                cp = sign_checkpoint(self.origin, 0, EMPTY_ROOT, self._signer)
                meta[CHECKPOINT_KEY] = cp.note
                made.append(cp)
            return LedgerBatch([], [], meta)

        self._rows.append(build)
        self._refresh_state()
        if made and self._witnesses:
            anchor_all(self._witnesses, made[0], self._prover(0), self.stats)


