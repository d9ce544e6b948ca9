"""Explanations: reasons, counterfactuals, comparisons."""

from __future__ import annotations

from typing import Any

from .base import (
    Audience,
    Frozen,
)
from .human import Disclosure


class Reason(Frozen):
    """One concept's part in a score: the sum of its features' exact SHAP contributions."""

    concept: str
    label: str
    contribution: float
    features: tuple[str, ...]


class Change(Frozen):
    """One feature's value in a counterfactual: what it is, and what it would need to be."""

    feature: str
    label: str
    current: float
    proposed: float
    """Model input values; for a categorical feature, the integer code of the category."""
    current_category: str | None = None
    """For a categorical feature: the code of the current category (e.g. ``"A151"``)."""
    proposed_category: str | None = None
    """For a categorical feature: the code of the category it would need to be."""


class Counterfactual(Frozen):
    """ "What would change this": the smallest change to actionable features that flips an outcome.

    Found against the model and verified by re-scoring the changed input (``score_after``).
    ``changes`` is empty and ``found`` false when no allowed change flips the outcome. Only
    features the schema marks actionable, and that are neither sensitive nor masked, are changed.
    ``cost`` is the sum of each change divided by its feature's range, plus a fixed
    :data:`~sdk.explain.counterfactual.CATEGORY_COST` per categorical feature moved to another
    of the categories its schema allows (fewest features first).
    """

    decision_id: str
    found: bool
    outcome: str
    """The model's outcome for the decision as made."""
    target_outcome: str
    changes: tuple[Change, ...] = ()
    score: float
    score_after: float | None = None
    cost: float | None = None
    text: str
    locale: str


class Comparison(Frozen):
    """Why item A is ranked above item B within one recommendation.

    ``contributions`` are per-feature differences of the two items' exact attributions; their sum
    equals ``score_a - score_b`` (the base value cancels). For end users only features they may
    be shown are listed, and ``other_share`` is the share of the difference not shown as a reason.
    """

    decision_id: str
    item_a: str
    item_b: str
    audience: Audience
    locale: str
    text: str
    reasons: tuple[Reason, ...]
    contributions: dict[str, float]
    score_a: float
    score_b: float
    other_share: float
    suppressed: tuple[str, ...] = ()
    additivity_residual: float | None = None


class Explanation(Frozen):
    """Why a model produced a score, for one audience.

    ``contributions`` are exact TreeSHAP values in raw-margin space:
    ``sum(contributions.values()) + base_value == score`` (checked when the decision was made).
    For end users, ``contributions`` and ``reasons`` hold only features they may be shown;
    ``other_share`` is the share of the total absolute attribution not shown as a reason.
    """

    decision_id: str
    item_id: str | None = None
    audience: Audience
    locale: str
    text: str
    reasons: tuple[Reason, ...]
    contributions: dict[str, float]
    base_value: float
    score: float | None
    """The raw score explained; ``None`` (with no contributions) once the person was erased."""
    other_share: float
    suppressed: tuple[str, ...] = ()
    """Features kept out of the end-user text (sensitive or not consented); not for end users."""
    model: str
    model_version: int
    model_hash: str | None = None
    additivity_residual: float | None = None
    counterfactual: Counterfactual | None = None
    """Set when asked for with ``explain(..., counterfactual=True)`` on a decision."""
    explainer: str | None = None
    """The explainer and its version that computed ``contributions`` (as recorded)."""
    game: str = "path-dependent"
    """The SHAP game: TreeSHAP's path-dependent (cover-weighted) conditional expectation."""
    output_space: str = "raw-margin"
    """What the contributions add up to: the raw score (log-odds for classifiers)."""
    disclosure: Disclosure | None = None
    """Who made what is explained (automated, a person, staff) and how to reach a person."""

    def to_shap(self) -> Any:
        """These contributions as a one-row ``shap.Explanation`` (for shap's plots).

        Features appear in ``contributions`` order; an end-user explanation holds only the
        features that person may be shown, so its values need not add up to ``score``.
        """
        import numpy as np
        import shap

        return shap.Explanation(
            values=np.array(list(self.contributions.values()), dtype=np.float64),
            base_values=float(self.base_value),
            feature_names=list(self.contributions),
        )
