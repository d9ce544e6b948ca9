"""AWS KMS key provider (optional extra: ``pip install 'whylens[kms]'``).

Data keys are wrapped by KMS ``Encrypt`` under a customer managed key and unwrapped by
``Decrypt``; the KEK never leaves KMS. Each wrap carries the encryption context
``{"whylens-key-context": hex(SHA-256(context))}``, so KMS itself refuses a wrapped key moved to
another subject, data-key version or KEK version (and CloudTrail logs the digest, not the
pseudonym). Stored form: ``0x02 || CiphertextBlob``.

KEK versions map to KMS key ids (``{1: "alias/whylens-2026", 2: "alias/whylens-2027"}``); KMS's
own automatic rotation of a key's material needs no action from whylens at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError, DecryptionError, KeyProviderError, UnknownCiphertextVersion
from .providers import KeyProvider

__all__ = ["KMS_WRAP_FORMAT", "AwsKmsProvider"]

KMS_WRAP_FORMAT = 0x02
_INSTALL_HINT = "pip install 'whylens[kms]'"
_DATA_KEY_SIZE = 32


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise KeyProviderError(
            f"the AWS KMS key provider needs boto3, which is not installed: {_INSTALL_HINT}"
        ) from exc
    return boto3


class AwsKmsProvider(KeyProvider):
    """KEKs held in AWS KMS."""

    name = "aws-kms"

    def __init__(
        self,
        key_ids: str | Mapping[int, str],
        *,
        client: Any = None,
        region_name: str | None = None,
        min_version: int = 1,
    ) -> None:
        """Use KMS key ``key_ids`` (one id/ARN/alias = version 1, or version -> id).

        ``client`` is a boto3 KMS client; without one, a client is made with boto3's usual
        credential chain (and ``region_name``, if given).
        """
        ids = {1: key_ids} if isinstance(key_ids, str) else dict(key_ids)
        if not ids or not all(isinstance(v, int) and v >= 1 for v in ids):
            raise ConfigurationError("KMS key versions must be positive integers")
        if not all(isinstance(k, str) and k for k in ids.values()):
            raise ConfigurationError("KMS key ids must be non-empty strings (id, ARN or alias)")
        if client is None:
            client = _boto3().client("kms", region_name=region_name)
        self._ids = ids
        self._client = client
        self._min = min_version

    @property
    def current_version(self) -> int:
        return max(self._ids)

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._ids))

    @property
    def min_version(self) -> int:
        return self._min

    def _key_id(self, version: int) -> str:
        try:
            return self._ids[version]
        except KeyError:
            raise KeyProviderError(
                f"no KMS key is configured for KEK version {version} (configured: "
                f"{list(self.versions)})"
            ) from None

    @staticmethod
    def _context(context: bytes) -> dict[str, str]:
        return {"whylens-key-context": hashlib.sha256(context).hexdigest()}

    def wrap(self, dek: bytes, *, version: int, context: bytes) -> bytes:
        if len(dek) != _DATA_KEY_SIZE:
            raise ConfigurationError(f"a data key must be {_DATA_KEY_SIZE} bytes")
        try:
            answer = self._client.encrypt(
                KeyId=self._key_id(version),
                Plaintext=bytes(dek),
                EncryptionContext=self._context(context),
            )
        except Exception as exc:
            raise self._error(exc, "wrap") from exc
        return bytes([KMS_WRAP_FORMAT]) + bytes(answer["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, *, version: int, context: bytes) -> bytes:
        self._check_version(version)
        if not wrapped or wrapped[0] != KMS_WRAP_FORMAT:
            raise UnknownCiphertextVersion(
                "this wrapped key was not made by KMS (format byte "
                f"{wrapped[0] if wrapped else 'missing'}); open the database with the key "
                "provider it was created with"
            )
        try:
            answer = self._client.decrypt(
                CiphertextBlob=bytes(wrapped[1:]),
                KeyId=self._key_id(version),
                EncryptionContext=self._context(context),
            )
        except Exception as exc:
            raise self._error(exc, "unwrap") from exc
        plaintext = bytes(answer["Plaintext"])
        if len(plaintext) != _DATA_KEY_SIZE:
            raise DecryptionError("KMS returned a key of the wrong size")
        return plaintext

    @staticmethod
    def _error(exc: Exception, what: str) -> Exception:
        if isinstance(exc, KeyProviderError):
            return exc
        code = ""
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
        if code in ("InvalidCiphertextException", "IncorrectKeyException"):
            return DecryptionError(
                "KMS refused to unwrap the data key: it was altered, moved to another subject, "
                "or wrapped under another KMS key"
            )
        return KeyProviderError(
            f"AWS KMS could not {what} a data key ({code or type(exc).__name__}); check the key "
            "id, its key policy, the region and the credentials"
        )

    def __repr__(self) -> str:
        return f"AwsKmsProvider(versions={list(self.versions)})"
