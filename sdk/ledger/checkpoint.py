"""Signed checkpoints in the C2SP ``tlog-checkpoint`` / ``signed-note`` format, and proof checks.

A checkpoint commits to the ledger's Merkle tree at one size::

    whylens.local/ledger/5f0c...            <- origin: names this log
    1042                                    <- tree size, decimal
    6g0Y...=                                <- base64 root hash (32 bytes)
                                            <- blank line
    — whylens.local/ledger/5f0c... AbCd...  <- em dash, key name, base64(key hash || signature)

The key hash is the first 4 bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)`` (0x01:
Ed25519), the signature is Ed25519 over the note text (the three lines with their newlines), as
``golang.org/x/mod/sumdb/note`` does. Everything here verifies offline with only the note, the
proof and the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ProofError
from .merkle import leaf_hash, root_from_inclusion, verify_consistency

__all__ = [
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "Signer",
    "key_hash",
    "open_checkpoint",
    "sign_checkpoint",
    "verify_consistency_proof",
    "verify_inclusion_proof",
]

_ORIGIN_RE = re.compile(r"[\x21-\x7e]{1,255}")
_MAX_NOTE = 4096
_DASH = "\u2014 "


class Signer(Protocol):
    """What signs checkpoints: :class:`sdk.crypto.keyring.Keyring` is one."""

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature of ``data``."""
        ...

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A verified (or freshly signed) checkpoint: the tree size, its root, and the note text."""

    origin: str
    size: int
    root: bytes
    note: str
    """The whole signed note, signature line included."""


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Entry ``seq`` (leaf ``seq - 1``) is in the tree of ``tree_size`` entries: the RFC 9162
    audit path, leaf side first."""

    seq: int
    tree_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, object]:
        """A JSON-able form: ``{"seq", "tree_size", "path": [base64...]}``."""
        return {
            "seq": self.seq,
            "tree_size": self.tree_size,
            "path": [base64.b64encode(p).decode() for p in self.path],
        }

    @classmethod
    def from_json(cls, obj: object) -> InclusionProof:
        """The inverse of :meth:`to_json`; :class:`ProofError` if malformed."""
        try:
            assert isinstance(obj, dict)
            seq, size, path = obj["seq"], obj["tree_size"], obj["path"]
            assert type(seq) is int and type(size) is int and isinstance(path, list)
            return cls(seq, size, tuple(_b64(p, 32) for p in path))
        except (AssertionError, KeyError, TypeError) as exc:
            raise ProofError("the inclusion proof is malformed") from exc


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of ``old_size`` entries is a prefix of the tree of ``new_size`` entries."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> dict[str, object]:
        """A JSON-able form: ``{"old_size", "new_size", "path": [base64...]}``."""
        return {
            "old_size": self.old_size,
            "new_size": self.new_size,
            "path": [base64.b64encode(p).decode() for p in self.path],
        }


def key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key hash of a signed-note Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def _text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(origin: str, size: int, root: bytes, signer: Signer) -> Checkpoint:
    """Sign the checkpoint (origin, size, root); the key name is the origin."""
    if not _ORIGIN_RE.fullmatch(origin):
        raise ProofError("a checkpoint origin is 1-255 printable ASCII characters, no spaces")
    text = _text(origin, size, root)
    sig = key_hash(origin, signer.public_key_bytes()) + signer.sign(text.encode())
    note = f"{text}\n{_DASH}{origin} {base64.b64encode(sig).decode()}\n"
    return Checkpoint(origin, size, root, note)


def open_checkpoint(note: str, public_key: bytes, *, origin: str | None = None) -> Checkpoint:
    """Parse a signed checkpoint and check its signature by ``public_key`` (raw 32 bytes).

    Raises :class:`ProofError` if the note is malformed, is not signed by that key, or names
    another origin than ``origin`` (when given).
    """
    if not isinstance(note, str) or len(note) > _MAX_NOTE:
        raise ProofError("the checkpoint is not a signed note")
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise ProofError("the checkpoint is not a signed note (no blank line before a signature)")
    text += "\n"
    lines = text.split("\n")[:-1]
    # isascii: str.isdigit also accepts digits such as '²' that int() refuses with ValueError
    if (
        len(lines) < 3
        or not _ORIGIN_RE.fullmatch(lines[0])
        or not (lines[1].isascii() and lines[1].isdigit())
    ):
        raise ProofError("the checkpoint text is not origin / size / root hash")
    if lines[1] != str(int(lines[1])):
        raise ProofError("the checkpoint size has leading zeros")
    name, size, root = lines[0], int(lines[1]), _b64(lines[2], 32)
    if origin is not None and name != origin:
        raise ProofError("the checkpoint is for another log (its origin differs)")
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
    except (ValueError, TypeError) as exc:
        raise ProofError("the public key is not a raw 32-byte Ed25519 key") from exc
    want = key_hash(name, public_key)
    for line in sigs[:-1].split("\n"):
        if not line.startswith(_DASH):
            raise ProofError("a checkpoint signature line is malformed")
        signer_name, _, sig_text = line[len(_DASH) :].partition(" ")
        sig = _b64(sig_text, None)
        if signer_name != name or sig[:4] != want or len(sig) != 68:
            continue  # another key's signature (a witness, say)
        try:
            key.verify(sig[4:], text.encode())
        except InvalidSignature:
            break
        return Checkpoint(name, size, root, note)
    raise ProofError("the checkpoint is not signed by this key (altered, or another key)")


def _b64(text: object, length: int | None) -> bytes:
    try:
        if not isinstance(text, str):
            raise ValueError
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError("a proof or checkpoint field is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        # unused low bits before the padding would let two texts carry the same bytes
        raise ProofError("a proof or checkpoint field is not in canonical base64")
    if length is not None and len(raw) != length:
        raise ProofError(f"a hash in a proof or checkpoint is not {length} bytes")
    return raw


def verify_inclusion_proof(
    body: bytes,
    proof: InclusionProof,
    checkpoint: str | Checkpoint,
    public_key: bytes,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Check offline that ledger entry bytes ``body`` are entry ``proof.seq`` of the log the
    signed ``checkpoint`` commits to. Returns the checkpoint; raises :class:`ProofError`."""
    cp = _opened(checkpoint, public_key, origin)
    if proof.tree_size != cp.size:
        raise ProofError(
            f"the proof is for a tree of {proof.tree_size} entries, the checkpoint has {cp.size}"
        )
    root = root_from_inclusion(leaf_hash(body), proof.seq - 1, proof.tree_size, proof.path)
    if root != cp.root:
        raise ProofError(
            f"entry {proof.seq} is not in the checkpointed tree (the entry bytes or the proof "
            "were altered)"
        )
    return cp


def verify_consistency_proof(
    old: str | Checkpoint,
    new: str | Checkpoint,
    proof: ConsistencyProof,
    public_key: bytes,
    *,
    origin: str | None = None,
) -> None:
    """Check offline that the log of checkpoint ``new`` extends the log of checkpoint ``old``
    (append-only: nothing before ``old.size`` was changed, removed or rolled back).

    Raises :class:`ProofError` naming what failed.
    """
    a = _opened(old, public_key, origin)
    b = _opened(new, public_key, origin)
    if a.origin != b.origin:
        raise ProofError("the two checkpoints are from different logs")
    if b.size < a.size:
        raise ProofError(
            f"rollback: the newer checkpoint covers {b.size} entries, fewer than the {a.size} "
            "seen before"
        )
    if (proof.old_size, proof.new_size) != (a.size, b.size):
        raise ProofError("the consistency proof is for other tree sizes than the checkpoints")
    if not verify_consistency(a.size, b.size, a.root, b.root, proof.path):
        raise ProofError(
            f"the log of {b.size} entries does not extend the log of {a.size} entries: "
            "entries were rewritten (fork or rollback)"
        )


def _opened(cp: str | Checkpoint, public_key: bytes, origin: str | None) -> Checkpoint:
    note = cp.note if isinstance(cp, Checkpoint) else cp
    return open_checkpoint(note, public_key, origin=origin)
