"""C2SP ``tlog-cosignature`` (``cosignature/v1``, Ed25519): a witness's signature on a checkpoint.

A cosignature line is a signed-note signature line, ``— <witness name> base64(key id ||
timestamp || signature)``: the key id is ``SHA-256(name || "\\n" || 0x04 || public key)[:4]``,
the timestamp a big-endian u64 of POSIX seconds, and the Ed25519 signature covers::

    cosignature/v1
    time <timestamp>
    <the checkpoint body: origin, size, root lines, with the final newline>

It states that, at that time, this was the largest consistent tree the witness had seen for the
log. :func:`cosign` is what a witness does (the tests' witness server uses it);
:func:`verify_cosignature` is what the client checks on the answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import WitnessError

__all__ = ["cosign", "cosignature_key_id", "verify_cosignature"]

_DASH = "\u2014 "
_MAX_TS = (1 << 63) - 1


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 cosigner."""
    return hashlib.sha256(name.encode() + b"\n\x04" + public_key).digest()[:4]


def _body(note: str) -> str:
    text, sep, _ = note.partition("\n\n")
    if not sep:
        raise WitnessError("a checkpoint to cosign is not a signed note")
    return text + "\n"


def _message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(note: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of ``name`` on checkpoint ``note``."""
    from cryptography.hazmat.primitives import serialization

    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    sig = key.sign(_message(_body(note), timestamp))
    blob = cosignature_key_id(name, public) + struct.pack(">Q", timestamp) + sig
    return f"{_DASH}{name} {base64.b64encode(blob).decode()}\n"


def verify_cosignature(note: str, lines: str, name: str, public_key: bytes) -> tuple[str, int]:
    """The first line of ``lines`` that is a valid cosignature by (``name``, ``public_key``) on
    ``note``, and its timestamp. Lines of other keys are ignored, as the spec says;
    :class:`WitnessError` if none verifies."""
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise WitnessError("the witness public key is not a raw 32-byte Ed25519 key") from None
    want = cosignature_key_id(name, public_key)
    body = _body(note)
    for line in lines.split("\n"):
        if not line.startswith(_DASH):
            continue
        signer, _, blob_text = line[len(_DASH) :].partition(" ")
        try:
            blob = base64.b64decode(blob_text, validate=True)
        except (binascii.Error, ValueError):
            continue
        if signer != name or len(blob) != 76 or blob[:4] != want:
            continue
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp > _MAX_TS:
            continue
        try:
            key.verify(blob[12:], _message(body, timestamp))
        except InvalidSignature:
            continue
        return line + "\n", timestamp
    raise WitnessError(f"the witness {name!r} returned no valid cosignature on the checkpoint")
