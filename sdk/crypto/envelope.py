"""Envelope encryption: per-subject data keys wrapped under a key-encryption key (KEK).

Each subject's data key (DEK) is stored only in wrapped form::

    wrapped = 0x01 (wrap format version) || nonce (12 bytes) || AES-256-GCM(kek, dek) + tag (16)

The associated data is ``0x01 || context``. The context names what the key belongs to — for
subject keys, :func:`key_context` binds the subject's pseudonym and the KEK version — so a wrapped
key copied onto another subject's row, or relabelled with another KEK version, does not unwrap.

Crypto-shredding a subject is deleting their wrapped key: without it, their ciphertexts are noise.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._canonical import canonical_json
from ..errors import CryptoError, DecryptionError, TruncatedCiphertext, UnknownCiphertextVersion

__all__ = ["WRAPPED_KEY_SIZE", "WRAP_FORMAT_VERSION", "key_context", "unwrap_key", "wrap_key"]

WRAP_FORMAT_VERSION = 1
_VERSION_BYTE = bytes([WRAP_FORMAT_VERSION])
_NONCE_SIZE = 12
_TAG_SIZE = 16
_KEY_SIZE = 32
WRAPPED_KEY_SIZE = 1 + _NONCE_SIZE + _KEY_SIZE + _TAG_SIZE
"""Size in bytes of a wrapped 32-byte data key (61)."""


def key_context(*, subject: str, kek_version: int, dek_version: int = 1) -> bytes:
    """The wrap context of a subject's data key: canonical JSON of pseudonym, data-key version
    and KEK version."""
    return canonical_json(
        {
            "dek_version": dek_version,
            "kek_version": kek_version,
            "purpose": "whylens.subject-key.v1",
            "subject": subject,
        }
    )


def _check_key(name: str, key: bytes) -> None:
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != _KEY_SIZE:
        what = f"{len(key)} bytes" if isinstance(key, bytes | bytearray) else type(key).__name__
        raise CryptoError(f"{name} must be {_KEY_SIZE} bytes (AES-256), got {what}")


def wrap_key(kek: bytes, dek: bytes, *, context: bytes) -> bytes:
    """Encrypt the 32-byte data key ``dek`` under ``kek`` (32 bytes), bound to ``context``."""
    _check_key("the key-encryption key", kek)
    _check_key("the data key to wrap", dek)
    nonce = os.urandom(_NONCE_SIZE)
    return _VERSION_BYTE + nonce + AESGCM(kek).encrypt(nonce, dek, _VERSION_BYTE + context)


def unwrap_key(kek: bytes, wrapped: bytes, *, context: bytes) -> bytes:
    """Recover a data key wrapped by :func:`wrap_key`.

    Raises :class:`CiphertextFormatError` if ``wrapped`` is not a wrapped key of a known format and
    :class:`DecryptionError` if the KEK or the context is wrong or the bytes were altered.
    """
    _check_key("the key-encryption key", kek)
    if len(wrapped) != WRAPPED_KEY_SIZE:
        raise TruncatedCiphertext(
            f"a wrapped key is {WRAPPED_KEY_SIZE} bytes, got {len(wrapped)}; the stored key is "
            "truncated or not a whylens wrapped key"
        )
    if wrapped[0] != WRAP_FORMAT_VERSION:
        raise UnknownCiphertextVersion(f"unknown wrapped-key format version {wrapped[0]}")
    view = memoryview(wrapped)
    try:
        return AESGCM(kek).decrypt(
            view[1 : 1 + _NONCE_SIZE], view[1 + _NONCE_SIZE :], _VERSION_BYTE + context
        )
    except InvalidTag as exc:
        raise DecryptionError(
            "the wrapped data key did not authenticate: the key-encryption key is wrong (another "
            "keyring?), or the wrapped key was altered or moved to another subject"
        ) from exc
