"""Application data into the model's input matrix, masking what consent does not allow."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FeatureError
from .schema import FeatureSchema

if TYPE_CHECKING:
    import pandas as pd

    from ..types import ConsentState

__all__ = ["frame_matrix", "mapping_matrix", "mask_for_consent"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def mapping_matrix(schema: FeatureSchema, features: Mapping[str, Any]) -> np.ndarray:
    """One row from a mapping of feature name to number; exactly the schema's features."""
    if not isinstance(features, Mapping):
        raise FeatureError(
            f"features must be a mapping of feature name to number, got {type(features).__name__}"
        )
    missing = [n for n in schema.names if n not in features]
    unexpected = sorted(_shown_key(k) for k in features if k not in schema._by_name)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing features: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected features: {', '.join(unexpected[:10])}")
        raise FeatureError("; ".join(parts) + f". The model expects: {', '.join(schema.names)}")
    row = np.empty((1, len(schema)), dtype=np.float64)
    for i, name in enumerate(schema.names):
        row[0, i] = _number(name, features[name])
    return row


def frame_matrix(schema: FeatureSchema, frame: pd.DataFrame) -> np.ndarray:
    """The schema's columns of ``frame`` as a float64 matrix (other columns are ignored)."""
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise FeatureError(
            f"missing feature columns: {', '.join(missing)}. "
            f"The model expects: {', '.join(schema.names)}"
        )
    out = np.empty((len(frame), len(schema)), dtype=np.float64)
    for i, name in enumerate(schema.names):
        column = frame[name]
        if column.dtype == bool or np.issubdtype(column.dtype, np.number):
            out[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            raise FeatureError(
                f"feature column {name!r} is not numeric (dtype {column.dtype}); "
                "encode it as numbers before training or scoring"
            )
    return out


def _shown_key(key: object) -> str:
    # a key that is not an identifier may be data passed by mistake: name its type, not its text
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return key
    return f"<a {type(key).__name__} key that is not a feature name>"


def _number(name: str, value: Any) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool | int | float | np.integer | np.floating):
        return float(value)
    # the value itself may be personal data: name the feature and the type only
    raise FeatureError(f"feature {name!r} must be a number or None, got {type(value).__name__}")


def mask_for_consent(
    schema: FeatureSchema, matrix: np.ndarray, state: ConsentState
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Set every feature whose purpose ``state`` does not allow to missing (NaN).

    Returns the masked copy and the names of the masked features.
    """
    masked = tuple(f.name for f in schema if not state.allows(f.purpose))
    if not masked:
        return matrix, ()
    out = matrix.copy()
    for name in masked:
        out[:, schema.index(name)] = np.nan
    return out, masked
