"""The ledger's Merkle tree: leaf hashes stored beside the entries, the tree kept in memory.

Storage: ``ledger_leaves(seq, leaf)`` holds ``SHA-256(0x00 || body)`` of every entry, written in
the same transaction as the entry. It is a cache of what the bodies already determine:
:func:`~sdk.ledger.verify.verify_ledger` recomputes every leaf from the body and names an entry
whose cached leaf differs, and the tree loaded from the cache is checked against the last signed
checkpoint before anything is appended on top of it.

The in-memory :class:`~sdk.ledger.merkle.MerkleTree` is built lazily (on the first commit, proof or
checkpoint), from the cache, and computes missing leaves from the bodies (a database written
before the tree existed); each later commit extends it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import ProofError
from .checkpoint import Checkpoint, Signer, open_checkpoint
from .merkle import MerkleTree, leaf_hash

if TYPE_CHECKING:
    from .._store.abc import LedgerReads

__all__ = ["CHECKPOINT_KEY", "TreeCache"]

CHECKPOINT_KEY = "ledger_checkpoint"
"""The ``whylens_meta`` key of the latest signed checkpoint note."""

_PAGE = 50_000


class TreeCache:
    """The lazily loaded tree of one :class:`~sdk.ledger.Ledger`, and the leaves to persist."""

    def __init__(self) -> None:
        self.tree: MerkleTree | None = None
        self.lock = threading.RLock()
        self.unsaved: list[tuple[int, bytes]] = []
        """Leaves computed from bodies (no cached row yet): written with the next commit."""

    def catch_up(self, read: LedgerReads, size: int) -> MerkleTree:
        """The tree with at least ``size`` leaves, reading cached leaves (or bodies) after the
        ones already in memory.

        The lock is never held while reading the database: a committing leader holds the
        database and then takes this lock, so the opposite order would deadlock.
        """
        with self.lock:
            if self.tree is None:
                self.tree = MerkleTree()
            tree = self.tree
        while True:
            with self.lock:
                start = tree.size
            if start >= size:
                return tree
            leaves, unsaved, more = self._read_after(read, start, size)
            with self.lock:
                if tree.size != start:
                    continue  # someone else extended it meanwhile: read again from there
                tree.extend(leaves)
                self.unsaved.extend(unsaved)
            if not more:
                return tree

    def _read_after(
        self, read: LedgerReads, start: int, size: int
    ) -> tuple[list[bytes], list[tuple[int, bytes]], bool]:
        """Leaves ``start+1 .. size`` (one page), the ones computed from bodies, and whether
        another page may follow."""
        # fast path: the cached leaves alone, when they run without a gap
        rows = read.leaves(start, size, _PAGE)
        n = len(rows)
        if (
            n
            and rows[-1][0] == start + n
            and all(type(leaf) is bytes and len(leaf) == 32 for _, leaf in rows)
        ):
            return [leaf for _, leaf in rows], [], True
        full = read.leaves_or_bodies(start, size, _PAGE)
        leaves: list[bytes] = []
        unsaved: list[tuple[int, bytes]] = []
        for i, (seq, leaf, body) in enumerate(full, start=start + 1):
            if seq != i:
                return leaves, unsaved, False  # a gap: the checkpoint check then fails
            if not isinstance(leaf, bytes) or len(leaf) != 32:
                leaf = leaf_hash(body if isinstance(body, bytes) else b"")
                unsaved.append((seq, leaf))
            leaves.append(leaf)
        return leaves, unsaved, len(full) == _PAGE

    def check_against(self, note: str | None, signer: Signer, origin: str) -> str | None:
        """Does the in-memory tree agree with the stored signed checkpoint? The problem, or None."""
        if note is None:
            return (
                None
                if self.tree is None or self.tree.size == 0
                else ("the signed checkpoint is missing although the ledger has entries")
            )
        try:
            cp = open_checkpoint(note, signer.public_key_bytes(), origin=origin)
        except ProofError as exc:
            return f"the signed checkpoint does not verify: {exc}"
        size = 0 if self.tree is None else self.tree.size
        if size > cp.size:
            # rows and checkpoint commit in one transaction, so entries past it were added
            # behind whylens's back (the keyring's MAC key re-makes the head, not the signature):
            # an append would have the signing key seal them
            return (
                f"entries {cp.size + 1}..{size} are not covered by the signed checkpoint (added "
                "without the signing key)"
            )
        return tree_problem(self.tree, cp)


def tree_problem(tree: MerkleTree | None, cp: Checkpoint) -> str | None:
    """What is wrong between a tree and an authentic checkpoint, or None."""
    size = 0 if tree is None else tree.size
    if size < cp.size:
        return (
            f"the ledger has {size} entries but its signed checkpoint covers {cp.size}: entries "
            "were removed"
        )
    assert tree is not None or cp.size == 0
    root = tree.root(cp.size) if tree is not None else None
    if cp.size and root != cp.root:
        return (
            f"the Merkle root of the first {cp.size} entries differs from the signed checkpoint: "
            "entries (or their cached leaf hashes) were altered"
        )
    return None
