"""Rows to explain, as float64 blocks equal to what LightGBM's ``predict`` feeds its trees.

Dense arrays pass through; scipy sparse matrices are densified block by block (absent entries are
0.0, as in LightGBM); pandas frames have their categorical columns mapped to the category codes the
model was trained with (``pandas_categorical`` in the model text), unseen categories and NaN
becoming NaN, exactly as ``lightgbm.basic`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...errors import FeatureError

__all__ = ["BLOCK_ROWS", "row_blocks", "row_count"]

BLOCK_ROWS = 4096


def _is_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "dtypes")


def _is_sparse(data: Any) -> bool:
    return type(data).__module__.startswith("scipy.sparse")


def row_count(data: Any) -> int:
    """Number of rows in ``data`` (any supported input type)."""
    return int(data.shape[0]) if hasattr(data, "shape") else len(data)


def _frame_matrix(frame: Any, pandas_categorical: list[list[object]] | None) -> np.ndarray:
    import pandas as pd

    cat_cols = [
        c
        for c, t in zip(frame.columns, frame.dtypes, strict=True)
        if isinstance(t, pd.CategoricalDtype)
    ]
    known = pandas_categorical or []
    if len(cat_cols) != len(known):
        raise FeatureError(
            f"the frame has {len(cat_cols)} categorical columns but the model was trained with "
            f"{len(known)}; pass the columns with the dtypes used in training"
        )
    out = np.empty(frame.shape, dtype=np.float64)
    cats = dict(zip(cat_cols, known, strict=True))
    for i, col in enumerate(frame.columns):
        column = frame[col]
        if col in cats:
            if list(column.cat.categories) != list(cats[col]):
                column = column.cat.set_categories(cats[col])
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, i] = codes
        else:
            try:
                out[:, i] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise FeatureError(
                    f"column {i} is not numeric or categorical (dtype {column.dtype})"
                ) from exc
    return out


def row_blocks(
    data: Any, num_features: int, pandas_categorical: list[list[object]] | None
) -> Iterator[np.ndarray]:
    """C-contiguous float64 blocks of at most ``BLOCK_ROWS`` rows, in order."""
    if _is_sparse(data):
        matrix = data.tocsr()
        _check_width(matrix.shape, num_features)
        for start in range(0, matrix.shape[0], BLOCK_ROWS):
            block = matrix[start : start + BLOCK_ROWS].toarray()
            yield np.ascontiguousarray(block, dtype=np.float64)
        return
    if _is_frame(data):
        _check_width(data.shape, num_features)
        yield _frame_matrix(data, pandas_categorical)
        return
    try:
        array = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise FeatureError("rows to explain must be numeric") from exc
    if array.ndim == 1:
        array = array.reshape(1, -1)
    _check_width(array.shape, num_features)
    yield np.ascontiguousarray(array)


def _check_width(shape: tuple[int, ...], num_features: int) -> None:
    if len(shape) != 2 or shape[1] != num_features:
        raise FeatureError(
            f"rows to explain must be a 2-D table with {num_features} feature columns, "
            f"got shape {tuple(shape)}"
        )
