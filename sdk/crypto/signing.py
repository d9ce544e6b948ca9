"""The signing key apart from the data keys: what signs checkpoints, exports and receipts.

By default the keyring's own Ed25519 key signs (backwards compatible). That means whoever holds
the keyring can re-sign a rewritten history. Keeping the signing key apart -- in its own ``0600``
file on another machine or volume (:class:`FileSigner`), or behind a KMS / HSM that signs without
ever handing out the key (any object with the :class:`Signer` methods) -- means the keyring alone
can read data but cannot forge a checkpoint: ``Personalizer.open(..., signing_key=...)``.

The signing key file::

    {"format": "whylens-signing-key", "version": 1, "seed": "<base64, 32-byte Ed25519 seed>"}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import NoReturn, Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import KeyringError, KeyringMissing, KeyringPermissionError
from ._files import write_new_file

__all__ = ["SIGNING_KEY_FORMAT", "FileSigner", "Signer"]

SIGNING_KEY_FORMAT = "whylens-signing-key"


@runtime_checkable
class Signer(Protocol):
    """What signs checkpoints, export manifests and receipts (Ed25519). The keyring is one; a
    KMS adapter is another (its ``sign`` calls the KMS; the private key never leaves it)."""

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        ...

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        ...

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the public key."""
        ...


class FileSigner:
    """An Ed25519 signing key in a file of its own, ``0600`` (see the module docstring)."""

    __slots__ = ("_key", "_path", "_public")

    def __init__(self, path: Path, seed: bytes) -> None:
        """Use :meth:`create` or :meth:`load`."""
        self._path = path
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> FileSigner:
        """A new random key written to ``path`` (``0600`` from the first byte, fsynced, never
        replacing an existing file: :class:`KeyringError` if it exists)."""
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise KeyringError(f"signing key file {str(path)!r} already exists; not replacing it")
        seed = secrets.token_bytes(32)
        doc = {"format": SIGNING_KEY_FORMAT, "version": 1, "seed": base64.b64encode(seed).decode()}
        write_new_file(path, json.dumps(doc, indent=2).encode() + b"\n")
        return cls(path, seed)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FileSigner:
        """Load the key at ``path``: :class:`KeyringMissing` if absent,
        :class:`KeyringPermissionError` if group or others may read it, :class:`KeyringError`
        if it is not a whylens signing key."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise KeyringMissing(f"signing key file {str(path)!r} not found") from None
        except OSError as exc:
            raise KeyringError(f"cannot open signing key file {str(path)!r}: {exc}") from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                _bad(path, "it is not a regular file")
            if os.name == "posix" and st.st_mode & 0o077:
                raise KeyringPermissionError(
                    f"signing key file {str(path)!r} has mode {stat.S_IMODE(st.st_mode):04o}; "
                    f"restrict it to its owner with: chmod 600 {str(path)!r}"
                )
            raw = f.read(4097)
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("format") != SIGNING_KEY_FORMAT:
                raise ValueError
            if doc.get("version") != 1:
                raise ValueError
            seed = base64.b64decode(doc["seed"], validate=True)
            if len(seed) != 32:
                raise ValueError
        except (ValueError, KeyError, TypeError, binascii.Error):
            _bad(path, "it is not a whylens signing key")
        return cls(path, seed)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> FileSigner:
        """:meth:`load` the key, or :meth:`create` it if there is no file yet."""
        return cls.load(path) if Path(path).exists() else cls.create(path)

    @property
    def path(self) -> Path:
        """The key file."""
        return self._path

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the public key."""
        return hashlib.sha256(self._public).hexdigest()

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of ``data``."""
        return self._key.sign(data)

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public

    def __repr__(self) -> str:
        return f"FileSigner({str(self._path)!r}, fingerprint={self.fingerprint[:16]}...)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a signing key cannot be pickled")


def _bad(path: Path, why: str) -> NoReturn:
    raise KeyringError(f"signing key file {str(path)!r} is unusable: {why}")
