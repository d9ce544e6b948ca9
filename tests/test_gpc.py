"""Global Privacy Control: opt-out before the decision, conflicts recorded with both signals and
the person's acknowledgement, state rebuilt from the ledger."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sdk import Personalizer
from sdk.consent.gpc import SIGNAL_STREAM, gpc_header_is_on
from sdk.consent.tcf import TCModel, encode_tc_string
from sdk.errors import GPCConflict, InvalidConsentEvent, UnknownPurpose


def _signals(p: Personalizer) -> list:  # type: ignore[type-arg]
    return list(p.ledger.entries(stream=SIGNAL_STREAM))


def test_the_header_withdraws_marketing_before_the_decision(p: Personalizer) -> None:
    p.consent.grant("alice", ["marketing", "personalization"])
    receipt = p.consent.apply_gpc("alice", "1")
    assert receipt is not None and receipt.action == "withdraw"
    assert receipt.purposes == ("marketing",) and receipt.source == "gpc"
    state = p.consent.state("alice")  # what the next decision in this request sees
    assert not state.allows("marketing") and state.allows("personalization")
    assert p.consent.gpc.active("alice")
    # the same header on the next requests records nothing
    size = p.ledger.size
    assert p.consent.apply_gpc("alice", " 1 ") is None
    assert p.ledger.size == size


@pytest.mark.parametrize("value", [None, "", "0", "true", "1,1", "11", b"0", "1" * 100])
def test_only_the_value_1_is_a_signal(p: Personalizer, value: object) -> None:
    assert gpc_header_is_on(value) is False  # type: ignore[arg-type]
    assert p.consent.apply_gpc("bob", value) is None  # type: ignore[arg-type]
    assert not p.consent.gpc.active("bob")
    assert gpc_header_is_on(b"1") and gpc_header_is_on("1")


def test_a_header_of_the_wrong_type_is_a_typed_error(p: Personalizer) -> None:
    with pytest.raises(InvalidConsentEvent):
        p.consent.apply_gpc("bob", 1)  # type: ignore[arg-type]


def test_opt_in_against_the_signal_needs_acknowledgement(p: Personalizer) -> None:
    p.consent.apply_gpc("alice", "1")
    signal = _signals(p)[-1]
    assert signal.kind == "gpc.signal" and signal.data["on"] is True
    size = p.ledger.size
    with pytest.raises(GPCConflict, match="acknowledge_gpc_conflict=True"):
        p.consent.grant("alice", ["marketing", "analytics"], source="settings-page")
    assert p.ledger.size == size  # nothing recorded
    assert p.consent.state("alice").purposes["marketing"] == "withdrawn"
    p.consent.grant("alice", "analytics")  # not covered by GPC: no conflict

    receipt = p.consent.grant(
        "alice", ["marketing"], source="settings-page", acknowledge_gpc_conflict=True
    )
    assert p.consent.state("alice").allows("marketing")
    conflict = _signals(p)[-1]
    assert conflict.kind == "gpc.conflict"
    assert conflict.data["gpc_signal"] == {"seq": signal.seq, "hash": signal.hash, "sec_gpc": "1"}
    assert conflict.data["opt_in"] == {
        "seq": receipt.ledger_seqs[0],
        "hash": receipt.entry_hashes[0],
        "source": "settings-page",
    }
    assert conflict.data["acknowledged"] is True and conflict.data["purposes"] == ["marketing"]
    # the acknowledged opt-in survives the header on later requests
    assert p.consent.apply_gpc("alice", "1") is None
    assert p.consent.state("alice").allows("marketing")


def test_the_signal_turning_off_and_on_again(p: Personalizer) -> None:
    p.consent.apply_gpc("alice", "1")
    p.consent.grant("alice", "marketing", acknowledge_gpc_conflict=True)
    p.consent.apply_gpc("alice", None)  # a request without the header: the signal is off
    assert not p.consent.gpc.active("alice")
    assert [e.data["on"] for e in _signals(p) if e.kind == "gpc.signal"] == [True, False]
    p.consent.withdraw("alice", "marketing")
    p.consent.grant("alice", "marketing")  # no signal: no conflict
    receipt = p.consent.apply_gpc("alice", "1")  # on again: a fresh opt-out
    assert receipt is not None and receipt.purposes == ("marketing",)


def test_the_covered_purposes_are_configurable(p: Personalizer) -> None:
    assert p.consent.gpc.purposes == ("marketing",)
    p.consent.gpc.purposes = ["marketing", "analytics"]
    p.consent.grant("carol", ["marketing", "analytics", "personalization"])
    receipt = p.consent.apply_gpc("carol", "1")
    assert receipt is not None and set(receipt.purposes) == {"marketing", "analytics"}
    with pytest.raises(UnknownPurpose):
        p.consent.gpc.purposes = ["sale_of_data"]


def test_the_signal_state_is_rebuilt_from_the_ledger(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.consent.apply_gpc("alice", "1")
    with Personalizer.open(db_path) as p:
        assert p.consent.gpc.active("alice")
        with pytest.raises(GPCConflict):
            p.consent.grant("alice", "marketing")


def test_tcf_consent_does_not_override_an_active_signal(p: Personalizer) -> None:
    when = datetime(2026, 3, 2, tzinfo=UTC)
    text = encode_tc_string(
        TCModel(
            created=when,
            last_updated=when,
            cmp_id=31,
            vendor_list_version=140,
            purpose_consents={3, 4, 5, 6},
            vendor_consents={755},
            vendors_disclosed={755},
        )
    )
    p.consent.apply_gpc("alice", "1")
    held = p.consent.apply_tcf("alice", text, 755)
    assert held.held_by_gpc == ("marketing",) and held.granted == ("personalization",)
    assert not p.consent.state("alice").allows("marketing")
    confirmed = p.consent.apply_tcf("alice", text, 755, acknowledge_gpc_conflict=True)
    assert confirmed.granted == ("marketing",)
    assert p.consent.state("alice").allows("marketing")
    assert _signals(p)[-1].kind == "gpc.conflict"


def test_signals_and_grants_from_many_threads_do_not_deadlock(p: Personalizer) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                subject = f"s{(n + i) % 4}"  # threads share subjects
                p.consent.apply_gpc(subject, "1")
                with contextlib.suppress(GPCConflict):  # unacknowledged: refused, as it should
                    p.consent.grant(subject, "marketing", acknowledge_gpc_conflict=i % 2 == 0)
                p.consent.apply_gpc(subject, None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    assert p.consent.verify().ok
