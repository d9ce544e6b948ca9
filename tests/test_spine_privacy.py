"""Planted canaries never reach the database bytes, the WAL, logs, spans or exports."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import all_bytes, feature_row, german_credit
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sdk import Personalizer, ReviewPolicy
from sdk.errors import WhylensError

CANARY_EMAIL = "canary-7f3a9c@example.org"
CANARY_SUBJECT = "canary.subject.51d2@example.org"
CANARY_NAME = "Zebulon Canarywood"

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)  # global: set once per test process
    return _EXPORTER


def _span_text(exporter: InMemorySpanExporter) -> str:
    parts = []
    for span in exporter.get_finished_spans():
        parts.append(span.name)
        parts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        parts.extend(str(e.attributes) for e in span.events)
    return "\n".join(parts)


def test_canaries_stay_out_of_every_output(
    db_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, spans: InMemorySpanExporter
) -> None:
    caplog.set_level(logging.DEBUG)
    frame, schema = german_credit()
    frame.loc[0, "subject"] = CANARY_SUBJECT
    errors: list[str] = []
    with Personalizer.open(db_path) as p:
        for subject in frame["subject"].iloc[:400]:
            p.consent.grant(subject, "profiling", source="signup")
        p.profiles.put(CANARY_SUBJECT, {"email": CANARY_EMAIL, "name": CANARY_NAME})
        assert p.profiles.get(CANARY_SUBJECT)["email"] == CANARY_EMAIL
        p.models.train_classifier("credit", frame.iloc[:400], schema, target="good",
                                  num_boost_round=20,
                                  review_policy=ReviewPolicy(uncertainty_band=(0.0, 1.0)))
        p.models.sign_off("credit", 1, reviewer="reviewer.tests")
        decision = p.decide(CANARY_SUBJECT, feature_row(frame, schema, 0), model="credit")
        p.contest(decision.decision_id, message=f"please call me at {CANARY_EMAIL}")
        p.reviews.override(decision.decision_id, outcome="approved", reviewer="rev.9",
                           reason="verified by phone")
        p.explain(decision.decision_id, audience="reviewer")
        # bad input whose messages must not echo what was passed
        for bad in (
            lambda: p.decide(CANARY_SUBJECT, {"month": CANARY_EMAIL}, model="credit"),
            lambda: p.decide(CANARY_SUBJECT, {**feature_row(frame, schema, 0),
                                              "age": CANARY_EMAIL}, model="credit"),
            lambda: p.profiles.put(CANARY_SUBJECT, {CANARY_EMAIL: 1}),
            lambda: p.consent.grant(CANARY_EMAIL * 20, "profiling"),
            lambda: p.profiles.get(CANARY_EMAIL),
        ):
            with pytest.raises(WhylensError) as info:
                bad()
            errors.append(str(info.value))
        p.audit.export(tmp_path / "export")
        assert trace.get_tracer_provider() is not None
    outputs = {
        "database and WAL": all_bytes(db_path),
        "logs": caplog.text.encode(),
        "spans": _span_text(spans).encode(),
        "export": b"".join(f.read_bytes() for f in (tmp_path / "export").iterdir()),
        "errors": "\n".join(errors).encode(),
    }
    assert any(s.name == "whylens.decide" for s in spans.get_finished_spans())
    for where, blob in outputs.items():
        for canary in (CANARY_EMAIL, CANARY_SUBJECT, CANARY_NAME, "canary"):
            assert canary.encode() not in blob, f"{canary!r} found in {where}"


def test_spans_carry_ids_and_model_versions(p: Personalizer, spans: InMemorySpanExporter) -> None:
    frame, schema = german_credit()
    for subject in frame["subject"].iloc[:300]:
        p.consent.grant(subject, "profiling")
    p.models.train_classifier("credit", frame.iloc[:300], schema, target="good",
                              num_boost_round=10)
    p.models.sign_off("credit", 1, reviewer="reviewer.tests")
    spans.clear()
    decision = p.decide(frame["subject"].iloc[1], feature_row(frame, schema, 1), model="credit")
    (span,) = [s for s in spans.get_finished_spans() if s.name == "whylens.decide"]
    assert span.instrumentation_scope.name == "whylens"
    attributes = dict(span.attributes or {})
    assert attributes["whylens.decision_id"] == decision.decision_id
    assert attributes["whylens.model.version"] == 1
    assert all(key.startswith("whylens.") for key in attributes)
