"""The review policy of a model, applied to one decision: held for a person, or automated.

A :class:`~sdk.types.ReviewPolicy` is declarative data on the model card. :func:`review_trigger`
names the first rule that holds a decision (uncertainty band, adverse outcome, sensitive segment,
random sample) or returns ``None``. The random sample is a keyed function of the decision id and
the policy's seed, so an auditor can recompute which decisions were sampled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ReviewStateError
from ..types import ConsentState, ReviewPolicy

if TYPE_CHECKING:
    from ..consent.purposes import PurposeCatalog
    from ..models.schema import FeatureSchema

__all__ = [
    "CONSENT_MISSING",
    "check_contest_window",
    "consent_purposes",
    "consent_trigger",
    "in_sample",
    "review_trigger",
]

CONSENT_MISSING = "consent_missing"
"""The trigger name of a decision held because the consent it needs is not granted."""

_SCALE = float(2**64)


def in_sample(decision_id: str, seed: int, percent: float) -> bool:
    """Whether ``decision_id`` falls in a ``percent`` % sample drawn with ``seed``.

    Uniform in [0, 1) from SHA-256 of seed and id: reproducible by anyone holding the record.
    """
    if percent <= 0.0:
        return False
    digest = hashlib.sha256(f"whylens.sample.v1:{seed}:{decision_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE < percent / 100.0


def review_trigger(
    policy: ReviewPolicy | None,
    *,
    decision_id: str,
    probability: float,
    outcome: str,
    names: Sequence[str],
    row: np.ndarray,
) -> str | None:
    """The first policy rule that holds this decision for review, in words, or ``None``.

    The text names the rule and thresholds only, never an input value (it goes on the record
    and to the reviewer, and may end up in exports).
    """
    if policy is None:
        return None
    band = policy.uncertainty_band
    if band is not None:
        low, high = band
        if low <= probability <= high:
            return f"uncertainty_band: probability {probability:.3f} in [{low:g}, {high:g}]"
    if policy.adverse_outcome is not None and outcome == policy.adverse_outcome:
        return f"adverse_outcome: {outcome}"
    if policy.sensitive_segment:
        index = {name: i for i, name in enumerate(names)}
        for feature, (low, high) in sorted(policy.sensitive_segment.items()):
            i = index.get(feature)
            if i is None:
                continue
            value = float(row[i])
            if value == value and low <= value <= high:
                return f"sensitive_segment: {feature} in [{low:g}, {high:g}]"
    if in_sample(decision_id, policy.sample_seed, policy.sample_percent):
        return f"random_sample: {policy.sample_percent:g}% (seed {policy.sample_seed})"
    return None


def check_contest_window(policy: ReviewPolicy | None, decided_at: datetime, now: datetime) -> None:
    """Raise :class:`ReviewStateError` when the policy's contest window has closed."""
    if policy is None or policy.contest_window_days is None:
        return
    if now - decided_at > timedelta(days=policy.contest_window_days):
        raise ReviewStateError(
            f"the {policy.contest_window_days}-day window to contest this decision has closed"
        )


def consent_purposes(
    policy: ReviewPolicy | None, schema: FeatureSchema, catalog: PurposeCatalog
) -> tuple[str, ...]:
    """The purposes an automated decision by this model needs granted: the policy's declaration,
    else every purpose among the model's features that needs consent."""
    if policy is not None and policy.consent_purposes is not None:
        return policy.consent_purposes
    return tuple(p for p in schema.purposes if catalog.get(p).needs_consent)


def consent_trigger(needed: Sequence[str], state: ConsentState) -> tuple[str | None, list[str]]:
    """``("consent_missing: <purposes>", missing)`` when a needed purpose is not granted in
    ``state``, else ``(None, [])``. Names purposes only, never the person."""
    missing = [p for p in needed if not state.allows(p)]
    if not missing:
        return None, []
    return f"{CONSENT_MISSING}: {', '.join(missing)}", missing
