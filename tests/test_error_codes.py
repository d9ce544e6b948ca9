"""Every WhylensError has a stable code of its own, so an HTTP layer can map codes to statuses."""

from __future__ import annotations

import re

import sdk.errors as errors


def _all_errors() -> list[type[errors.WhylensError]]:
    found = [errors.WhylensError]
    stack = [errors.WhylensError]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith("sdk") and sub not in found:
                found.append(sub)
                stack.append(sub)
    return found


def test_every_error_declares_its_own_unique_code() -> None:
    classes = _all_errors()
    assert len(classes) >= 40
    codes = {}
    for cls in classes:
        assert "code" in vars(cls), f"{cls.__name__} inherits its code instead of declaring one"
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,63}", cls.code), cls
        assert cls.code not in codes, f"{cls.__name__} reuses {codes.get(cls.code)}'s code"
        codes[cls.code] = cls.__name__


def test_instances_expose_the_code() -> None:
    exc = errors.ConsentUnavailable("x")
    assert exc.code == "consent_unavailable"
    assert isinstance(exc, errors.WhylensError)
