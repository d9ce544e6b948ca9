"""Field-level encryption: one AES-256-GCM ciphertext per stored field value.

Ciphertext format (version 1; see ``docs/crypto-format.md``)::

    offset  size  content
    0       1     format version            0x01
    1       1     algorithm id              0x01 = AES-256-GCM
    2       4     key version               unsigned, big-endian
    6       12    nonce                     random (os.urandom)
    18      n+16  AES-GCM ciphertext || 16-byte tag

The shortest valid ciphertext (empty plaintext) is 34 bytes. The associated data given to AES-GCM
is ``header (bytes 0..5) || caller_aad``: the header is authenticated, so changing the version,
algorithm or key version fails like any other tampering. ``caller_aad`` comes from
:func:`field_aad` and binds the ciphertext to its tenant, subject pseudonym, field path and schema
version — a ciphertext copied to another field or another subject does not decrypt.

Random 96-bit nonces are safe for up to 2**32 encryptions under one key; whylens uses one key per
subject, far below that bound.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._canonical import canonical_json
from ..errors import (
    CiphertextFormatError,
    CryptoError,
    DecryptionError,
    TruncatedCiphertext,
    UnknownCiphertextVersion,
)

__all__ = [
    "ALGORITHM_AES256GCM",
    "ALGORITHM_AES256SIV",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MIN_CIPHERTEXT_SIZE",
    "MIN_SIV_SIZE",
    "FieldCipher",
    "field_aad",
    "parse_header",
    "pseudonym",
]

FORMAT_VERSION = 0x01
ALGORITHM_AES256GCM = 0x01
ALGORITHM_AES256SIV = 0x02
_HEADER = struct.Struct(">BBI")
HEADER_SIZE = _HEADER.size  # 6
_NONCE_SIZE = 12
_TAG_SIZE = 16
_BODY_OFFSET = HEADER_SIZE + _NONCE_SIZE
MIN_CIPHERTEXT_SIZE = _BODY_OFFSET + _TAG_SIZE  # 34
MIN_SIV_SIZE = HEADER_SIZE + 16 + 1  # 23: header, synthetic IV, at least one byte (see keyset)
_KEY_SIZE = 32
_COPY_LIMIT = 4096
_MAX_KEY_VERSION = 0xFFFFFFFF
_PSEUDONYM_DOMAIN = b"whylens.subject.v1\x00"


def field_aad(
    *, subject: str, field: str, tenant: str = "default", schema_version: int = 1
) -> bytes:
    """Associated data binding a field ciphertext to tenant, subject pseudonym, field, schema.

    Canonical JSON (RFC 8785) of the four values, so every implementation derives the same bytes.
    """
    return canonical_json(
        {"field": field, "schema_version": schema_version, "subject": subject, "tenant": tenant}
    )


def pseudonym(key: bytes, subject: str) -> str:
    """The stable pseudonym of ``subject``: the first 32 hex characters (128 bits) of
    HMAC-SHA256(key, ``b"whylens.subject.v1\\x00" + subject.encode("utf-8")``).

    Without ``key`` a pseudonym cannot be linked back to the subject id, not even by guessing ids.
    """
    if len(key) < 16:
        raise CryptoError(f"the pseudonym key must be at least 16 bytes, got {len(key)}")
    mac = hmac.new(key, _PSEUDONYM_DOMAIN + subject.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:32]


def parse_header(ciphertext: bytes) -> tuple[int, int, int]:
    """``(format version, algorithm id, key version)`` of a field ciphertext, checked.

    Raises :class:`TruncatedCiphertext` when the input is shorter than its algorithm's minimum and
    :class:`UnknownCiphertextVersion` for a format version or algorithm id not in this whylens.
    """
    size = len(ciphertext)
    if size < HEADER_SIZE:
        raise TruncatedCiphertext(
            f"ciphertext is {size} bytes, shorter than the {MIN_CIPHERTEXT_SIZE}-byte minimum"
        )
    version, algorithm, key_version = _HEADER.unpack(ciphertext[:HEADER_SIZE])
    if version != FORMAT_VERSION:
        raise UnknownCiphertextVersion(
            f"unknown format version {version} (this whylens reads version {FORMAT_VERSION})"
        )
    if algorithm not in (ALGORITHM_AES256GCM, ALGORITHM_AES256SIV):
        raise UnknownCiphertextVersion(
            f"unknown algorithm id {algorithm} (this whylens knows {ALGORITHM_AES256GCM}, "
            f"AES-256-GCM, and {ALGORITHM_AES256SIV}, AES-256-SIV)"
        )
    minimum = MIN_CIPHERTEXT_SIZE if algorithm == ALGORITHM_AES256GCM else MIN_SIV_SIZE
    if size < minimum:
        raise TruncatedCiphertext(
            f"ciphertext is {size} bytes, shorter than the {minimum}-byte minimum"
        )
    return version, algorithm, key_version


class FieldCipher:
    """Encrypts and decrypts field values under one 32-byte key (AES-256-GCM, format above).

    ``key_version`` is written into every ciphertext header; :meth:`decrypt` refuses ciphertexts
    made under another key version. One instance may be shared between threads.
    """

    __slots__ = ("_aead", "_header", "_key_version")

    def __init__(self, key: bytes, *, key_version: int = 1) -> None:
        """Create a cipher for ``key`` (exactly 32 bytes) labelled ``key_version`` (0..2**32-1)."""
        if not isinstance(key, bytes | bytearray) or len(key) != _KEY_SIZE:
            what = f"{len(key)} bytes" if isinstance(key, bytes | bytearray) else type(key).__name__
            raise CryptoError(f"a field key must be {_KEY_SIZE} bytes (AES-256), got {what}")
        if (
            not isinstance(key_version, int)
            or isinstance(key_version, bool)
            or not 0 <= key_version <= _MAX_KEY_VERSION
        ):
            raise CryptoError(
                f"key_version must be an integer from 0 to {_MAX_KEY_VERSION}, got {key_version!r}"
            )
        self._aead = AESGCM(bytes(key))
        self._key_version = key_version
        self._header = _HEADER.pack(FORMAT_VERSION, ALGORITHM_AES256GCM, key_version)

    @property
    def key_version(self) -> int:
        """The key version written into (and required of) every ciphertext."""
        return self._key_version

    @property
    def header(self) -> bytes:
        """The 6-byte header every ciphertext of this cipher starts with."""
        return self._header

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """Encrypt ``plaintext``, authenticating ``aad`` (use :func:`field_aad`) and the header."""
        header = self._header
        nonce = os.urandom(_NONCE_SIZE)
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + aad)

    def decrypt(self, ciphertext: bytes, *, aad: bytes) -> bytes:
        """Decrypt a ciphertext made by :meth:`encrypt` with the same ``aad``.

        Raises :class:`CiphertextFormatError` for truncated input or an unknown format version or
        algorithm, and :class:`DecryptionError` when authentication fails (altered bytes, another
        field's or subject's ciphertext, wrong key) or the key version differs.
        """
        size = len(ciphertext)
        header = ciphertext[:HEADER_SIZE]
        if header != self._header or size < MIN_CIPHERTEXT_SIZE:
            return self._other_header(ciphertext, aad)
        # small values: slicing bytes is cheaper than a memoryview; large ones: avoid the copy
        body = (
            ciphertext[_BODY_OFFSET:]
            if size <= _COPY_LIMIT
            else memoryview(ciphertext)[_BODY_OFFSET:]
        )
        try:
            return self._aead.decrypt(ciphertext[HEADER_SIZE:_BODY_OFFSET], body, header + aad)
        except InvalidTag as exc:
            raise DecryptionError(
                "ciphertext did not authenticate: it was altered, belongs to another field or "
                "subject, or the key is wrong"
            ) from exc

    def _other_header(self, ciphertext: bytes, aad: bytes) -> bytes:
        """Called when the header is not this cipher's own; subclasses holding more keys
        (:class:`sdk.crypto.keyset.SubjectCipher`) dispatch here instead of refusing."""
        _, algorithm, key_version = parse_header(ciphertext)
        if algorithm == ALGORITHM_AES256SIV:
            raise CiphertextFormatError(
                "this is a deterministic (AES-SIV) ciphertext; decrypt it with a SubjectCipher or "
                "DeterministicCipher"
            )
        raise DecryptionError(
            f"ciphertext was made with key version {key_version}, but this cipher holds key "
            f"version {self._key_version}"
        )

    def encrypt_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """Encrypt ``(plaintext, aad)`` pairs; returns ciphertexts in the same order."""
        header = self._header
        encrypt = self._aead.encrypt
        urandom = os.urandom
        out: list[bytes] = []
        append = out.append
        for plaintext, aad in items:
            nonce = urandom(_NONCE_SIZE)
            append(header + nonce + encrypt(nonce, plaintext, header + aad))
        return out

    def decrypt_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        """Decrypt ``(ciphertext, aad)`` pairs; returns plaintexts in the same order.

        On the first failure raises the same error as :meth:`decrypt`, its message prefixed with
        the item's index.
        """
        decrypt = self.decrypt
        out: list[bytes] = []
        for index, (ciphertext, aad) in enumerate(items):
            try:
                out.append(decrypt(ciphertext, aad=aad))
            except CryptoError as exc:
                raise type(exc)(f"item {index}: {exc}") from exc
        return out

    def __repr__(self) -> str:
        return f"FieldCipher(key_version={self._key_version})"
