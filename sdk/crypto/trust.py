"""Trust material for offline verifiers: the signer's public key the verifier pinned.

A signature proves only that *some* key signed; an export, proof or receipt that carries its own
public key proves nothing about who signed it (an attacker re-signs with theirs). So every
verifier (:func:`sdk.audit.verify_export`, :func:`sdk.audit.verify_proof`,
:func:`sdk.consent.verify_receipt`, :func:`sdk.subjects.verify_erasure_receipt`) reports ok only
against a key given to it through another channel, in any of these forms:

* the raw 32 bytes of the Ed25519 public key;
* its base64 text (what ``whylens keys public`` prints);
* a trust file: the output of ``whylens keys public --db shop.db > whylens.pub`` (one base64
  key on a line; blank lines and ``#`` comments are allowed);
* a :class:`TrustedKey` loaded once with :func:`load_key`.

Checkpoint-based trust (a signed note the verifier holds, e.g. from a witness) is handled by the
verifiers that have checkpoints; :func:`load_note` reads one.

This module sits in the crypto layer, which imports nothing above it, so every layer can use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigurationError

__all__ = [
    "PIN_HINT",
    "TrustMaterial",
    "TrustedKey",
    "load_key",
    "load_note",
    "unpinned",
]

PIN_HINT = (
    "pin the signer's key: run `whylens keys public --db shop.db > whylens.pub` where the store "
    "is, hand whylens.pub over by another channel, then verify with `--trust whylens.pub` "
    "(Python: trust=Path('whylens.pub'))"
)
"""How to pin a key; every unpinned report ends with it."""

_KEY_LEN = 32
_MAX_FILE = 64 * 1024  # a trust file is a line or two; refuse to slurp anything big


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """An Ed25519 public key the verifier trusts, and where it came from (for messages)."""

    raw: bytes
    source: str = "the given key"

    @property
    def b64(self) -> str:
        """The key as base64 text (what ``whylens keys public`` prints)."""
        return base64.b64encode(self.raw).decode()

    @property
    def fingerprint(self) -> str:
        """SHA-256 hex of the raw key (the keyring's ``fingerprint``)."""
        return hashlib.sha256(self.raw).hexdigest()


TrustMaterial = bytes | str | os.PathLike[str] | TrustedKey
"""What a verifier accepts as a pinned key: raw bytes, base64 text, a trust file path, or a
:class:`TrustedKey`."""


def _b64_key(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _KEY_LEN else None


def _read_small(path: Path, what: str) -> bytes:
    """The bytes of a small regular file; a pipe, a device or a big file is refused (reading a
    named pipe would block for ever, ``/dev/zero`` would never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot be read ({type(exc).__name__})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigurationError(f"{what}: not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot be read ({type(exc).__name__})") from None
    finally:
        os.close(fd)
    if len(data) > _MAX_FILE:
        raise ConfigurationError(f"{what}: too large")
    return data


def _read_file(path: Path) -> TrustedKey:
    name = path.name
    try:
        data = _read_small(path, f"trust file {name}")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc}; {PIN_HINT}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"trust file {name}: not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        raw = _b64_key(line)
        if raw is None:
            raise ConfigurationError(
                f"trust file {name} line {number}: not a base64 Ed25519 public key"
            )
        return TrustedKey(raw, f"trust file {name}")
    raise ConfigurationError(f"trust file {name}: holds no key; {PIN_HINT}")


def load_key(material: TrustMaterial) -> TrustedKey:
    """The pinned key in ``material``; :class:`ConfigurationError` naming what is wrong.

    A ``str`` is base64 key text if it decodes to 32 bytes, else the path of a trust file.
    """
    if isinstance(material, TrustedKey):
        return material
    if isinstance(material, bytes | bytearray):
        if len(material) != _KEY_LEN:
            raise ConfigurationError(
                f"a raw Ed25519 public key is {_KEY_LEN} bytes, not {len(material)}"
            )
        return TrustedKey(bytes(material), "the given key")
    if isinstance(material, str):
        raw = _b64_key(material)
        if raw is not None:
            return TrustedKey(raw, "the given key")
        if "\n" in material or len(material) > 4096 or not Path(material).is_file():
            raise ConfigurationError(
                "the trusted key is neither base64 of a 32-byte Ed25519 key nor a trust file"
            )
        return _read_file(Path(material))
    if isinstance(material, os.PathLike):
        return _read_file(Path(material))
    raise ConfigurationError(
        "a trusted key is raw bytes, base64 text, a trust file path or a TrustedKey"
    )


def load_note(material: str | os.PathLike[str]) -> str:
    """A signed checkpoint note: the text itself (it holds newlines), or a file holding it."""
    if isinstance(material, str) and "\n" in material:
        return material
    if not isinstance(material, str | os.PathLike):
        raise ConfigurationError("a trusted checkpoint is its note text or a file holding it")
    path = Path(material)
    data = _read_small(path, f"checkpoint file {path.name}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"checkpoint file {path.name}: not UTF-8 text") from None


def unpinned(what: str) -> str:
    """The problem text of a report whose checks passed against an unpinned key."""
    return (
        f"not pinned: {what} is consistent with the key it carries, but nothing says that key "
        f"is the signer's; {PIN_HINT}"
    )
