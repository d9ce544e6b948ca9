"""The fast path of canonical_json writes exactly the bytes of the RFC 8785 reference."""

from __future__ import annotations

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


@pytest.mark.parametrize("value", [2**53, "\ud800", {1: "x"}, float("nan")])
def test_what_the_reference_refuses_is_refused(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)
