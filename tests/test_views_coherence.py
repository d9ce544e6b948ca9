"""Every ledger-derived view sees the other processes' writes on its very next call.

Process A is this test; process B is a long-lived Python child that opens the same store and
runs one command per line it reads (JSON over a pipe), answering once its write is committed.
A acts right after B answers: a withdrawal, sign-off, decision, review, preference, GPC signal,
notice or purpose that B recorded must count in A's next call, although A appends entries of its
own in between (which once made A's consent view skip B's entries).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import Personalizer, ReviewPolicy
from sdk.consent import Purpose
from sdk.errors import SubjectErased

TRIALS = 1000

_PEER = r"""
import json, sys
from sdk import Personalizer
from sdk.consent import Purpose

p = Personalizer.open(sys.argv[1], keyring=sys.argv[2])
features = json.loads(sys.argv[3])

def run(op, a):
    if op == "withdraw":
        return list(p.consent.withdraw(a["subject"], a["purposes"]).ledger_seqs)
    if op == "grant":
        receipt = p.consent.grant(a["subject"], a["purposes"], notice=a.get("notice"))
        return list(receipt.ledger_seqs)
    if op == "sign_off":
        return p.models.sign_off(a["name"], a["version"], reviewer="peer.reviewer").seq
    if op == "decide":
        return p.decide(a["subject"], features, model=a["model"]).decision_id
    if op == "decision":
        return p.decision(a["decision_id"]).status
    if op == "approve":
        return p.reviews.approve(a["decision_id"], reviewer="peer.reviewer").status
    if op == "profiling":
        return p.preferences.set_profiling(a["subject"], a["enabled"]).profiling
    if op == "gpc":
        receipt = p.consent.apply_gpc(a["subject"], "1")
        return None if receipt is None else list(receipt.ledger_seqs)
    if op == "notice":
        return p.consent.notices.register(a["id"], version=a["version"], text=a["text"]).version
    if op == "purpose":
        return p.consent.purposes.register(Purpose.model_validate(a["purpose"], strict=False)).id
    if op == "erase":
        return p.subjects.erase(a["subject"]).ledger_seq
    if op == "size":
        return p.ledger.size
    raise ValueError(op)

for line in sys.stdin:
    message = json.loads(line)
    try:
        reply = {"result": run(message["op"], message["args"])}
    except Exception as exc:
        reply = {"error": type(exc).__name__, "code": getattr(exc, "code", None)}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
"""


class Peer:
    """Process B: a child Python process with its own Personalizer on the same store."""

    def __init__(self, store_url: str, keyring: Path, features: dict[str, float]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _PEER, store_url, str(keyring), json.dumps(features)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def __call__(self, op: str, **args: Any) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, "the peer process died"
        reply = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"peer failed: {reply}")
        return reply["result"]

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=60)


@pytest.fixture
def shared(
    store_url: str, keyring_path: Path
) -> Iterator[tuple[Personalizer, Peer, dict[str, float]]]:
    """A (this process) with a signed German-credit classifier, and B on the same store."""
    frame, schema = german_credit()
    frame = frame.iloc[:300].reset_index(drop=True)
    with Personalizer.open(store_url, keyring=keyring_path) as a:
        signed_classifier(a, frame, schema, band=None, rounds=8)
        features = feature_row(frame, schema, 5)
        peer = Peer(store_url, keyring_path, features)
        try:
            assert peer("size") == a.ledger.size  # B is up (and saw the same log)
            yield a, peer, features
        finally:
            peer.close()


def _record(p: Personalizer, decision_id: str) -> dict[str, Any]:
    entry, _ = p.audit.entries_of(decision_id)
    return entry.data


def test_a_withdrawal_in_another_process_counts_in_the_next_decision(shared) -> None:  # type: ignore[no-untyped-def]
    a, peer, features = shared
    subject = "applicant-0007"
    a.consent.grant(subject, "profiling")
    stale = []
    for trial in range(TRIALS):
        withdraw = trial % 2 == 0
        seqs = peer("withdraw" if withdraw else "grant", subject=subject, purposes=["profiling"])
        decision = a.decide(subject, features, model="credit")  # A appends its own entry too
        record = _record(a, decision.decision_id)
        held = decision.status == "pending_review" and bool(record["consent"]["missing"])
        if seqs[0] not in record["consent"]["based_on"] or (held != withdraw):
            stale.append(trial)
    assert stale == [], f"{len(stale)} of {TRIALS} decisions used consent B had changed"
    # the view folded incrementally equals one rebuilt from the log alone
    live = a.consent.state(subject)
    a.consent.rebuild()
    assert a.consent.state(subject).purposes == live.purposes
    assert a.consent.state(subject).based_on == live.based_on


def test_sign_offs_decisions_and_reviews_of_another_process(shared) -> None:  # type: ignore[no-untyped-def]
    a, peer, features = shared
    frame, schema = german_credit()
    policy = ReviewPolicy(uncertainty_band=(0.0, 1.0))  # every decision of v2 waits for a person
    a.models.train_classifier(
        "credit", frame.iloc[:300], schema, target="good", review_policy=policy,
        num_boost_round=8,
    )
    assert a.models.serving("credit").version == 1
    peer("sign_off", name="credit", version=2)
    assert a.models.serving("credit").version == 2  # B's sign-off serves at once in A
    a.models.check_signed(a.models.get("credit", 2))

    decision_id = peer("decide", subject="applicant-0001", model="credit")
    # A finds, explains and reviews B's decision; B sees A's review
    assert a.decision(decision_id).status == "pending_review"
    assert decision_id in [d.decision_id for d in a.reviews.pending()]
    assert a.explain(decision_id).decision_id == decision_id
    assert a.explain(decision_id, audience="reviewer").contributions
    a.reviews.approve(decision_id, reviewer="staff.a")
    assert peer("decision", decision_id=decision_id) == "approved"
    mine = a.decide("applicant-0002", features, model="credit")
    assert peer("approve", decision_id=mine.decision_id) == "approved"
    assert a.decision(mine.decision_id).status == "approved"
    assert a.audit.verify().ok


def test_preferences_gpc_notices_and_purposes_of_another_process(shared) -> None:  # type: ignore[no-untyped-def]
    a, peer, _ = shared
    subject = "applicant-0003"
    a.preferences.not_interested(subject, "item-1")  # A has a cached state for the person
    assert a.preferences.state(subject).profiling
    assert peer("profiling", subject=subject, enabled=False) is False
    assert a.preferences.state(subject).profiling is False
    assert a.preferences.state(subject).excluded_items == ("item-1",)

    a.consent.grant(subject, "marketing")
    assert peer("gpc", subject=subject)  # B withdraws marketing for the signal
    assert a.consent.gpc.active(subject)
    assert a.consent.state(subject).purposes["marketing"] == "withdrawn"

    assert peer("notice", id="terms", version="1", text="first text") == "1"
    a.consent.grant(subject, "personalization", notice="terms")
    assert peer("notice", id="terms", version="2", text="second text") == "2"
    assert a.consent.state(subject).purposes["personalization"] == "stale"
    receipt = a.consent.grant(subject, "personalization", notice="terms")
    assert receipt.recorded and receipt.notice is not None and receipt.notice.version == "2"

    newsletter = Purpose(
        id="newsletter",
        name="Newsletter",
        description="A monthly e-mail about new makers.",
        legal_basis="consent",
        dpv="dpv:Marketing",
    )
    assert peer("purpose", purpose=newsletter.model_dump(mode="json")) == "newsletter"
    a.consent.grant(subject, "newsletter")  # known in A without registering it here
    assert a.consent.state(subject).purposes["newsletter"] == "given"
    assert a.consent.purposes.register(newsletter) == newsletter  # same definition: no-op

    # B erases the person: A's cached preferences of them are gone on A's next call
    peer("erase", subject=subject)
    assert a.preferences.state(subject).excluded_items == ()
    with pytest.raises(SubjectErased):
        a.subjects.export(subject)
