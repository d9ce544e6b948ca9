"""Purpose-bound keys derived from the keyring's MAC key (HKDF-SHA256), one per use.

Deriving rather than reusing the MAC key keeps a link's signature, a session cookie and an
anti-forgery token from ever being valid as one another.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["derive_key"]


def derive_key(mac_key: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` (e.g. ``"why-links/v1"``) from the keyring's MAC key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"whylens/{purpose}".encode()
    ).derive(mac_key)
