"""Exact TreeSHAP attributions for LightGBM models, with the additivity check.

LightGBM's ``pred_contrib`` computes path-dependent TreeSHAP values in raw-margin space: one column
per feature plus the expected value (base) in the last column. Every attribution whylens stores is
checked against the raw score being explained: ``sum(phi) + base == raw`` to 1e-9 (relative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AdditivityError

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["EXPLAINER", "Attributions", "tree_shap"]

EXPLAINER = "lightgbm.pred_contrib/treeshap-path-dependent/raw-margin"
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Attributions:
    """Exact SHAP values of ``n`` rows: ``phi`` (n x features), ``base`` and ``raw`` (n,)."""

    phi: np.ndarray
    base: np.ndarray
    raw: np.ndarray

    @property
    def residual(self) -> np.ndarray:
        """``|sum(phi) + base - raw|`` per row."""
        return np.abs(self.phi.sum(axis=1) + self.base - self.raw)


def tree_shap(booster: lgb.Booster, matrix: np.ndarray) -> Attributions:
    """Exact TreeSHAP of each row of ``matrix``, checked for additivity, on one thread."""
    contrib = np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=1))
    raw = np.asarray(booster.predict(matrix, raw_score=True, num_threads=1), dtype=np.float64)
    if contrib.ndim != 2 or contrib.shape[1] != matrix.shape[1] + 1:
        raise AdditivityError(
            f"unexpected attribution shape {contrib.shape} for {matrix.shape[1]} features "
            "(multiclass models are not supported yet)"
        )
    result = Attributions(phi=contrib[:, :-1], base=contrib[:, -1], raw=raw)
    bad = result.residual > TOLERANCE * np.maximum(1.0, np.abs(raw))
    if bad.any():
        row = int(np.argmax(bad))
        raise AdditivityError(
            f"row {row}: contributions + base differ from the model output by "
            f"{result.residual[row]:.3g} (tolerance {TOLERANCE:g}); the explanation is not exact"
        )
    return result
