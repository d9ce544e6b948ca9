"""Shadow mode telemetry: how far a candidate version agrees with the serving one.

Agreement per request goes on the recommendation's audit record (``shadow``); the same numbers
are emitted as OpenTelemetry histograms with model names and versions only (no personal data),
so a dashboard can show a candidate's agreement before anyone signs it off.
"""

from __future__ import annotations

from opentelemetry import metrics

from .._version import __version__
from ..telemetry import SCOPE
from .registry import Model

__all__ = ["record_shadow"]

_meter = metrics.get_meter(SCOPE, __version__)
_spearman = _meter.create_histogram(
    "whylens.shadow.spearman",
    description="Rank correlation of a shadow candidate's scores with the serving model's",
)
_overlap = _meter.create_histogram(
    "whylens.shadow.top_k_overlap",
    description="Share of the serving model's top k that the shadow candidate also ranks top k",
)


def record_shadow(serving: Model, candidate: Model, agreement: dict[str, float]) -> None:
    """Emit one request's agreement figures."""
    attributes: dict[str, str | int] = {
        "whylens.model.name": serving.name,
        "whylens.model.version": serving.version,
        "whylens.shadow.version": candidate.version,
    }
    if agreement["spearman"] == agreement["spearman"]:
        _spearman.record(agreement["spearman"], attributes)
    if agreement["top_k_overlap"] == agreement["top_k_overlap"]:
        _overlap.record(agreement["top_k_overlap"], attributes)
