"""Proofs on a :class:`~sdk.ledger.Ledger`: signed checkpoints, inclusion and consistency proofs.

A mixin of :class:`~sdk.ledger.log.Ledger`; it reads the Ledger's database, signer, origin and the
lazily loaded Merkle tree (:mod:`sdk.ledger.tree`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import LedgerError
from .checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    Signer,
    open_checkpoint,
    sign_checkpoint,
)
from .entry import body_hash
from .merkle import EMPTY_ROOT, MerkleTree
from .tree import CHECKPOINT_KEY, TreeCache

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._store.abc import LedgerReads, LedgerStorage
    from .entry import LedgerEntry

__all__ = ["ProofsMixin"]



class ProofsMixin:
    """Checkpoints and proofs (see :class:`~sdk.ledger.log.Ledger`)."""

    _rows: LedgerStorage
    _signer: Signer | None
    _trees: TreeCache
    _last_cp: Checkpoint | None
    _recent: Mapping[int, bytes]
    _checked_size: int
    origin: str

    @property
    def signer(self) -> Signer | None:
        """What signs this ledger's checkpoints (the keyring), if anything."""
        return self._signer

    @property
    def public_key(self) -> bytes | None:
        """The raw Ed25519 key that verifies this ledger's checkpoints (None without a signer)."""
        return self._signer.public_key_bytes() if self._signer is not None else None

    def body(self, seq: int) -> bytes:
        """The stored canonical body bytes of entry ``seq`` (what its Merkle leaf hashes)."""
        if type(seq) is not int:
            raise LedgerError("a ledger seq is an int")
        body = self._rows.body(seq)
        if body is None:
            raise LedgerError(f"there is no ledger entry {seq}")
        return body

    def body_of(self, entry: LedgerEntry) -> bytes:
        """The body bytes of ``entry``: from memory if this object committed it lately (no read
        that waits behind the next commit's fsync), else as :meth:`body` reads them. Either
        way bytes whose hash is the entry's."""
        with self._trees.lock:
            body = self._recent.get(entry.seq)
        if body is not None and body_hash(body).hex() == entry.hash:
            return body
        return self.body(entry.seq)

    def _tree(self, size: int) -> MerkleTree:
        tree = self._trees.catch_up(self._rows, size)
        if tree.size < size:
            raise LedgerError(f"the ledger has only {tree.size} entries, not {size}")
        return tree

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        """The signed checkpoint: the one stored by the last commit (``size=None``), or a freshly
        signed one for an earlier ``size``. :class:`LedgerError` without a signer."""
        signer = self._signer
        if signer is None:
            raise LedgerError("this ledger has no signing key; open it with signer=keyring")
        if size is None:
            note = self._rows.meta(CHECKPOINT_KEY)
            if note is None:
                return sign_checkpoint(self.origin, 0, EMPTY_ROOT, signer)
            cached = self._last_cp
            if cached is not None and cached.note == note:
                return cached  # the one this object signed or already checked
            cp = open_checkpoint(note, signer.public_key_bytes(), origin=self.origin)
            self._last_cp = cp
            return cp
        if type(size) is not int or size < 0:
            raise LedgerError("a tree size is an int >= 0")
        return sign_checkpoint(self.origin, size, self._tree(size).root(size), signer)

    def checkpoint_covering(self, seq: int) -> Checkpoint:
        """A signed checkpoint whose tree holds entry ``seq``: the last one this object committed
        or checked, if it does (no read of the store), else the stored one (:meth:`checkpoint`)."""
        cached = self._last_cp
        if cached is not None and cached.size >= seq:
            return cached
        return self.checkpoint()

    def _size_or_latest(self, size: int | None) -> int:
        if size is None:
            return self.checkpoint().size if self._signer is not None else self.size  # type: ignore[attr-defined]
        if type(size) is not int or size < 0:
            raise LedgerError("a tree size is an int >= 0")
        return size

    def prove(self, seq: int, *, size: int | None = None) -> InclusionProof:
        """An RFC 9162 inclusion proof that entry ``seq`` is in the tree of ``size`` entries
        (default: the latest checkpoint's size)."""
        size = self._size_or_latest(size)
        if type(seq) is not int or not 0 < seq <= size:
            raise LedgerError(f"entry {seq} is not in a tree of {size} entries")
        path = self._tree(size).inclusion_path(seq - 1, size)
        return InclusionProof(seq, size, tuple(path))

    def prove_consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """An RFC 9162 consistency proof that the tree of ``old_size`` entries is a prefix of the
        tree of ``new_size`` entries (default: the latest checkpoint's size)."""
        new = self._size_or_latest(new_size)
        if type(old_size) is not int or not 0 <= old_size <= new:
            raise LedgerError(f"no consistency proof from {old_size} to {new} entries")
        if old_size in (0, new):
            return ConsistencyProof(old_size, new, ())
        path = self._tree(new).consistency_path(old_size, new)
        return ConsistencyProof(old_size, new, tuple(path))

    def _tree_problem(self, read: LedgerReads, size: int) -> str | None:
        """Bring the tree up to ``size`` leaves; leaves read from the database (not appended by
        this object) are checked against the signed checkpoint before anything is built on them."""
        trees = self._trees
        with trees.lock:
            tree = trees.tree
            if tree is not None and tree.size > size:
                tree.truncate(size)  # the stored chain got shorter: the check below fails
            tree = trees.catch_up(read, size)
            if tree.size != size:
                return f"entry {tree.size + 1} is missing (the tree cannot be built past it)"
            if self._checked_size == size or self._signer is None:
                self._checked_size = size
                return None
            problem = trees.check_against(read.meta(CHECKPOINT_KEY), self._signer, self.origin)
            if problem is None:
                self._checked_size = size
            return problem
