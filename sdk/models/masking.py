"""The masking decisions of serving, in one place: what consent, a non-profiling choice and a
person's preferences do to the model's input and to the served score.

``recommend``, ``decide`` and batch scoring (:mod:`sdk.batch`) all call :func:`masking_plan` and
apply the :class:`MaskPlan` it returns, so a nightly job on a cluster masks exactly what a single
request would. Pure functions over the schema and a consent state; no storage, so a plan can be
made on a worker from a snapshot that travelled there.
"""

from __future__ import annotations

import math
from collections.abc import Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .preferences import PreferenceState
from .schema import FeatureSchema

if TYPE_CHECKING:
    from ..types import ModelCard

__all__ = ["Allows", "MaskPlan", "classify", "masking_plan"]


class Allows(Protocol):
    """What masking needs of a consent state: is a purpose authorised? (``ConsentState``, or a
    snapshot's profile.)"""

    def allows(self, purpose: str) -> bool: ...


_DEFAULT_PREFERENCES = PreferenceState()


@dataclass(frozen=True)
class MaskPlan:
    """What serving does to one person's rows: the masked features and the concept factors."""

    masked: tuple[str, ...]
    """Masked feature names: those consent does not allow first, then (non-profiling) the
    personal ones."""
    columns: np.ndarray
    """The masked features' column indices."""
    non_profiling: bool
    """The list or score uses no personal data (DSA Art. 38 choice)."""
    personalized: bool
    """Nothing is masked and the model uses personal data: the result is personalized."""
    weights: dict[str, float]
    """Concept -> factor on its contribution (only when personalized)."""
    factors: np.ndarray | None
    """One factor per feature column, or ``None`` when every factor is 1."""
    excluded_items: tuple[str, ...] = field(default=())
    """Items the person said they are not interested in."""
    personal_use: bool = False
    """The person allows personal use of their data for recommendations (personalization
    granted, and not non-profiling): what staff picks for them need."""

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        """``matrix`` with the masked columns set to missing (a copy; the input is unchanged)."""
        if not self.masked:
            return matrix
        out = matrix.copy()
        out[:, self.columns] = np.nan
        return out


def masking_plan(
    schema: FeatureSchema,
    state: Allows,
    preferences: PreferenceState | None = None,
    *,
    personal_purposes: Set[str] = frozenset(),
    profiling: bool | None = None,
) -> MaskPlan:
    """The serving rules for one person.

    * a feature whose purpose ``state`` does not authorise is masked;
    * non-profiling (``profiling=False``, or ``None`` and the person chose it in
      ``preferences``) also masks every feature of a ``personal_purposes`` purpose;
    * a result is personalized when nothing is masked and the model uses a personal purpose; only
      then do the person's concept weights apply.

    ``decide`` passes neither preferences nor personal purposes: only consent masks its input.
    """
    prefs = preferences if preferences is not None else _DEFAULT_PREFERENCES
    non_profiling = profiling is False or (profiling is None and not prefs.profiling)
    masked = [f.name for f in schema if not state.allows(f.purpose)]
    if non_profiling:
        masked += [
            f.name for f in schema if f.purpose in personal_purposes and f.name not in masked
        ]
    personalized = not masked and any(f.purpose in personal_purposes for f in schema)
    weights = dict(prefs.concept_weights) if personalized else {}
    factors = (
        np.asarray([float(weights.get(f.concept, 1.0)) for f in schema], dtype=np.float64)
        if weights
        else None
    )
    if factors is not None and np.all(factors == 1.0):
        factors = None
    return MaskPlan(
        masked=tuple(masked),
        columns=np.asarray([schema.index(n) for n in masked], dtype=np.intp),
        non_profiling=non_profiling,
        personalized=personalized,
        weights=weights,
        factors=factors,
        excluded_items=tuple(prefs.excluded_items),
        personal_use=state.allows("personalization") and not non_profiling,
    )


def classify(card: ModelCard, raw_score: float) -> tuple[float, str]:
    """A classifier's probability and automated outcome for one raw margin (``decide``'s rule)."""
    assert card.outcomes is not None and card.threshold is not None
    probability = 1.0 / (1.0 + math.exp(-raw_score))
    outcome = card.outcomes[1] if probability >= card.threshold else card.outcomes[0]
    return probability, outcome
