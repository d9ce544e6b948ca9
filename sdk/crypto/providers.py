"""Key providers: where the key-encryption keys (KEKs) that wrap subjects' data keys live.

A :class:`KeyProvider` wraps and unwraps 32-byte data keys under numbered KEK versions, each wrap
bound to a context (:func:`sdk.crypto.envelope.key_context`). whylens ships three:

* :class:`KeyringProvider` — the local keyring file beside the database (the embedded default);
* :class:`SecretKeyProvider` — KEKs from an environment variable or a secret file (containers,
  Kubernetes secrets, systemd credentials);
* :class:`sdk.crypto.kms.AwsKmsProvider` — AWS KMS, in the optional ``kms`` extra.

The keyring keeps the other secrets (pseudonym, blind-index and signing keys) in every case.
Wrapped keys start with a format byte: ``0x01`` local AES-256-GCM wrap (61 bytes), ``0x02`` a KMS
ciphertext blob.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from ..errors import (
    ConfigurationError,
    KeyProviderError,
    KeyRetired,
    KeyringError,
    UnknownCiphertextVersion,
)
from .envelope import WRAP_FORMAT_VERSION, unwrap_key, wrap_key
from .keyring import Keyring

__all__ = ["KeyProvider", "KeyringProvider", "SecretKeyProvider"]

_KEY_SIZE = 32


def _check_local_format(wrapped: bytes) -> None:
    if wrapped and wrapped[0] == WRAP_FORMAT_VERSION:
        return
    what = "a KMS ciphertext (format 2)" if wrapped and wrapped[0] == 2 else "not a local wrap"
    raise UnknownCiphertextVersion(
        f"this data key was wrapped by another key provider ({what}); open the database with "
        "the key provider it was created with"
    )


class KeyProvider(ABC):
    """Wraps and unwraps data keys under versioned key-encryption keys."""

    name: str = "provider"

    @property
    @abstractmethod
    def current_version(self) -> int:
        """The KEK version used for new wraps."""

    @property
    @abstractmethod
    def versions(self) -> tuple[int, ...]:
        """Every KEK version this provider can unwrap with, ascending."""

    @property
    def min_version(self) -> int:
        """KEK versions below this are retired: unwrapping raises :class:`KeyRetired`."""
        return 1

    @abstractmethod
    def wrap(self, dek: bytes, *, version: int, context: bytes) -> bytes:
        """Wrap the 32-byte ``dek`` under KEK ``version``, bound to ``context``."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, *, version: int, context: bytes) -> bytes:
        """Recover a data key wrapped by :meth:`wrap` with the same version and context.

        Raises :class:`KeyRetired` for a version below :attr:`min_version`,
        :class:`sdk.errors.DecryptionError` when the wrapped key does not authenticate and
        :class:`KeyProviderError` when the provider itself fails.
        """

    def created_at(self, version: int) -> datetime | None:
        """When KEK ``version`` was made, if the provider knows (the rotation schedule needs it)."""
        return None

    def destroy(self, versions: Iterable[int], *, now: datetime | None = None) -> None:
        """Destroy the material of KEK ``versions`` for good (not every provider can)."""
        raise ConfigurationError(
            f"the {self.name} key provider cannot destroy KEK versions itself; remove them where "
            "its keys are kept (drop them from the secret; schedule the KMS key's deletion)"
        )

    def rotate(self, *, now: datetime | None = None) -> int:
        """Make a new KEK version current and return it (not every provider can)."""
        raise ConfigurationError(
            f"the {self.name} key provider cannot make new KEK versions itself; add the new "
            "version where its keys are kept, then reopen"
        )

    def _check_version(self, version: int) -> None:
        if version < self.min_version:
            raise KeyRetired(
                f"the data key is wrapped under KEK version {version}, below the minimum "
                f"{self.min_version}: that KEK was retired. Run `whylens keys rewrap` before "
                "retiring a version"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(current={self.current_version}, versions={self.versions})"


class KeyringProvider(KeyProvider):
    """KEKs from the local keyring file (the default): AES-256-GCM wraps, no network."""

    name = "keyring"

    def __init__(self, keyring: Keyring) -> None:
        """Use ``keyring``'s KEKs; :meth:`rotate` adds a version to its file."""
        self.keyring = keyring

    @property
    def current_version(self) -> int:
        # new wraps follow a rotation made by another process (see Keyring.refresh)
        self.keyring.refresh()
        return self.keyring.current_kek_version

    @property
    def versions(self) -> tuple[int, ...]:
        return self.keyring.kek_versions

    @property
    def min_version(self) -> int:
        return self.keyring.min_kek_version

    def wrap(self, dek: bytes, *, version: int, context: bytes) -> bytes:
        return wrap_key(self.keyring.kek(version), dek, context=context)

    def unwrap(self, wrapped: bytes, *, version: int, context: bytes) -> bytes:
        _check_local_format(wrapped)
        if version not in self.keyring.kek_versions:
            # another process may have rotated the keyring since we loaded it
            self.keyring.reload()
        if version in self.keyring.destroyed_kek_versions:
            self.keyring.kek(version)  # raises KeyDestroyed, which says when and why
        self._check_version(version)
        return unwrap_key(self.keyring.kek(version), wrapped, context=context)

    def rotate(self, *, now: datetime | None = None) -> int:
        return self.keyring.rotate_kek(now=now)

    def created_at(self, version: int) -> datetime | None:
        return self.keyring.kek_created_at(version)

    def destroy(self, versions: Iterable[int], *, now: datetime | None = None) -> None:
        """Delete KEK ``versions`` from the keyring file (see :meth:`Keyring.destroy_keks`)."""
        self.keyring.destroy_keks(versions, now=now)

    def retire(self, below: int) -> None:
        """Retire KEK versions below ``below`` (see :meth:`Keyring.retire_keks`)."""
        self.keyring.retire_keks(below)


class SecretKeyProvider(KeyProvider):
    """KEKs handed to the process as a secret: ``"1:<base64>,2:<base64>"`` or one base64 key.

    The highest version is current. Build it with :meth:`from_env` or :meth:`from_file`; the
    secret text is never shown in errors or ``repr``.
    """

    name = "secret"

    def __init__(self, keks: Mapping[int, bytes], *, min_version: int = 1) -> None:
        """KEKs by version (each 32 bytes); versions below ``min_version`` are retired."""
        if not keks:
            raise ConfigurationError("a secret key provider needs at least one KEK")
        for version, key in keks.items():
            if not isinstance(version, int) or version < 1:
                raise ConfigurationError("KEK versions must be positive integers")
            if not isinstance(key, bytes) or len(key) != _KEY_SIZE:
                raise ConfigurationError(f"KEK version {version} must be {_KEY_SIZE} bytes")
        self._keks = dict(keks)
        self._min = min_version

    @classmethod
    def parse(cls, text: str, *, min_version: int = 1) -> SecretKeyProvider:
        """Parse the secret's text (see the class docstring)."""
        keks: dict[int, bytes] = {}
        for part in text.strip().split(","):
            version_text, sep, key_text = part.strip().rpartition(":")
            if not sep:
                version_text, key_text = "1", part.strip()
            if not version_text.isdigit():
                raise ConfigurationError(
                    "a KEK secret is '<version>:<base64 key>' items separated by commas"
                )
            try:
                key = base64.b64decode(key_text, validate=True)
            except (binascii.Error, ValueError):
                raise ConfigurationError(
                    f"KEK version {int(version_text)} in the secret is not valid base64"
                ) from None
            keks[int(version_text)] = key
        return cls(keks, min_version=min_version)

    @classmethod
    def from_env(cls, variable: str = "WHYLENS_KEKS", *, min_version: int = 1) -> SecretKeyProvider:
        """KEKs from the environment variable ``variable``."""
        text = os.environ.get(variable)
        if not text:
            raise KeyProviderError(
                f"environment variable {variable} is not set; it should hold the KEKs as "
                "'1:<base64 of 32 bytes>' (add ',2:<base64>' after a rotation)"
            )
        return cls.parse(text, min_version=min_version)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, min_version: int = 1) -> SecretKeyProvider:
        """KEKs from a secret file, which must not be readable by group or others."""
        path = Path(path)
        try:
            st = path.stat()
            text = path.read_text("ascii")
        except FileNotFoundError:
            raise KeyProviderError(f"KEK secret file {str(path)!r} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyProviderError(f"cannot read KEK secret file {str(path)!r}") from exc
        if os.name == "posix" and st.st_mode & 0o077:
            raise KeyringError(
                f"KEK secret file {str(path)!r} has mode {stat.S_IMODE(st.st_mode):04o}, which "
                f"lets other users read it. Restrict it with: chmod 600 {str(path)!r}"
            )
        return cls.parse(text, min_version=min_version)

    @property
    def current_version(self) -> int:
        return max(self._keks)

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keks))

    @property
    def min_version(self) -> int:
        return self._min

    def _kek(self, version: int) -> bytes:
        try:
            return self._keks[version]
        except KeyError:
            raise KeyProviderError(
                f"the KEK secret has no version {version} (it has {list(self.versions)}); the "
                "data key was wrapped under a KEK this secret does not contain"
            ) from None

    def wrap(self, dek: bytes, *, version: int, context: bytes) -> bytes:
        return wrap_key(self._kek(version), dek, context=context)

    def unwrap(self, wrapped: bytes, *, version: int, context: bytes) -> bytes:
        _check_local_format(wrapped)
        self._check_version(version)
        return unwrap_key(self._kek(version), wrapped, context=context)
