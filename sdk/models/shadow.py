"""Shadow mode telemetry: how far a candidate version agrees with the serving one.

Agreement per request goes on the audit record (``shadow``) of the recommendation or decision;
the same numbers are emitted as OpenTelemetry histograms with model names and versions only (no
personal data), so a dashboard can show a candidate's agreement before anyone signs it off.
Rankers report rank correlation and top-k overlap; classifiers report whether the automated
outcome agrees and how far the probabilities differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics

from .._version import __version__
from ..errors import WhylensError
from ..telemetry import SCOPE
from ..types import ConsentState
from .masking import masking_plan
from .matrix import mapping_matrix
from .registry import Model

__all__ = ["decision_shadow", "record_shadow"]

_meter = metrics.get_meter(SCOPE, __version__)
_spearman = _meter.create_histogram(
    "whylens.shadow.spearman",
    description="Rank correlation of a shadow candidate's scores with the serving model's",
)
_overlap = _meter.create_histogram(
    "whylens.shadow.top_k_overlap",
    description="Share of the serving model's top k that the shadow candidate also ranks top k",
)
_agreement = _meter.create_histogram(
    "whylens.shadow.outcome_agreement",
    description="1 if a shadow classifier's automated outcome equals the serving one's, else 0",
)
_difference = _meter.create_histogram(
    "whylens.shadow.probability_difference",
    description="Absolute difference of a shadow classifier's probability from the serving one's",
)


def record_shadow(serving: Model, candidate: Model, agreement: Mapping[str, Any]) -> None:
    """Emit one request's agreement figures (the ones present and not ``nan``)."""
    attributes: dict[str, str | int] = {
        "whylens.model.name": serving.name,
        "whylens.model.version": serving.version,
        "whylens.shadow.version": candidate.version,
    }
    figures = {
        "spearman": (_spearman, agreement.get("spearman")),
        "top_k_overlap": (_overlap, agreement.get("top_k_overlap")),
        "agrees": (_agreement, agreement.get("agrees")),
        "probability_difference": (_difference, agreement.get("probability_difference")),
    }
    for instrument, value in figures.values():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        # histograms take non-negative amounts; the signed difference stays on the audit record
        instrument.record(abs(float(value)), attributes)


def decision_shadow(
    serving: Model,
    candidate: Model | None,
    features: Mapping[str, Any],
    state: ConsentState,
    probability: float,
    protected: Iterable[str] = (),
) -> dict[str, Any] | None:
    """Score a shadow classifier on the same request, masked for the same consent state.

    Returns the ``shadow`` part of the decision's audit record (``None`` without a candidate) and
    emits it through :func:`record_shadow`. Nothing here changes the served decision: a candidate
    that cannot score this request (a feature it needs is absent, or it uses a protected
    attribute) is recorded as not scored instead of failing the decision.
    """
    if candidate is None or candidate.version == serving.version:
        return None
    record: dict[str, Any] = {"version": candidate.version, "content_hash": candidate.content_hash}
    card = candidate.card
    if candidate.kind != "classifier" or card.outcomes is None or card.threshold is None:
        return {**record, "scored": False, "reason": "not a classifier"}
    if set(candidate.schema.names) & set(protected):
        return {**record, "scored": False, "reason": "uses a protected attribute"}
    wanted = {n: features[n] for n in candidate.schema.names if n in features}
    try:
        row = mapping_matrix(candidate.schema, wanted)
    except WhylensError:
        # only the names are known here, never the values: the record says which are missing
        missing = [n for n in candidate.schema.names if n not in features]
        return {**record, "scored": False, "reason": "features", "missing": missing}
    plan = masking_plan(candidate.schema, state)
    matrix, masked = plan.apply(row), plan.masked
    shadow_p = 1.0 / (1.0 + math.exp(-float(candidate.raw_scores(matrix)[0])))
    serving_card = serving.card
    assert serving_card.threshold is not None
    # outcome labels may be renamed between versions; agreement is on the side of the threshold
    serving_positive = probability >= serving_card.threshold
    shadow_positive = shadow_p >= card.threshold
    record.update(
        scored=True,
        probability=shadow_p,
        outcome=card.outcomes[1] if shadow_positive else card.outcomes[0],
        agrees=serving_positive == shadow_positive,
        probability_difference=shadow_p - probability,
        masked=list(masked),
    )
    record_shadow(serving, candidate, record)
    return record
