"""Cryptography for whylens: key providers, envelope encryption, field encryption, blind indexes.

A small, safe layer over explicit primitives (AES-256-GCM, AES-256-SIV, HMAC-SHA256, Ed25519 from
``cryptography``), usable on its own:

* :class:`Keyring` — the local key file beside an embedded database (``Keyring.create`` /
  ``Keyring.load``);
* :class:`KeyProvider` — where key-encryption keys live: :class:`KeyringProvider` (default),
  :class:`SecretKeyProvider` (environment / secret file), ``sdk.crypto.kms.AwsKmsProvider``
  (``pip install 'whylens[kms]'``);
* :func:`wrap_key` / :func:`unwrap_key` — per-subject data keys wrapped under a KEK, bound to a
  context (:func:`key_context`);
* :class:`FieldCipher` with :func:`field_aad` — one authenticated ciphertext per field, bound to its
  tenant, subject, field path and schema version; :class:`SubjectCipher` reads every data-key
  version of a subject; :class:`DeterministicCipher` (AES-SIV) for joinable fields;
* :class:`BlindIndex` — truncated keyed hashes for equality look-ups;
* :func:`pseudonym` — keyed, stable pseudonyms for subject ids.

Every failure is a :class:`sdk.errors.CryptoError` or :class:`sdk.errors.KeyringError`; the
``cryptography`` exceptions never reach callers. The byte formats are in ``docs/crypto-format.md``.
"""

from __future__ import annotations

from .blind import BlindIndex
from .envelope import key_context, unwrap_key, wrap_key
from .field import FieldCipher, field_aad, pseudonym
from .keyring import Keyring
from .keyset import DeterministicCipher, SubjectCipher
from .providers import KeyProvider, KeyringProvider, SecretKeyProvider

__all__ = [
    "BlindIndex",
    "DeterministicCipher",
    "FieldCipher",
    "KeyProvider",
    "Keyring",
    "KeyringProvider",
    "SecretKeyProvider",
    "SubjectCipher",
    "field_aad",
    "key_context",
    "pseudonym",
    "unwrap_key",
    "wrap_key",
]
