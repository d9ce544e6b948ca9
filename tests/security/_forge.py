"""An attacker's toolkit for the pinned-verification tests: a store with an overridden decision,
and forgeries of its export, audit proof, consent receipt and erasure receipt re-signed with a
key the attacker made (they hold the files, not the operator's signing key)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sdk.audit.export import _signed_bytes as export_signed_bytes
from sdk.audit.export_format import manifest_bytes
from sdk.ledger import sign_checkpoint
from sdk.ledger.merkle import MerkleTree, leaf_hash


class AttackerKey:
    """An Ed25519 key that is not the store's: a :class:`sdk.ledger.Signer`."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_key_bytes(self) -> bytes:
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def b64(self) -> str:
        return base64.b64encode(self.public_key_bytes()).decode()


def resign_manifest(folder: Path, signer: Any, **changes: Any) -> None:
    """Rewrite the manifest with ``changes`` and fresh file hashes, signed by ``signer`` (which
    also becomes the manifest's public key)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    manifest["files"] = {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in manifest["files"]
    }
    raw = signer.public_key_bytes()
    manifest["public_key"] = base64.b64encode(raw).decode()
    manifest["key_fingerprint"] = hashlib.sha256(raw).hexdigest()
    manifest.pop("signature", None)
    manifest["signature"] = base64.b64encode(signer.sign(export_signed_bytes(manifest))).decode()
    path.write_bytes(manifest_bytes(manifest))


def drop_from(folder: Path, seq: int, signer: Any) -> None:
    """Cut the export at ledger entry ``seq`` (it and everything after it go), remove their rows
    from the records file, drop the checkpoint and re-sign: the forged export of an override
    that never happened."""
    ledger = folder / "ledger.jsonl"
    kept = [
        line
        for line in ledger.read_bytes().splitlines(keepends=True)
        if json.loads(line)["seq"] < seq
    ]
    ledger.write_bytes(b"".join(kept))
    records = folder / "records.jsonl"
    rows = [
        line
        for line in records.read_bytes().splitlines(keepends=True)
        if json.loads(line)["seq"] < seq
    ]
    records.write_bytes(b"".join(rows))
    last = json.loads(kept[-1])
    resign_manifest(
        folder,
        signer,
        records=len(kept),
        selected=len(rows),
        last_seq=last["seq"],
        last_hash=last["hash"],
        ledger_size=last["seq"],
        ledger_head=last["hash"],
        checkpoint=None,
        origin=None,
        last_proof=None,
    )


def forged_checkpoint(origin: str, bodies: list[bytes], signer: Any) -> tuple[Any, MerkleTree]:
    """A checkpoint over ``bodies`` signed by ``signer``, and the tree (for proofs)."""
    tree = MerkleTree()
    for body in bodies:
        tree.append(leaf_hash(body))
    return sign_checkpoint(origin, tree.size, tree.root(tree.size), signer), tree
