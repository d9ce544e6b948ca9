"""Record version 3 beside the versions before it.

``tests/fixtures/v2-store/`` was written by the release that wrote record version 2 (see
``make_v2_store.py``): inputs encrypted one by one, the score, probability, item scores and
shadow figures in clear, contributions and notes sealed with RFC 8785 associated data. Today's
readers must return the same numbers from it, for a member who exists and for one erased then;
new records on the same store are version 3, and the whole ledger still verifies.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sdk import Personalizer
from sdk.audit import verify_export
from sdk.audit.entries import decision_record
from sdk.audit.sealing import RECORD_VERSION, clear_trigger, record_aad

V2 = Path(__file__).parent / "fixtures" / "v2-store"


@pytest.fixture
def v2(tmp_path: Path) -> Personalizer:
    for name in ("v2.db", "v2.keyring.json", "v2.keyring.witness.log"):
        shutil.copyfile(V2 / name, tmp_path / name)
        (tmp_path / name).chmod(0o600)
    p = Personalizer.open(tmp_path / "v2.db", keyring=tmp_path / "v2.keyring.json")
    yield p
    p.close()


EXPECTED = json.loads((V2 / "expected.json").read_text())


def test_version_2_decisions_read_as_before(v2: Personalizer) -> None:
    want = EXPECTED["decision"]
    entry, _ = v2.audit.entries_of(want["id"])
    assert entry.data["version"] == 2 and entry.data["output"]["score"] == want["score"]
    decision = v2.decision(want["id"])
    assert (decision.score, decision.probability) == (want["score"], want["probability"])
    assert decision.status == want["status"]
    auditor = v2.explain(want["id"], audience="auditor")
    assert auditor.contributions == want["contributions"]
    assert auditor.score == want["score"] and auditor.base_value == want["base_value"]
    case = v2.reviews.case(want["id"], reviewer="reviewer.zoe")
    assert case.values == want["inputs"]  # as the model saw them (inputs show categories)
    note = EXPECTED["approved_note"]
    assert note["note"] in [a.reason for a in v2.decision(note["id"]).history]
    assert v2.counterfactual(want["id"]).decision_id == want["id"]


def test_version_2_recommendations_read_as_before(v2: Personalizer) -> None:
    want = EXPECTED["recommendation"]
    first, score = want["items"][0]
    explained = v2.explain(want["id"], item_id=first, audience="auditor")
    assert explained.score == score and explained.contributions == want["first_contributions"]
    second = want["items"][1][0]
    pair = v2.explain_pair(want["id"], first, second)
    assert (pair.score_a, pair.score_b) == (score, want["items"][1][1])


def test_erased_version_2_records_read_without_a_crash(v2: Personalizer) -> None:
    gone = EXPECTED["erased"]
    decision = v2.decision(gone["decision"])
    assert (decision.outcome, decision.status) == (gone["outcome"], gone["status"])
    assert v2.explain(gone["decision"], audience="reviewer").contributions == {}
    assert all(v is None for v in v2.reviews.case(gone["decision"], reviewer="r.x").inputs.values())
    listing = v2.explain(gone["recommendation"], audience="auditor")
    assert listing.contributions == {}


def test_new_records_on_a_version_2_store_are_version_3_and_all_verify(
    v2: Personalizer, tmp_path: Path
) -> None:
    v2.consent.grant("member-new", ["profiling"])
    made = v2.decide(
        "member-new",
        {"tenure_months": 12.0, "late_payments": 0.0, "housing": "A151"},
        model="credit",
    )
    entry, _ = v2.audit.entries_of(made.decision_id)
    assert entry.data["version"] == RECORD_VERSION == 3
    assert entry.data["inputs"] == {} and entry.data["output"]["score"] is None
    again = v2.decision(made.decision_id)
    assert (again.score, again.probability) == (made.score, made.probability)
    v2.subjects.erase("member-new")
    erased = v2.decision(made.decision_id)
    assert erased.score is None and erased.probability is None
    assert erased.outcome == made.outcome
    assert v2.audit.verify().ok
    manifest = v2.audit.export(tmp_path / "export", personal=True)
    assert verify_export(tmp_path / "export", public_key=manifest.public_key).ok
    rows = [json.loads(x) for x in (tmp_path / "export" / "records.jsonl").read_text().splitlines()]
    mine = next(r for r in rows if r["decision_id"] == made.decision_id)
    assert mine["score"] is None and mine["probability"] is None
    assert mine["outcome"] == made.automated_outcome
    # the v2 record exported beside it keeps its clear score, as it was written
    old = next(r for r in rows if r["decision_id"] == EXPECTED["decision"]["id"])
    assert old["score"] == EXPECTED["decision"]["score"]
    assert decision_record(v2.audit.entries_of(EXPECTED["decision"]["id"])[0]).version == 2


def test_sealed_parts_are_bound_to_person_record_and_part() -> None:
    """The fixed-shape associated data: no two (pseudonym, record, part) give the same bytes."""
    seen = {
        record_aad(a, b, c)
        for a, b, c in [("ab", "c", "d"), ("a", "bc", "d"), ("a", "b", "cd"), ("abc", "", "d")]
    }
    assert len(seen) == 4


def test_the_clear_trigger_names_the_band_not_the_probability() -> None:
    exact = "uncertainty_band: probability 0.473 in [0.45, 0.55]"
    assert clear_trigger(exact) == "uncertainty_band: probability in [0.45, 0.55]"
    assert clear_trigger("adverse_outcome: declined") == "adverse_outcome: declined"
    assert clear_trigger(None) is None
