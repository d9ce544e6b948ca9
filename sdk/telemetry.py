"""OpenTelemetry tracing and metrics through ``opentelemetry-api`` only.

whylens never configures a provider: with none set up by the application, every call is a no-op.
One instrumentation scope, ``whylens``, with the package version. Attributes are namespaced
``whylens.*`` and carry ids, model versions, counts and timings — never personal data (no subject
ids, feature values or texts).
"""

from __future__ import annotations

from opentelemetry import metrics, trace

from ._version import __version__

__all__ = ["SCOPE", "decision_counter", "off_brand_gauge", "tracer"]

SCOPE = "whylens"

# get_tracer/get_meter return proxies that follow a provider set later by the application
tracer = trace.get_tracer(SCOPE, __version__)
_meter = metrics.get_meter(SCOPE, __version__)

decision_counter = _meter.create_counter(
    "whylens.decisions",
    unit="{decision}",
    description="Decisions and recommendations made, by kind, model and status",
)

off_brand_gauge = _meter.create_gauge(
    "whylens.oversight.off_brand_share",
    unit="1",
    description="Share of reviewed sampled recommendation lists with an off-brand item, per model "
    "name and version",
)
