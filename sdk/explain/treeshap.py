"""Exact TreeSHAP attributions for LightGBM models, with the additivity check.

whylens computes path-dependent TreeSHAP values in raw-margin space with its own compiled explainer
(:mod:`sdk.explain.fast`: Fast TreeSHAP v2 tables, or Linear TreeSHAP for deep trees, prepared
once per model version), equal to
LightGBM's ``pred_contrib`` and ``shap.TreeExplainer`` within 1e-9. Every result is checked
against the raw score being explained, as LightGBM's own ``predict`` computes it:
``sum(phi) + base == raw`` to 1e-9 (relative).

The canonical shape is ``values[row, output, feature]`` with one extra last column, the bias
(expected value): one output for binary classifiers, rankers and regressors, one per class for
multiclass models, whatever the input type (dense numpy, scipy sparse, pandas with categoricals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AdditivityError
from .fast import Explainer

if TYPE_CHECKING:
    import lightgbm as lgb
    import shap

__all__ = [
    "EXPLAINER",
    "EXPLAINER_VERSION",
    "GAME",
    "OUTPUT_SPACE",
    "Attributions",
    "Explainer",
    "tree_shap",
]

GAME = "path-dependent"
"""The cooperative game: TreeSHAP's path-dependent conditional expectation (cover-weighted)."""
OUTPUT_SPACE = "raw-margin"
"""What is explained: the model's raw score (log-odds, ranking score, per-class margin)."""
EXPLAINER_VERSION = "1.0"
EXPLAINER = f"whylens.fasttreeshap-v2/{EXPLAINER_VERSION}/treeshap-{GAME}/{OUTPUT_SPACE}"
"""Recorded with every stored explanation: algorithm, its version, game and output space."""
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Attributions:
    """Exact SHAP values of ``n`` rows of a model with ``k`` outputs and ``f`` features.

    ``values`` is the canonical ``(n, k, f + 1)`` array, bias last; ``raw_scores`` is ``(n, k)``.
    ``phi``, ``base`` and ``raw`` are views for the common single-output case: ``(n, f)``,
    ``(n,)``, ``(n,)``; for multiclass models they keep the class axis: ``(n, k, f)``, ``(n, k)``.
    """

    values: np.ndarray
    raw_scores: np.ndarray
    feature_names: tuple[str, ...] = ()
    game: str = GAME
    output_space: str = OUTPUT_SPACE
    explainer: str = EXPLAINER

    @property
    def outputs(self) -> int:
        """Number of outputs (classes of a multiclass model, else 1)."""
        return int(self.values.shape[1])

    def _squeeze(self, array: np.ndarray) -> np.ndarray:
        return array[:, 0] if self.outputs == 1 else array

    @property
    def phi(self) -> np.ndarray:
        """Feature attributions without the bias column."""
        return self._squeeze(self.values[:, :, :-1])

    @property
    def base(self) -> np.ndarray:
        """The bias column: expected raw score over the training data (per class)."""
        return self._squeeze(self.values[:, :, -1])

    @property
    def raw(self) -> np.ndarray:
        """The raw scores explained, from LightGBM's ``predict(raw_score=True)``."""
        return self._squeeze(self.raw_scores)

    @property
    def residual(self) -> np.ndarray:
        """``|sum(phi) + base - raw|`` per row (and class)."""
        return self._squeeze(np.abs(self.values.sum(axis=2) - self.raw_scores))

    def to_shap(self, data: Any = None) -> shap.Explanation:
        """The attributions as a ``shap.Explanation`` (multiclass: values ``(n, f, k)``)."""
        import shap

        values = self.values[:, :, :-1].transpose(0, 2, 1)
        base = self.values[:, :, -1]
        if self.outputs == 1:
            values, base = values[:, :, 0], base[:, 0]
        return shap.Explanation(
            values=values,
            base_values=base,
            data=None if data is None else np.asarray(data),
            feature_names=list(self.feature_names) or None,
        )


def tree_shap(
    booster: lgb.Booster,
    matrix: Any,
    *,
    raw: np.ndarray | None = None,
    content_hash: str | None = None,
    explainer: Explainer | None = None,
) -> Attributions:
    """Exact TreeSHAP of each row of ``matrix``, checked for additivity, on one thread.

    ``raw``: the raw scores already computed by ``booster.predict(matrix, raw_score=True)`` for
    these rows, if the caller has them (else they are computed here). ``content_hash``: the model
    version's SHA-256, to find the cached explainer without serialising the model.
    """
    engine = explainer or Explainer.for_booster(booster, content_hash=content_hash)
    values, _ = engine.explain(matrix)
    scores = booster.predict(matrix, raw_score=True, num_threads=1) if raw is None else raw
    raw_scores = np.asarray(scores, dtype=np.float64).reshape(values.shape[0], values.shape[1])
    result = Attributions(
        values=values, raw_scores=raw_scores, feature_names=engine.model.feature_names
    )
    residual = np.abs(values.sum(axis=2) - raw_scores)
    bad = residual > TOLERANCE * np.maximum(1.0, np.abs(raw_scores))
    if bad.any():
        row, out = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise AdditivityError(
            f"row {row}, output {out}: contributions + base differ from the model output by "
            f"{residual[row, out]:.3g} (tolerance {TOLERANCE:g}); the explanation is not exact"
        )
    return result
