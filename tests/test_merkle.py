"""RFC 9162 Merkle tree: the RFC 6962 reference vectors, every proof up to 64 leaves, and
cross-checks against an independent implementation (pymerkle)."""

from __future__ import annotations

import hashlib

import pymerkle
import pytest

from sdk.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    reference_root,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference test vectors (RFC 6962 test suite, also used by
# trillian and certificate-transparency-go): 8 leaf inputs and the roots of the first n of them.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# published audit paths in the 8-leaf tree
PATH_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
PATH_5_OF_8 = [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
]
MAX = 64


def data(i: int) -> bytes:
    return f"entry-{i}".encode() * (i % 3 + 1)


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return MerkleTree(leaf_hash(data(i)) for i in range(MAX))


@pytest.fixture(scope="module")
def independent() -> pymerkle.InmemoryTree:
    other = pymerkle.InmemoryTree(algorithm="sha256")  # RFC 9162 prefixes (security on)
    for i in range(MAX):
        other.append_entry(data(i))
    return other


def test_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_reference_roots(size: int) -> None:
    t = MerkleTree(leaf_hash(x) for x in RFC6962_LEAVES)
    assert t.root(size).hex() == RFC6962_ROOTS[size - 1]
    assert (
        reference_root([leaf_hash(x) for x in RFC6962_LEAVES[:size]]).hex()
        == (RFC6962_ROOTS[size - 1])
    )


def test_rfc6962_reference_audit_paths() -> None:
    t = MerkleTree(leaf_hash(x) for x in RFC6962_LEAVES)
    assert [p.hex() for p in t.inclusion_path(0, 8)] == PATH_0_OF_8
    assert [p.hex() for p in t.inclusion_path(5, 8)] == PATH_5_OF_8
    root = bytes.fromhex(RFC6962_ROOTS[7])
    assert verify_inclusion(leaf_hash(RFC6962_LEAVES[5]), 5, 8, t.inclusion_path(5, 8), root)


def test_every_root_matches_the_definition_and_pymerkle(
    tree: MerkleTree, independent: pymerkle.InmemoryTree
) -> None:
    leaves = tree.leaves()
    for size in range(1, MAX + 1):
        assert tree.root(size) == reference_root(leaves[:size])
        assert tree.root(size) == independent.get_root(size)
    assert leaves == [independent.get_leaf(i + 1) for i in range(MAX)]


def test_every_inclusion_proof_up_to_64(
    tree: MerkleTree, independent: pymerkle.InmemoryTree
) -> None:
    for size in range(1, MAX + 1):
        root = tree.root(size)
        for index in range(size):
            leaf = tree.leaf(index)
            path = tree.inclusion_path(index, size)
            assert verify_inclusion(leaf, index, size, path, root)
            # the proof does not prove another leaf, another position, or another size
            if size > 1:
                assert not verify_inclusion(tree.leaf((index + 1) % size), index, size, path, root)
                assert not verify_inclusion(leaf, (index + 1) % size, size, path, root)
            if path:
                bad = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
                assert not verify_inclusion(leaf, index, size, bad, root)
        # the independent implementation's proofs agree with our roots
        if size in (1, 2, 7, 8, 13, 33, 64):
            for index in range(size):
                proof = independent.prove_inclusion(index + 1, size)
                pymerkle.verify_inclusion(tree.leaf(index), root, proof)


def test_every_consistency_proof_up_to_64(
    tree: MerkleTree, independent: pymerkle.InmemoryTree
) -> None:
    for new in range(1, MAX + 1):
        new_root = tree.root(new)
        for old in range(1, new + 1):
            old_root = tree.root(old)
            path = tree.consistency_path(old, new)
            assert verify_consistency(old, new, old_root, new_root, path), (old, new)
            if old < new:
                assert not verify_consistency(old, new, old_root, tree.root(new - 1), path)
                if old > 1:
                    assert not verify_consistency(old, new, tree.root(old - 1), new_root, path)
                for k in range(len(path)):
                    bad = list(path)
                    bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
                    assert not verify_consistency(old, new, old_root, new_root, bad)
                # and pymerkle accepts a consistency proof between our two roots
                if new in (5, 8, 31, 64):
                    proof = independent.prove_consistency(old, new)
                    pymerkle.verify_consistency(old_root, new_root, proof)
    assert verify_consistency(0, 5, EMPTY_ROOT, tree.root(5), [])
    assert not verify_consistency(5, 4, tree.root(5), tree.root(4), [])


def test_malformed_proofs_are_rejected_not_raised(tree: MerkleTree) -> None:
    root = tree.root(10)
    assert root_from_inclusion(tree.leaf(3), 10, 10, tree.inclusion_path(3, 10)) is None
    assert root_from_inclusion(b"short", 3, 10, []) is None
    assert not verify_inclusion(tree.leaf(3), 3, 10, [b"x" * 31], root)
    assert not verify_inclusion(tree.leaf(3), 3, 10, [*tree.inclusion_path(3, 10), root], root)
    assert not verify_consistency(3, 10, tree.root(3), root, [])
    assert not verify_consistency(3, 10, tree.root(3), root, [b"y" * 5])


def test_truncate_restores_an_earlier_tree() -> None:
    t = MerkleTree(leaf_hash(data(i)) for i in range(37))
    roots = [t.root(n) for n in range(38)]
    t.truncate(20)
    assert t.size == 20 and t.root() == roots[20]
    t.extend(leaf_hash(data(i)) for i in range(20, 37))
    assert [t.root(n) for n in range(38)] == roots
    with pytest.raises(ValueError):
        t.root(38)
    with pytest.raises(ValueError):
        t.inclusion_path(37, 37)
