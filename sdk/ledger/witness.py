"""The witness seam: where the ledger anchors its checkpoints outside the database.

A signed checkpoint stored beside the rows it covers proves nothing against whoever can replace
the rows: delete them all, cut the tail, or copy an old database file back, and the head, the
checkpoint and the key that signed them go along. So every checkpoint the ledger makes is also
handed to one or more :class:`WitnessSink` objects that keep it somewhere else, and on open and on
:meth:`~sdk.ledger.Ledger.verify` the store must be consistent (RFC 9162) with the latest one
anchored: a store that holds fewer entries, or other ones, is a
:class:`~sdk.errors.LedgerRollback` naming what was lost.

This module is only the protocol (as ``opentelemetry-api`` is apart from the SDK); the sinks are
:mod:`sdk.ledger.witness_file` (a local append-only checkpoint log, the default; a directory on
another volume), :mod:`sdk.ledger.witness_http` (a C2SP ``tlog-witness`` over HTTP, with
cosignatures) and :mod:`sdk.ledger.witness_s3` (write-once objects in an S3 Object Lock bucket).

Cadence: the leader of each group commit anchors the checkpoint of its batch right after the
database committed it, so one anchor covers every entry of the batch (amortised like the commit).
The window: entries committed but not yet anchored -- at most the batch being anchored in each
writing process, plus, for an unreachable HTTP witness, everything since its last success (logged,
and counted in :attr:`~sdk.ledger.LedgerStats.anchor_failures`) -- can be rolled back without the
witness noticing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import WitnessError
from .checkpoint import Checkpoint

__all__ = [
    "Anchor",
    "ProbingSink",
    "ProveFn",
    "WitnessSink",
    "checkpoint_fields",
    "rollback_problem",
]

ProveFn = Callable[[int], Sequence[bytes]]
"""``prove(old_size)``: the RFC 9162 consistency path from ``old_size`` entries to the size of
the checkpoint being anchored (computed lazily: only a sink that holds an older one asks)."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """What a witness holds for one log: the size, and the root and note when it shows them."""

    witness: str
    """The sink's name, for messages: ``the witness log <path>``, ``the witness <name> (<url>)``,
    ``the trusted checkpoint``."""
    size: int
    root: bytes | None = None
    """The Merkle root of the first ``size`` entries (None: the witness only told its size)."""
    note: str | None = None
    """The checkpoint note as anchored, cosignatures included when the witness gave any."""


@runtime_checkable
class WitnessSink(Protocol):
    """A place outside the database that keeps the latest checkpoint of a log, append-only.

    Implementations must be safe for several threads and several processes anchoring the same
    log: a sink never goes back to a smaller size (an anchor that arrives late is ignored).
    """

    @property
    def name(self) -> str:
        """Where it is, for messages (never a secret)."""
        ...

    def anchor(self, checkpoint: Checkpoint, prove: ProveFn) -> Anchor:
        """Record ``checkpoint`` if it extends what the sink holds, checking consistency from
        the sink's latest size with ``prove``. Returns what the sink holds afterwards: a larger
        size than ``checkpoint.size`` means it has already seen more (another writer; or, if the
        store holds fewer, entries were lost).

        Raises :class:`~sdk.errors.WitnessConflict` if the checkpoint does not extend the one
        held (a fork), :class:`~sdk.errors.WitnessError` if the sink cannot be reached.
        """
        ...

    def latest(self, origin: str) -> Anchor | None:
        """The latest checkpoint held for log ``origin``, read without writing (None: none, or
        none this sink can show without a new submission)."""
        ...


@runtime_checkable
class ProbingSink(Protocol):
    """A sink that cannot show what it holds without a submission (an HTTP witness), but can be
    asked with one that never changes its state."""

    def probe(self, checkpoint: Checkpoint) -> Anchor | None:
        """What the sink holds for ``checkpoint.origin``, learnt without recording anything."""
        ...


def checkpoint_fields(note: str) -> tuple[str, int, bytes]:
    """The origin, size and root of a checkpoint note, signatures not checked (a sink keeps
    notes it cannot verify; the ledger checks the signature). :class:`WitnessError` if it is
    not one."""
    lines = note.split("\n")
    try:
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not size_text.isdigit() or size_text != str(int(size_text)):
            raise ValueError
        root = base64.b64decode(root_text, validate=True)
        if len(root) != 32 or not origin:
            raise ValueError
    except (IndexError, ValueError, binascii.Error):
        raise WitnessError("a witness holds something that is not a checkpoint note") from None
    return origin, int(size_text), root


def rollback_problem(
    anchor: Anchor, present: int, root_at: Callable[[int], bytes]
) -> tuple[int | None, str] | None:
    """What is wrong between the store (``present`` entries; ``root_at(n)`` the root of its first
    ``n``) and ``anchor``: ``(first_bad, problem)``, or None when consistent."""
    if anchor.size > present:
        lost = f"entries {present + 1}..{anchor.size}"
        return present + 1, (
            f"the store holds {present} ledger entries but {anchor.witness} holds a checkpoint "
            f"of {anchor.size} entries: {lost} were lost (a wipe, a truncation, or an old "
            "backup put back)"
        )
    if anchor.root is not None and anchor.size > 0 and root_at(anchor.size) != anchor.root:
        return None, (
            f"the first {anchor.size} ledger entries differ from the checkpoint {anchor.witness} "
            "holds: history was rewritten (a fork, or another store put in place)"
        )
    return None
