"""Blind indexes: keyed, truncated HMAC-SHA256 tokens for equality look-ups on encrypted fields.

::

    index_key = HMAC-SHA256(mac_key, b"whylens.blind-index.v1\\x00" || utf8(tenant) || b"\\x00"
                                     || utf8(index name))
    token     = HMAC-SHA256(index_key, utf8(normalize(value)))[: bits / 8]

Each index has its own key, so tokens of one index cannot be matched against another's. The value
is normalized first (so ``" Alice@Example.org"`` and ``"alice@example.org"`` collide on purpose)
and the token is truncated (default 64 bits): with many more possible values than tokens, a token
alone does not pin down a value, and look-ups confirm candidates by decrypting them. Tokens are
still a deterministic function of the value: use them only where equality look-ups are needed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable

from ..errors import ConfigurationError, CryptoError

__all__ = ["NORMALIZERS", "BlindIndex", "normalize"]

_DOMAIN = b"whylens.blind-index.v1\x00"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")


def _text(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _casefold(value: str) -> str:
    return " ".join(_text(value).casefold().split())


def _email(value: str) -> str:
    return _text(value).casefold()


def _phone(value: str) -> str:
    text = _text(value)
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("00"):  # 0049... and +49... are the same number
        return "+" + digits[2:]
    return ("+" if text.startswith("+") else "") + digits


def _alnum(value: str) -> str:
    return "".join(c for c in _text(value).casefold() if c.isalnum())


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "exact": lambda value: value,
    "text": _text,
    "casefold": _casefold,
    "email": _email,
    "phone": _phone,
    "alnum": _alnum,
}
"""Named normalizers: ``exact`` (as given), ``text`` (Unicode NFKC, trimmed), ``casefold``
(also case-folded and inner whitespace collapsed), ``email`` (NFKC, trimmed, case-folded),
``phone`` (digits only, a leading ``+`` or ``00`` kept as ``+``), ``alnum`` (letters and digits
only, case-folded; for postcodes and ids)."""


def normalize(normalizer: str, value: str) -> str:
    """Apply the named normalizer to ``value``."""
    try:
        fn = NORMALIZERS[normalizer]
    except KeyError:
        raise ConfigurationError(
            f"unknown blind-index normalizer {normalizer!r}; use one of {sorted(NORMALIZERS)}"
        ) from None
    return fn(value)


class BlindIndex:
    """One named blind index: ``token(value)`` is what gets stored and looked up."""

    __slots__ = ("_key", "bits", "name", "normalizer", "tenant")

    def __init__(
        self,
        mac_key: bytes,
        name: str,
        *,
        normalizer: str = "text",
        bits: int = 64,
        tenant: str = "default",
    ) -> None:
        """An index called ``name`` (a field path) keyed from ``mac_key`` (the keyring's).

        ``bits`` (32 to 256, a multiple of 8) is the token length: shorter leaks less about equal
        values across a large table but returns more false candidates to confirm.
        """
        if not isinstance(mac_key, bytes) or len(mac_key) < 16:
            raise CryptoError("the blind-index key must be at least 16 bytes")
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise ConfigurationError(
                "a blind-index name must be a field name: a letter or underscore, then up to 63 "
                "letters, digits, underscores or dots"
            )
        if not isinstance(bits, int) or isinstance(bits, bool) or bits % 8 or not 32 <= bits <= 256:
            raise ConfigurationError(f"bits must be a multiple of 8 from 32 to 256, got {bits!r}")
        normalize(normalizer, "")  # unknown names fail here, not at the first write
        self.name = name
        self.normalizer = normalizer
        self.bits = bits
        self.tenant = tenant
        self._key = hmac.new(
            mac_key, _DOMAIN + tenant.encode() + b"\x00" + name.encode(), hashlib.sha256
        ).digest()

    def token(self, value: str) -> bytes:
        """The truncated HMAC of the normalized ``value``."""
        if not isinstance(value, str):
            raise ConfigurationError(
                f"blind index {self.name!r} indexes strings, got a {type(value).__name__}"
            )
        text = NORMALIZERS[self.normalizer](value)
        digest = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
        return digest[: self.bits // 8]

    def matches(self, stored: str, value: str) -> bool:
        """True if two values are equal after normalization (confirms a token hit)."""
        fn = NORMALIZERS[self.normalizer]
        return hmac.compare_digest(fn(stored).encode(), fn(value).encode())

    def __repr__(self) -> str:
        return f"BlindIndex({self.name!r}, normalizer={self.normalizer!r}, bits={self.bits})"
