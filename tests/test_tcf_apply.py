"""TC strings on the consent ledger: mapping onto our purposes, hashes not strings, strict
validation before anything is recorded, and the codec's typed errors."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import all_bytes

from sdk import Personalizer
from sdk.consent.tcf import (
    PublisherRestriction,
    TCModel,
    decode_tc_string,
    encode_tc_string,
    tc_model_problems,
    validate_tc_model,
)
from sdk.errors import ConsentError, InvalidConsentEvent, InvalidTCString

VENDOR = 755
WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def tc(**changes: object) -> str:
    fields: dict[str, object] = {
        "created": WHEN,
        "last_updated": WHEN,
        "cmp_id": 31,
        "vendor_list_version": 140,
        "policy_version": 5,
        "purpose_consents": {1, 3, 4, 5, 6, 7, 8, 9},
        "vendor_consents": {1, 2, VENDOR},
        "vendors_disclosed": {1, 2, 10, VENDOR},
    }
    fields.update(changes)
    return encode_tc_string(TCModel(**fields))  # type: ignore[arg-type]


def test_a_full_consent_grants_every_mapped_purpose(p: Personalizer, db_path: Path) -> None:
    text = tc()
    outcome = p.consent.apply_tcf("alice", text, VENDOR)
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert outcome.tc_string_sha256 == digest
    assert set(outcome.granted) == {"personalization", "analytics", "marketing"}
    assert outcome.withdrawn == outcome.refused == outcome.held_by_gpc == ()
    assert [r.action for r in outcome.receipts] == ["grant"]
    state = p.consent.state("alice")
    assert all(state.allows(x) for x in ("personalization", "analytics", "marketing"))
    assert not state.allows("profiling")  # no TCF mapping: untouched
    events = p.consent.history("alice")
    assert {e.source for e in events} == {f"tcf:vendor={VENDOR}:sha256={digest}"}
    p.close()
    assert text.encode() not in all_bytes(db_path)  # the hash is stored, never the string


def test_the_same_string_again_records_nothing(p: Personalizer) -> None:
    text = tc()
    p.consent.apply_tcf("alice", text, VENDOR)
    size = p.ledger.size
    again = p.consent.apply_tcf("alice", text, VENDOR)
    assert again.receipts == () and again.granted == ()
    assert set(again.unchanged) == {"personalization", "analytics", "marketing"}
    assert p.ledger.size == size


def test_a_purpose_needs_consent_for_all_its_tcf_purposes(p: Personalizer) -> None:
    p.consent.apply_tcf("alice", tc(), VENDOR)
    outcome = p.consent.apply_tcf("alice", tc(purpose_consents={3, 4, 5, 8, 9}), VENDOR)
    assert outcome.withdrawn == ("personalization",)  # 6 is missing
    assert set(outcome.unchanged) == set() and set(outcome.granted) == {"analytics", "marketing"}
    assert p.consent.state("alice").purposes["personalization"] == "withdrawn"


def test_no_vendor_consent_refuses_everything(p: Personalizer) -> None:
    outcome = p.consent.apply_tcf("bob", tc(vendor_consents={1, 2}), VENDOR)
    assert set(outcome.refused) == {"personalization", "analytics", "marketing"}
    assert outcome.granted == ()
    assert p.consent.state("bob").purposes["marketing"] == "refused"


def test_publisher_restrictions_can_deny_a_purpose(p: Personalizer) -> None:
    restricted = tc(publisher_restrictions=(PublisherRestriction.of(8, 0, [VENDOR]),))
    outcome = p.consent.apply_tcf("carol", restricted, VENDOR)
    assert "analytics" in outcome.refused
    assert "analytics" not in outcome.granted
    # a restriction on another vendor does not matter
    other = tc(publisher_restrictions=(PublisherRestriction.of(8, 0, [VENDOR + 1]),))
    assert "analytics" in p.consent.apply_tcf("dave", other, VENDOR).granted


def test_strict_validation_runs_before_anything_is_recorded(p: Personalizer) -> None:
    missing_disclosed = tc(vendors_disclosed=None)
    with pytest.raises(InvalidTCString, match="disclosed-vendors segment is missing"):
        p.consent.apply_tcf("erin", missing_disclosed, VENDOR)
    assert p.consent.history("erin") == []
    lenient = p.consent.apply_tcf("erin", missing_disclosed, VENDOR, validate=False)
    assert "marketing" in lenient.granted


def test_bad_arguments_are_typed_errors(p: Personalizer) -> None:
    for vendor in (0, 65536, "755", True):
        with pytest.raises(InvalidConsentEvent):
            p.consent.apply_tcf("alice", tc(), vendor)  # type: ignore[arg-type]
    with pytest.raises(InvalidConsentEvent):
        p.consent.apply_tcf("alice", tc(), VENDOR, source="x" * 41)
    secret = "CQ" + "secretpayload" * 4
    with pytest.raises(InvalidTCString) as err:
        p.consent.apply_tcf("alice", secret, VENDOR)
    assert "secretpayload" not in str(err.value)
    assert isinstance(err.value, ConsentError)
    assert p.consent.history("alice") == []


def test_strict_checks_name_each_problem() -> None:
    model = decode_tc_string(
        tc(policy_version=3, purpose_legitimate_interests={2, 3}, vendors_disclosed=None)
    )
    problems = tc_model_problems(model, now=WHEN)
    assert len(problems) == 3
    assert "policy_version is 3" in problems[0]
    with pytest.raises(InvalidTCString, match="purposes \\[3\\]"):
        validate_tc_model(model, now=WHEN)
    # before the v2.3 deadline the disclosed-vendors segment is optional
    old = decode_tc_string(
        tc(
            created=datetime(2026, 2, 28, 23, tzinfo=UTC),
            last_updated=datetime(2026, 2, 28, 23, tzinfo=UTC),
            vendors_disclosed=None,
        ),
        validate=True,
    )
    assert old.vendors_disclosed is None
    with pytest.raises(InvalidTCString, match="future"):
        validate_tc_model(
            model.model_copy(update={"policy_version": 5}), now=datetime(2026, 1, 1, tzinfo=UTC)
        )


@pytest.mark.parametrize(
    "mangle, field",
    [
        (lambda s: s[:20], "ends early"),
        (lambda s: "B" + s[1:], "version"),
        (lambda s: s + ".", "empty segment"),
        (lambda s: s + "." + s.split(".")[0], "second core segment"),
        (lambda s: s + "." + s.split(".")[1], "more than one disclosed-vendors"),
        (lambda s: s.replace(".", ".#"), "base64url"),
        (lambda s: s + ".8AAA", "unknown type 7"),
    ],
)
def test_decode_errors_say_where(mangle, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidTCString, match=field):
        decode_tc_string(mangle(tc()))


def test_a_cmp_resending_its_old_string_does_not_undo_a_withdrawal(p: Personalizer) -> None:
    """A CMP re-sends its stored string on every page view; after the person withdrew elsewhere
    (the why page), that string is not a new choice (found by an attacker review)."""
    text = tc()
    p.consent.apply_tcf("carol", text, VENDOR)
    p.consent.withdraw("carol", "personalization", source="why-page")
    again = p.consent.apply_tcf("carol", text, VENDOR)
    assert "personalization" in again.unchanged and "personalization" not in again.granted
    assert p.consent.state("carol").purposes["personalization"] == "withdrawn"
    # an older string the person's withdrawal supersedes is not a new choice either
    older = tc(last_updated=WHEN.replace(day=1), created=WHEN.replace(day=1))
    p.consent.apply_tcf("carol", older, VENDOR)
    assert p.consent.state("carol").purposes["personalization"] == "withdrawn"
    # a string the person updated in the CMP after withdrawing is
    time.sleep(1.1)  # TC strings count time in deciseconds and may not lie in the future
    newer = datetime.now(UTC).replace(microsecond=0)
    p.consent.apply_tcf("carol", tc(last_updated=newer, created=WHEN), VENDOR)
    assert p.consent.state("carol").purposes["personalization"] == "given"
