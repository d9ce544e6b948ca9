"""RFC 9162 (Certificate Transparency 2.0) Merkle trees: hashes, proofs and their verification.

* leaf hash: ``SHA-256(0x00 || entry bytes)``; interior node: ``SHA-256(0x01 || left || right)``;
  the hash of the empty tree is ``SHA-256("")`` (RFC 9162 §2.1.1);
* inclusion proofs (§2.1.3) and consistency proofs (§2.1.4) exactly as the RFC defines them, so
  any RFC 9162 / RFC 6962 verifier accepts ours and ours accepts theirs.

:class:`MerkleTree` keeps the leaf hashes and every *complete, aligned* subtree root in flat
``bytearray`` levels (level ``k`` holds the roots of leaves ``[i*2**k, (i+1)*2**k)``). Appending is
amortised O(1) hashes; the root of any size and every proof need O(log n) cached nodes plus at
most O(log n) hashes along the tree's ragged right edge. A million leaves take about 64 MB.

The verification functions need nothing but the proof, the leaf and the root: they work offline.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence

from ._segment import parent_level

__all__ = [
    "EMPTY_ROOT",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "reference_root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()
"""The root of the tree with no leaves."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one entry as a leaf."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) straight from the RFC's recursive definition, over leaf *hashes*.

    Slow (O(n) hashes every call); the tests use it as the definition to check the fast paths.
    """
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


class MerkleTree:
    """An append-only RFC 9162 tree over leaf hashes, with every complete subtree cached.

    Thread-safe: appends and truncation take a lock; proofs for sizes already present read nodes
    that never change afterwards.
    """

    __slots__ = ("_levels", "_lock", "_size")

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self._lock = threading.Lock()
        self.extend(leaves)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (32 bytes)."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add leaf hashes in order, completing the cached subtrees they close."""
        new = leaves if isinstance(leaves, list) else list(leaves)
        if any(len(leaf) != 32 for leaf in new):
            raise ValueError("a leaf hash is 32 bytes")
        with self._lock:
            self._levels[0] += b"".join(new)
            self._size += len(new)
            self._complete(0)

    def graft(self, levels: Sequence[bytes]) -> None:
        """Add the leaves ``levels[0]`` together with their complete aligned subtrees
        ``levels[1:]`` (as :func:`~sdk.ledger._segment.subtree_levels` computes them, e.g. in a
        verification worker), when the tree's size is a multiple of ``2**(len(levels)-1)``."""
        n = len(levels[0]) // 32
        with self._lock:
            size = self._size
            top = len(levels) - 1
            if len(levels[0]) % 32 or size % (1 << top):
                raise ValueError("subtrees graft only at a multiple of their size")
            if any(len(lvl) != (n >> k) * 32 for k, lvl in enumerate(levels)) or (n >> (top + 1)):
                raise ValueError("not the complete subtrees of these leaves")
            while len(self._levels) < len(levels):
                self._levels.append(bytearray())
            for mine, theirs in zip(self._levels, levels, strict=False):
                mine += theirs
            self._size += n
            self._complete(top)

    def _complete(self, k: int) -> None:
        """Level by level from ``k`` up, add a node for every pair not yet paired."""
        levels = self._levels
        while len(levels[k]) >= 64:
            if k + 1 == len(levels):
                levels.append(bytearray())
            lvl, up = levels[k], levels[k + 1]
            have, want = len(up) // 32, len(lvl) // 64
            if have == want:
                break
            up += parent_level(memoryview(lvl)[have * 64 : want * 64])
            k += 1

    def truncate(self, size: int) -> None:
        """Drop every leaf after the first ``size`` (used to undo a failed commit)."""
        with self._lock:
            if not 0 <= size <= self._size:
                raise ValueError("truncate size out of range")
            for k, lvl in enumerate(self._levels):
                del lvl[(size >> k) * 32 :]
            self._size = size

    def leaf(self, index: int) -> bytes:
        """The leaf hash at 0-based ``index``."""
        if not 0 <= index < self._size:
            raise IndexError("leaf index out of range")
        return bytes(self._levels[0][index * 32 : index * 32 + 32])

    def leaves(self, start: int = 0, end: int | None = None) -> list[bytes]:
        """Leaf hashes ``[start, end)``."""
        end = self._size if end is None else end
        raw = self._levels[0]
        return [bytes(raw[i * 32 : i * 32 + 32]) for i in range(start, end)]

    # -- subtree roots --------------------------------------------------------------------------

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves ``[start, end)``, where ``start`` is a multiple of the largest power of
        two not exceeding ``end - start`` (true of every subtree the RFC's recursion visits)."""
        n = end - start
        if n & (n - 1) == 0:
            k = n.bit_length() - 1
            i = (start >> k) * 32
            return bytes(self._levels[k][i : i + 32])
        k = _split(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: all)."""
        size = self._size if size is None else size
        if not 0 <= size <= self._size:
            raise ValueError(f"tree size {size} out of range (the tree has {self._size} leaves)")
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    # -- proofs ---------------------------------------------------------------------------------

    def inclusion_path(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 §2.1.3.1 (0-based ``index``)."""
        size = self._size if size is None else size
        if not 0 < size <= self._size or not 0 <= index < size:
            raise ValueError(f"no leaf {index} in a tree of size {size}")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_path(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty when the sizes are equal)."""
        new_size = self._size if new_size is None else new_size
        if not 0 < old_size <= new_size <= self._size:
            raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
        path: list[bytes] = []
        m, start, end, whole = old_size, 0, new_size, True
        # SUBPROOF(m, D[start:end], whole), iteratively; nodes are collected leaf-side last
        while True:
            n = end - start
            if m == n:
                if not whole:
                    path.append(self._subtree(start, end))
                break
            k = _split(n)
            if m <= k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start, m, whole = start + k, m - k, False
        path.reverse()
        return path


# -- offline verification -----------------------------------------------------------------------


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None if it is malformed."""
    if not 0 <= index < size or len(leaf) != 32:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if len(p) != 32 or sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True if ``path`` proves leaf hash ``leaf`` sits at 0-based ``index`` of the tree of
    ``size`` leaves whose root is ``root``."""
    return root_from_inclusion(leaf, index, size, path) == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """True if ``path`` proves the tree of ``old_size`` leaves (``old_root``) is a prefix of the
    tree of ``new_size`` leaves (``new_root``) — RFC 9162 §2.1.4.2."""
    if old_size < 0 or new_size < old_size or any(len(p) != 32 for p in path):
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path  # the empty tree is a prefix of every tree
    if not path:
        return False
    nodes = list(path)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
