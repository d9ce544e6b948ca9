"""Model cards and review policies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .base import (
    Frozen,
)


class ReviewPolicy(Frozen):
    """When a classifier's decision is held for a person to review.

    ``uncertainty_band`` is a closed interval of predicted probability: a decision whose
    probability falls inside it goes to ``pending_review``. ``provisional_outcome`` is what the
    person is told meanwhile (``None``: the model's own outcome, marked provisional).
    """

    uncertainty_band: tuple[float, float] | None = (0.4, 0.6)
    provisional_outcome: str | None = None
    adverse_outcome: str | None = None
    """Hold every decision whose automated outcome is this one (e.g. ``"declined"``)."""
    sensitive_segment: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Feature name -> closed value range: a decision whose input falls in any range is held."""
    sample_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    """Share of the remaining automated decisions held at random, for quality control."""
    sample_seed: int = 0
    """Seed of the random sample: whether a decision is sampled is a keyed function of its id."""
    contest_window_days: int | None = Field(default=None, ge=1)
    """How long after a decision the person may contest it (``None``: no limit)."""
    assess_first: bool = False
    """Reviewers record their own view before the model's suggestion is shown to them."""
    consent_purposes: tuple[str, ...] | None = None
    """The purposes an automated decision needs granted (``None``: every consent-requiring
    purpose among the model's features; resolved onto the card when the model is trained)."""
    without_consent: Literal["hold", "refuse"] = "hold"
    """When one of them is not granted: ``"hold"`` the decision for a person (``pending_review``,
    trigger ``consent_missing``), or ``"refuse"`` it (:class:`~sdk.errors.ConsentRequired`).
    Either way no automated outcome is made from the features left after masking."""


class ModelCard(Frozen):
    """What the registry knows about one trained model version."""

    name: str
    version: int
    kind: Literal["ranker", "classifier"]
    content_hash: str
    features: tuple[str, ...]
    purposes: tuple[str, ...]
    rows_used: int
    rows_left_out: int
    left_out_by_purpose: dict[str, int]
    trained_at: datetime
    metrics: dict[str, float]
    params: dict[str, str | int | float | bool]
    outcomes: tuple[str, str] | None = None
    threshold: float | None = None
    review_policy: ReviewPolicy | None = None
    masked_by_purpose: dict[str, int] = Field(default_factory=dict)
    """Rows kept with the features of a purpose masked (not granted at the row's time), when
    trained with ``target_purpose``."""
