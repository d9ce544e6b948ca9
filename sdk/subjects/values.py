"""Checking what may be stored as a personal-data value: field names and JSON values.

Error messages name the field (never its value) and say what is wrong with the value's *type*.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .._canonical import canonical_json
from ..errors import SubjectError

__all__ = ["FIELD_NAME_PATTERN", "MAX_NESTING", "check_field_name", "encode_value"]

FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
MAX_NESTING = 32
"""How deeply lists and dicts may nest inside one field value."""


def check_field_name(name: object, what: str = "profile field") -> str:
    """``name`` if it is a valid field name; :class:`SubjectError` (not echoing it) otherwise."""
    if not isinstance(name, str):
        raise SubjectError(f"{what} names must be strings, got a {type(name).__name__}")
    if _FIELD_NAME.fullmatch(name) is None:
        # an invalid name may be data passed by mistake (a dict keyed by e-mail): never echo it
        raise SubjectError(
            f"invalid {what} name (a str of {len(name)} characters): names must match "
            f"{FIELD_NAME_PATTERN} "
            "(a letter or underscore, then up to 63 letters, digits, underscores or dots)"
        )
    return name


def encode_value(name: str, value: Any, what: str = "profile field") -> bytes:
    """Canonical JSON of ``value`` if it is a storable JSON value; :class:`SubjectError` naming
    ``name`` (never the value) otherwise."""
    problem = _json_problem(value, 0)
    if problem is not None:
        raise SubjectError(f"{what} {name!r}: value is not storable: {problem}")
    try:
        return canonical_json(value)
    except Exception as exc:  # rfc8785 domain errors (e.g. integers beyond I-JSON range)
        raise SubjectError(
            f"{what} {name!r}: value cannot be encoded as canonical JSON "
            f"({type(exc).__name__}); integers must fit in 53 bits"
        ) from None


def _json_problem(value: Any, depth: int) -> str | None:
    """Why ``value`` is not a storable JSON value (without describing the value), or None."""
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "floats must be finite (no NaN or infinity)"
    if depth >= MAX_NESTING:
        return f"lists and dicts nest more than {MAX_NESTING} levels deep"
    if isinstance(value, list):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"dict keys must be strings, found a {type(key).__name__} key"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return (
        f"a {type(value).__name__} is not a JSON value (use str, int, float, bool, None, "
        "list or dict)"
    )
