"""Application data into the model's input matrix, masking what consent does not allow.

Numeric features become float64 values; categorical features become the integer code of their
category (its position in the schema's ``categories``, which is also LightGBM's code for the
pandas category the model was trained with), as float64. A category the schema does not know and
a missing value both become NaN, which LightGBM treats as missing; unknown ones are reported by
feature name so the reviewer view can say so. Infinite numbers are refused: they are never a
real measurement, and the audit trail cannot record them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FeatureError, SchemaError
from .schema import Feature, FeatureSchema

if TYPE_CHECKING:
    import pandas as pd

    from ..types import ConsentState

__all__ = [
    "Encoded",
    "encode_frame",
    "encode_mapping",
    "frame_matrix",
    "infer_categories",
    "lightgbm_frame",
    "mapping_matrix",
    "mask_for_consent",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class Encoded:
    """The model's input matrix and, per categorical feature, the rows whose value was not one
    of its categories (scored as missing)."""

    matrix: np.ndarray
    unknown_rows: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Categorical features with an unknown category in any row."""
        return tuple(n for n, rows in self.unknown_rows.items() if rows.any())

    def unknown_in(self, row: int) -> tuple[str, ...]:
        """Categorical features whose value in ``row`` was an unknown category."""
        return tuple(n for n, rows in self.unknown_rows.items() if rows[row])


def encode_mapping(schema: FeatureSchema, features: Mapping[str, Any]) -> Encoded:
    """One row from a mapping of feature name to value; exactly the schema's features.

    Numeric features take a number or ``None``; categorical ones a category code (``str``) or
    ``None``.
    """
    if not isinstance(features, Mapping):
        raise FeatureError(
            f"features must be a mapping of feature name to value, got {type(features).__name__}"
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
    unknown: dict[str, np.ndarray] = {}
    for i, feature in enumerate(schema.features):
        value = features[feature.name]
        if feature.is_categorical:
            code, is_unknown = _category_code(schema, feature, value)
            row[0, i] = code
            unknown[feature.name] = np.array([is_unknown])
        else:
            row[0, i] = _number(feature.name, value)
    return Encoded(row, unknown)


def mapping_matrix(schema: FeatureSchema, features: Mapping[str, Any]) -> np.ndarray:
    """One row from a mapping of feature name to value (see :func:`encode_mapping`)."""
    return encode_mapping(schema, features).matrix


def encode_frame(schema: FeatureSchema, frame: pd.DataFrame) -> Encoded:
    """The schema's columns of ``frame`` (other columns are ignored) as the model's matrix."""
    missing = [n for n in schema.names if n not in frame.columns]
    if missing:
        raise FeatureError(
            f"missing feature columns: {', '.join(missing)}. "
            f"The model expects: {', '.join(schema.names)}"
        )
    out = np.empty((len(frame), len(schema)), dtype=np.float64)
    unknown: dict[str, np.ndarray] = {}
    for i, feature in enumerate(schema.features):
        column = frame[feature.name]
        if feature.is_categorical:
            out[:, i], unknown[feature.name] = _category_codes(feature, column)
        elif _is_number_column(column):
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isinf(values).any():
                raise FeatureError(
                    f"feature column {feature.name!r} has {int(np.isinf(values).sum())} "
                    "infinite values; pass finite numbers (or missing values)"
                )
            out[:, i] = values
        else:
            raise FeatureError(
                f"feature column {feature.name!r} is not numeric (dtype {column.dtype}); "
                "declare it Feature(..., kind='categorical') or encode it as numbers"
            )
    return Encoded(out, unknown)


def frame_matrix(schema: FeatureSchema, frame: pd.DataFrame) -> np.ndarray:
    """The schema's columns of ``frame`` as a float64 matrix (see :func:`encode_frame`)."""
    return encode_frame(schema, frame).matrix


def infer_categories(schema: FeatureSchema, frame: pd.DataFrame) -> FeatureSchema:
    """``schema`` with categorical features resolved against training data.

    A feature whose column is a pandas ``category`` or string column becomes categorical; a
    categorical feature without ``categories`` takes them from its column (the pandas
    categories in their order, else the sorted values), each labelled with its code.
    """
    import pandas as pd

    changed = False
    features = []
    for feature in schema.features:
        column = frame[feature.name] if feature.name in frame.columns else None
        textual = column is not None and _is_textual(column)
        if feature.categories is None and (feature.is_categorical or textual):
            if column is None:
                features.append(feature)
                continue
            if not textual:
                raise SchemaError(
                    f"categorical feature {feature.name!r} needs a pandas category or string "
                    f"column, got dtype {column.dtype}"
                )
            if isinstance(column.dtype, pd.CategoricalDtype):
                codes = list(column.dtype.categories)
            else:
                codes = sorted(set(column.dropna().tolist()), key=str)
            if not codes or not all(isinstance(c, str) and c for c in codes):
                raise SchemaError(
                    f"categorical feature {feature.name!r}: its categories must be non-empty "
                    "strings; convert the column with .astype(str) or declare categories"
                )
            feature = feature.model_copy(
                update={"kind": "categorical", "categories": {c: c for c in codes}}
            )
            Feature.model_validate(feature.model_dump())  # the declared options still fit
            changed = True
        features.append(feature)
    if not changed:
        return schema
    return FeatureSchema(features, schema.declared_concepts)


def lightgbm_frame(schema: FeatureSchema, matrix: np.ndarray) -> pd.DataFrame:
    """The matrix as the pandas frame LightGBM trains on: categorical features as pandas
    ``category`` columns with the schema's codes, so the booster stores LightGBM's own
    ``pandas_categorical`` and predicts on a user's raw frame as it would without whylens."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for i, feature in enumerate(schema.features):
        if feature.is_categorical:
            values = matrix[:, i]
            codes = np.where(np.isnan(values), -1, values).astype(np.int64)
            columns[feature.name] = pd.Categorical.from_codes(codes, categories=list(feature.codes))
        else:
            columns[feature.name] = matrix[:, i]
    return pd.DataFrame(columns)


def _is_number_column(column: pd.Series) -> bool:
    # pandas' nullable Int64/Float64/boolean dtypes are not numpy dtypes (np.issubdtype raises)
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype))


def _is_textual(column: pd.Series) -> bool:
    import pandas as pd

    dtype = column.dtype
    return (
        isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype))
        or dtype.kind == "O"
    )


def _category_codes(feature: Feature, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    if not _is_textual(column):
        raise FeatureError(
            f"categorical feature {feature.name!r} takes category codes as strings "
            f"(a pandas category or string column), got dtype {column.dtype}"
        )
    values = column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column
    codes_known = list(feature.codes)
    # pandas deprecates building a Categorical from values outside its categories: unknown
    # values become missing first (and are reported through ``unknown``)
    coded = pd.Categorical(values.where(values.isin(codes_known)), categories=codes_known)
    codes = np.asarray(coded.codes, dtype=np.float64)
    absent = codes < 0
    codes[absent] = np.nan
    unknown = absent & column.notna().to_numpy()
    return codes, unknown


def _category_code(schema: FeatureSchema, feature: Feature, value: Any) -> tuple[float, bool]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan"), False
    if not isinstance(value, str):
        # the value itself may be personal data: name the feature and the type only
        raise FeatureError(
            f"feature {feature.name!r} is categorical: pass its category code as text "
            f"(or {_MISSING}), got {_kind(value)}"
        )
    index = schema.code_index(feature.name, value)
    return (float("nan"), True) if index is None else (float(index), False)


def _shown_key(key: object) -> str:
    # a key that is not an identifier may be data passed by mistake: name its type, not its text
    if isinstance(key, str) and _IDENTIFIER.fullmatch(key):
        return key
    return f"<a {type(key).__name__} key that is not a feature name>"


def _number(name: str, value: Any) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool | int | float | np.integer | np.floating):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):
            raise FeatureError(
                f"feature {name!r} is infinite; pass a finite number (or {_MISSING})"
            )
        return number
    # the value itself may be personal data: name the feature and the type only
    raise FeatureError(f"feature {name!r} must be a number (or {_MISSING}), got {_kind(value)}")


# errors reach Python callers and HTTP clients alike: no Python type names, both spellings of null
_MISSING = "missing: None in Python, null in JSON"


def _kind(value: object) -> str:
    """What was sent instead, in words (never the value: it may be personal data)."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def mask_for_consent(
    schema: FeatureSchema, matrix: np.ndarray, state: ConsentState
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Set every feature whose purpose ``state`` does not allow to missing (NaN).

    Returns the masked copy and the names of the masked features: the consent part of
    :func:`sdk.models.masking.masking_plan`, which serving and batch scoring use.
    """
    from .masking import masking_plan

    plan = masking_plan(schema, state)
    return plan.apply(matrix), plan.masked
