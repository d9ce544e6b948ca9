"""Canonical JSON (RFC 8785) and the hashes built on it.

Everything whylens hashes or signs goes through :func:`canonical_json`, never ``json.dumps``:
two processes (or a compliance officer's verifier) must produce the same bytes for the same value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

__all__ = ["canonical_json", "fast_canonical_json", "loads", "sha256_hex", "sha256_of"]


_INT_MAX = 2**53 - 1
# allow_nan=False: a NaN that got past a check raises rather than being written as JSON's NaN
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` as RFC 8785 canonical JSON bytes."""
    # The pure-Python JCS encoder was the largest single cost of a signed consent receipt
    # (0.45 ms) and of a decision's record (0.17 ms). The C JSON encoder writes the very same
    # bytes for strings, ints, bools and null (the same escapes; code-point order = UTF-16
    # order on ASCII keys), and for the floats whose repr is already JCS's form (see _checked_copy);
    # integral floats are written as the ints they equal, as JCS does. Anything else still goes
    # through rfc8785, the reference.
    fast = fast_canonical_json(value)
    return fast if fast is not None else rfc8785.dumps(value)


def fast_canonical_json(value: Any, *, max_depth: int = 200) -> bytes | None:
    """The RFC 8785 bytes of ``value`` if the C encoder can write them (see
    :func:`canonical_json`) and it nests at most ``max_depth`` containers deep, else None.

    For callers with a slower path of their own that validates and names what is wrong."""
    try:
        # the encoder writes a copy made while checking, never the caller's object: a value
        # another thread changes after its check (to NaN, say) is never written unchecked
        plain = _checked_copy(value, max_depth)
        return _ENCODE(plain).encode("utf-8")
    except _Declined:
        return None
    except UnicodeEncodeError:
        return None  # a lone surrogate
    except ValueError:  # pragma: no cover - a non-finite float, which the copy never holds
        return None
    except RecursionError:
        return None  # deeper than this interpreter's stack: rfc8785 may still write it


class _Declined(Exception):
    """The C encoder would not write this value as JCS does."""


_DECLINED = _Declined()


def _checked_copy(value: Any, depth: int) -> Any:
    """A copy of ``value`` that the C encoder writes exactly as JCS does, with integral floats
    as the ints they equal; :class:`_Declined` if there is none within ``depth`` levels."""
    if depth < 0:
        raise _DECLINED
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_MAX <= value <= _INT_MAX:
            return value
        raise _DECLINED
    if kind is float:
        # repr writes the shortest round-tripping digits, as ECMAScript's Number::toString
        # does, and the same plain decimal form for 1e-4 <= |x| < 1e16; the two differ in the
        # exponent form (1e-05 against 1e-5), in ES's plain form down to 1e-6 and up to 1e21,
        # and in "1.0" / "-0.0" against "1" / "0"
        m = -value if value < 0 else value
        if 1e-4 <= m < 1e16 and not value.is_integer():
            return value
        if m < _INT_MAX and value.is_integer():  # 0.0 and -0.0 too; False for nan and inf
            return int(value)
        raise _DECLINED
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                raise _DECLINED
            out[k] = _checked_copy(v, depth - 1)
        return out
    if kind is list or kind is tuple:
        return [_checked_copy(v, depth - 1) for v in value]
    raise _DECLINED


def loads(data: bytes | str) -> Any:
    """Parse JSON produced by :func:`canonical_json`."""
    return json.loads(data)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_of(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
