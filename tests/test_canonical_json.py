"""The fast path of canonical_json writes exactly the bytes of the RFC 8785 reference."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from sdk._canonical import canonical_json

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()  # every code point, controls and non-BMP included
)
_keys = st.text(max_size=8) | st.sampled_from(["a", "B", "_", "é", "\U0001f600", "\ue000", "\x7f"])
_values = st.recursive(
    _scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(_values)
def test_the_same_bytes_as_the_reference(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, None, "x\"\\\n\x01\x1f\u2028"]},
        {"\ue000": 1, "\U0001f600": 2},  # code-point order and UTF-16 order differ here
        [2**53 - 1, -(2**53) + 1],
        ("tuple", 1),
    ],
)
def test_edge_cases_match(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def _floats_of_every_exponent(n: int) -> list[float]:
    """Random doubles from uniformly random bit patterns (every exponent equally often), and
    the edges of the forms JCS and repr write: 1e-6, 1e-4, 1e16, 1e21, 2**53, and their
    neighbours."""
    rng = random.Random(20261202)
    out: list[float] = []
    while len(out) < n:
        x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(x):
            out.append(x)
    for edge in (1e-7, 1e-6, 1e-5, 1e-4, 1e15, 1e16, 1e20, 1e21, 2.0**53, 0.0, 1.0, 5e-324):
        for x in (edge, math.nextafter(edge, 0), math.nextafter(edge, math.inf)):
            out += [x, -x, x * 3, x / 3]
    out += [-0.0, 0.1, 0.5, 123.456, 9007199254740991.0, 9007199254740993.0]
    return out


def test_floats_of_every_magnitude_are_written_as_the_reference_writes_them() -> None:
    floats = _floats_of_every_exponent(200_000)
    for x in floats:
        assert canonical_json(x) == rfc8785.dumps(x), repr(x)
    # inside containers too, where integral floats are written as ints in a copy
    record = {"base_value": 1.0581147403978866, "zero": 0.0, "neg": -0.0, "n": [1.0, 2.5, 1e-5]}
    assert canonical_json(record) == rfc8785.dumps(record)
    assert record == {"base_value": 1.0581147403978866, "zero": 0.0, "neg": -0.0,
                      "n": [1.0, 2.5, 1e-5]}  # the caller's value is not changed
    assert type(record["zero"]) is float


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), [1.0, float("nan")]])
def test_floats_the_reference_refuses_are_refused(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)


@pytest.mark.parametrize("value", [2**53, "\ud800", {1: "x"}, float("nan")])
def test_what_the_reference_refuses_is_refused(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)


def test_a_value_changed_by_another_thread_after_its_check_is_never_written() -> None:
    # the attack: the GIL switches to another thread after data["a"] was checked, while "b" is
    # walked, and that thread puts NaN in "a". The encoder writes the copy made while checking.
    import json
    import sys

    from sdk import _canonical
    from sdk.ledger.entry import prepare

    inner = [0, 1, 2]
    data: dict[str, Any] = {"a": 1, "b": inner}
    code = _canonical._checked_copy.__code__

    def switch(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code and frame.f_locals.get("value") is inner:
            data["a"] = float("nan")

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} was written: not JSON")

    sys.settrace(switch)
    try:
        item = prepare("s", "k", data, None)
    finally:
        sys.settrace(None)
    assert json.loads(item.data_bytes, parse_constant=refuse) == {"a": 1, "b": [0, 1, 2]}


@pytest.mark.parametrize("leaf", [2.0, 1, "x"])
def test_deep_values_the_reference_writes_are_written(leaf: Any) -> None:
    value: Any = leaf
    for _ in range(600):
        value = [value]
    assert canonical_json(value) == rfc8785.dumps(value)
