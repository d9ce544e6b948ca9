"""Typed audit records: what serving writes is what views read, and entries on ledgers made by
an earlier release still read (the record models validate the stored JSON as it is)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import Personalizer
from sdk.audit.entries import (
    DecisionRecord,
    RecommendationRecord,
    ReviewRecord,
    decision_record,
    recommendation_record,
    review_record,
)
from sdk.audit.records import input_aad_id

V1 = Path(__file__).parent / "fixtures" / "v1-store"

_READERS = {"decision": decision_record, "recommendation": recommendation_record}


def test_entries_of_an_earlier_release_read_as_typed_records(tmp_path: Path) -> None:
    for name in ("v1.db", "v1.keyring.json"):
        shutil.copy(V1 / name, tmp_path / name)
    os.chmod(tmp_path / "v1.keyring.json", 0o600)
    with Personalizer.open(tmp_path / "v1.db", keyring=tmp_path / "v1.keyring.json") as p:
        kinds: dict[str, int] = {}
        for entry in p.ledger.entries(stream="audit"):
            record = _READERS.get(entry.kind, review_record)(entry)
            assert record.decision_id == entry.data["decision_id"]
            kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
        assert kinds["decision"] and kinds["recommendation"] and kinds["review.override"]
        for decision_id in p.audit.decisions():
            assert p.explain(decision_id, audience="reviewer").contributions
            assert p.decision(decision_id).history


def test_serving_writes_the_records_views_read(p: Personalizer) -> None:
    frame, schema = german_credit()
    frame = frame.iloc[:200].reset_index(drop=True)
    signed_classifier(p, frame, schema, band=(0.0, 1.0), rounds=5)
    decision = p.decide("applicant-0001", feature_row(frame, schema, 1), model="credit")
    p.reviews.override(decision.decision_id, outcome="approved", reviewer="r.1", reason="ok")
    entry, actions = p.audit.entries_of(decision.decision_id)
    record = decision_record(entry)
    assert isinstance(record, DecisionRecord) and record.output.status == "pending_review"
    assert record.model.content_hash == p.models.get("credit").content_hash
    assert record.consent.needed == ["profiling"] and record.consent.missing == []
    override = review_record(actions[0])
    assert isinstance(override, ReviewRecord) and override.outcome == "approved"
    assert "message" not in actions[0].data  # only the fields an action has are written
    with pytest.raises(ValueError):
        DecisionRecord.model_validate({**entry.data, "unexpected": 1})  # closed


def test_one_helper_names_the_associated_data_of_an_item() -> None:
    assert input_aad_id("dec_1") == "dec_1"
    assert input_aad_id("dec_1", "item-7") == "dec_1/item-7"
    assert RecommendationRecord.model_fields["items"].is_required()
