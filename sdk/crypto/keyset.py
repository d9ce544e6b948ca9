"""Deterministic (AES-SIV) field encryption, and one subject's cipher over all its key versions.

AES-SIV ciphertext (algorithm id 0x02; see ``docs/crypto-format.md``)::

    offset  size  content
    0       1     format version            0x01
    1       1     algorithm id              0x02 = AES-256-SIV (RFC 5297)
    2       4     key version               unsigned, big-endian
    6       16    synthetic IV (the tag)
    22      n     ciphertext (n >= 1: an empty value is encrypted as one 0x00 byte with an extra
                  associated-data item b"empty", so it stays distinct from b"\x00")

The SIV key (64 bytes) is derived from the subject's data key with HKDF-SHA256
(``info = b"whylens.siv.v1"``), so a deterministic ciphertext is only equal to another one of the
*same subject* for the same value and the same associated data: joinable inside one person's
data, unlinkable across people. Associated data is the list ``[header, caller_aad]``.

:class:`SubjectCipher` is the :class:`~sdk.crypto.field.FieldCipher` of a subject's current data
key that can also read ciphertexts made under the subject's older key versions (lazy data-key
rotation) and deterministic ones, and refuses versions below a minimum with :class:`KeyRetired`.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import CryptoError, DecryptionError, KeyRetired
from .field import (
    _HEADER,
    ALGORITHM_AES256GCM,
    ALGORITHM_AES256SIV,
    FORMAT_VERSION,
    HEADER_SIZE,
    FieldCipher,
    parse_header,
)

__all__ = ["DeterministicCipher", "SubjectCipher", "siv_key"]

_SIV_INFO = b"whylens.siv.v1"


def siv_key(data_key: bytes) -> bytes:
    """The 64-byte AES-256-SIV key derived from a 32-byte data key (HKDF-SHA256)."""
    if len(data_key) != 32:
        raise CryptoError(f"a data key must be 32 bytes (AES-256), got {len(data_key)} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_SIV_INFO).derive(
        bytes(data_key)
    )


class DeterministicCipher:
    """AES-256-SIV over one data key: equal plaintext and aad give equal ciphertext.

    Use it only for values that must be compared or joined while encrypted; it reveals equality
    (within one subject's key), nothing else. Randomized :class:`FieldCipher` is the default.
    """

    __slots__ = ("_header", "_key_version", "_siv")

    def __init__(self, data_key: bytes, *, key_version: int = 1) -> None:
        """A deterministic cipher for the 32-byte ``data_key`` labelled ``key_version``."""
        FieldCipher(data_key, key_version=key_version)  # same checks of key and version
        self._siv = AESSIV(siv_key(data_key))
        self._key_version = key_version
        self._header = _HEADER.pack(FORMAT_VERSION, ALGORITHM_AES256SIV, key_version)

    @property
    def key_version(self) -> int:
        """The key version written into every ciphertext."""
        return self._key_version

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """Encrypt deterministically, authenticating the header and ``aad``."""
        if not plaintext:
            # RFC 5297 allows it, but cryptography refuses empty data; a fixed pad byte keeps the
            # empty value distinguishable from every other value
            return self._header + self._siv.encrypt(b"\x00", [self._header, aad, b"empty"])
        return self._header + self._siv.encrypt(plaintext, [self._header, aad])

    def decrypt(self, ciphertext: bytes, *, aad: bytes) -> bytes:
        """Decrypt a ciphertext made by :meth:`encrypt` with the same ``aad``."""
        _, algorithm, key_version = parse_header(ciphertext)
        if algorithm != ALGORITHM_AES256SIV:
            raise DecryptionError("not a deterministic (AES-SIV) ciphertext")
        if key_version != self._key_version:
            raise DecryptionError(
                f"ciphertext was made with key version {key_version}, but this cipher holds key "
                f"version {self._key_version}"
            )
        header, body = ciphertext[:HEADER_SIZE], ciphertext[HEADER_SIZE:]
        try:
            return self._siv.decrypt(body, [header, aad])
        except InvalidTag:
            pass
        try:
            self._siv.decrypt(body, [header, aad, b"empty"])
            return b""
        except InvalidTag as exc:
            raise DecryptionError(
                "deterministic ciphertext did not authenticate: it was altered, belongs to "
                "another field or subject, or the key is wrong"
            ) from exc

    def __repr__(self) -> str:
        return f"DeterministicCipher(key_version={self._key_version})"


class SubjectCipher(FieldCipher):
    """A subject's ciphers: encrypts under the current data key, decrypts any kept version.

    ``keys`` maps data-key version -> 32-byte key and must contain ``current``. Ciphertexts whose
    key version is below ``min_version`` raise :class:`KeyRetired`; versions not in ``keys`` raise
    :class:`DecryptionError`. The fast path (current version, randomized) is
    :meth:`FieldCipher.decrypt` itself.
    """

    __slots__ = ("_derived", "_keys", "_min_version", "_others", "_sivs")

    def __init__(self, keys: Mapping[int, bytes], *, current: int, min_version: int = 0) -> None:
        """Ciphers over every version in ``keys``; ``current`` is used for encryption."""
        if current not in keys:
            raise CryptoError(f"the current key version {current} is not among the keys given")
        if current < min_version:
            raise KeyRetired(
                f"the subject's newest data key (version {current}) is below the minimum "
                f"decryption version {min_version}: rotate the subject's key (writing does it)"
            )
        super().__init__(keys[current], key_version=current)
        self._keys = dict(keys)
        self._min_version = min_version
        self._others: dict[int, FieldCipher] = {}
        self._sivs: dict[int, DeterministicCipher] = {}
        self._derived: dict[tuple[bytes, int], bytes] = {}

    @property
    def versions(self) -> tuple[int, ...]:
        """Every data-key version this cipher can decrypt, ascending."""
        return tuple(sorted(self._keys))

    @property
    def min_version(self) -> int:
        """Ciphertexts under data-key versions below this raise :class:`KeyRetired`."""
        return self._min_version

    def encrypt_deterministic(self, plaintext: bytes, *, aad: bytes) -> bytes:
        """AES-SIV under the current key version (see :class:`DeterministicCipher`)."""
        return self._siv(self._key_version).encrypt(plaintext, aad=aad)

    def derive_key(self, info: bytes, *, version: int | None = None) -> bytes:
        """A 32-byte key for another use (``info`` names it), derived with HKDF-SHA256 from the
        data key of ``version`` (the current one by default): it goes when the data key goes."""
        if not isinstance(info, bytes) or not info:
            raise CryptoError("a derived key needs a non-empty info label")
        wanted = self._key_version if version is None else version
        # kept beside the data key it comes from, for as long as this cipher (one HKDF per
        # audited decision was a measurable part of the decision path)
        derived = self._derived.get((info, wanted))
        if derived is not None:
            return derived
        key = self._keys.get(wanted)
        if key is None:
            raise DecryptionError(f"this subject has no data-key version {version}")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)
        self._derived[(info, wanted)] = derived
        return derived

    def key_version_of(self, ciphertext: bytes) -> int:
        """The key version in a ciphertext's header (validates the header only)."""
        return parse_header(ciphertext)[2]

    def _siv(self, version: int) -> DeterministicCipher:
        siv = self._sivs.get(version)
        if siv is None:
            siv = DeterministicCipher(self._keys[version], key_version=version)
            self._sivs[version] = siv
        return siv

    def _other_header(self, ciphertext: bytes, aad: bytes) -> bytes:
        _, algorithm, key_version = parse_header(ciphertext)
        if key_version < self._min_version:
            raise KeyRetired(
                f"ciphertext was made under data-key version {key_version}, below the minimum "
                f"decryption version {self._min_version}: that key was retired"
            )
        if key_version not in self._keys:
            raise DecryptionError(
                f"ciphertext was made with data-key version {key_version}, which this subject "
                f"does not have (versions {list(self.versions)})"
            )
        if algorithm == ALGORITHM_AES256SIV:
            return self._siv(key_version).decrypt(ciphertext, aad=aad)
        assert algorithm == ALGORITHM_AES256GCM
        other = self._others.get(key_version)
        if other is None:
            other = self._others[key_version] = FieldCipher(
                self._keys[key_version], key_version=key_version
            )
        return other.decrypt(ciphertext, aad=aad)

    def __repr__(self) -> str:
        return f"SubjectCipher(current={self._key_version}, versions={list(self.versions)})"
