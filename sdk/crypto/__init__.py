"""Cryptography for whylens: the keyring, envelope encryption and field encryption.

A small, safe layer over explicit primitives (AES-256-GCM, HMAC-SHA256, Ed25519 from
``cryptography``), usable on its own:

* :class:`Keyring` — the local key file beside an embedded database (``Keyring.create`` /
  ``Keyring.load``);
* :func:`wrap_key` / :func:`unwrap_key` — per-subject data keys wrapped under a KEK, bound to a
  context (:func:`key_context`);
* :class:`FieldCipher` with :func:`field_aad` — one authenticated ciphertext per field, bound to its
  tenant, subject, field path and schema version;
* :func:`pseudonym` — keyed, stable pseudonyms for subject ids.

Every failure is a :class:`sdk.errors.CryptoError` or :class:`sdk.errors.KeyringError`; the
``cryptography`` exceptions never reach callers. The byte formats are in ``docs/crypto-format.md``.
"""

from __future__ import annotations

from .envelope import key_context, unwrap_key, wrap_key
from .field import FieldCipher, field_aad, pseudonym
from .keyring import Keyring

__all__ = [
    "FieldCipher",
    "Keyring",
    "field_aad",
    "key_context",
    "pseudonym",
    "unwrap_key",
    "wrap_key",
]
