"""Canonical JSON (RFC 8785) and the hashes built on it.

Everything whylens hashes or signs goes through :func:`canonical_json`, never ``json.dumps``:
two processes (or a compliance officer's verifier) must produce the same bytes for the same value.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

__all__ = ["canonical_json", "loads", "sha256_hex", "sha256_of"]


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` as RFC 8785 canonical JSON bytes."""
    return rfc8785.dumps(value)


def loads(data: bytes | str) -> Any:
    """Parse JSON produced by :func:`canonical_json`."""
    return json.loads(data)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_of(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
