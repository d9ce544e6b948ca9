"""Consent: purposes, notices, DPV statuses, idempotency, historic imports, rebuild from the log,
fail-closed behaviour."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.consent import BUILTIN_PURPOSES, DPV_STATUS, Purpose
from sdk.errors import ConsentUnavailable, InvalidConsentEvent, UnknownPurpose
from sdk.types import Notice

DPV = "https://w3id.org/dpv#"


def test_builtin_purposes_carry_basis_dpv_and_tcf(p: Personalizer) -> None:
    by_id = {x.id: x for x in BUILTIN_PURPOSES}
    for needed in ("service", "personalization", "profiling", "analytics", "marketing"):
        assert needed in by_id
    assert by_id["service"].legal_basis == "contract"
    assert by_id["personalization"].dpv_iri == DPV + "ServicePersonalisation"
    assert by_id["personalization"].tcf_purposes == (5, 6)
    assert by_id["fraud_prevention"].legal_basis == "legitimate_interest"
    assert all(x.dpv_iri.startswith(DPV) for x in BUILTIN_PURPOSES)
    assert [x.id for x in p.consent.purposes.for_tcf(5)] == ["personalization"]


def test_app_defined_purpose_is_recorded_and_survives_reopen(db_path: Path) -> None:
    newsletter = Purpose(
        id="newsletter",
        name="Weekly newsletter",
        description="A weekly e-mail with new products.",
        legal_basis="consent",
        dpv="dpv:DirectMarketing",
        validity_days=30,
    )
    with Personalizer.open(db_path) as p:
        p.consent.purposes.register(newsletter)
        size = p.ledger.size
        p.consent.purposes.register(newsletter)  # the same definition again: nothing new
        assert p.ledger.size == size
        with pytest.raises(UnknownPurpose, match="different definition"):
            p.consent.purposes.register(newsletter.model_copy(update={"legal_basis": "contract"}))
        receipt = p.consent.grant("ann", "newsletter")
        assert receipt.expires_at is not None
        assert timedelta(days=29) < receipt.expires_at - receipt.at <= timedelta(days=30)
    with Personalizer.open(db_path) as p:  # nobody registers it again: the log knows it
        assert p.consent.purposes.get("newsletter") == newsletter
        assert p.consent.state("ann").allows("newsletter")
        later = datetime.now(UTC) + timedelta(days=31)
        assert p.consent.state("ann", as_of=later).purposes["newsletter"] == "expired"


def test_objection_to_legitimate_interest(p: Personalizer) -> None:
    assert p.consent.state("ben").purposes["fraud_prevention"] == "not_required"
    p.consent.object("ben", "fraud_prevention", source="privacy-center")
    state = p.consent.state("ben")
    assert state.purposes["fraud_prevention"] == "objected"
    assert not state.allows("fraud_prevention")
    with pytest.raises(InvalidConsentEvent, match="withdraw"):
        p.consent.object("ben", "personalization")
    with pytest.raises(InvalidConsentEvent, match="nothing to object"):
        p.consent.object("ben", "service")
    p.consent.grant("ben", "fraud_prevention")  # the person lifts the objection
    assert p.consent.state("ben").allows("fraud_prevention")


def test_notice_versions_make_old_consent_stale(p: Personalizer) -> None:
    v1 = p.consent.notices.register("privacy", version="1", text="We personalise.")
    assert v1.text_sha256 is not None and len(v1.text_sha256) == 64
    receipt = p.consent.grant("cem", ["personalization", "analytics"], notice="privacy")
    assert receipt.notice == v1
    before = datetime.now(UTC)
    size = p.ledger.size
    assert p.consent.notices.register("privacy", version="1", text="We personalise.") == v1
    assert p.ledger.size == size  # idempotent
    with pytest.raises(InvalidConsentEvent, match="new version"):
        p.consent.notices.register("privacy", version="1", text="We personalise more.")
    p.consent.notices.register("privacy", version="2", text="We personalise and profile.")
    state = p.consent.state("cem")
    assert state.purposes["personalization"] == "stale" and not state.allows("personalization")
    assert p.consent.state("cem", as_of=before).allows("personalization")
    p.consent.configure(accept_stale=True)
    assert p.consent.state("cem").allows("personalization")
    p.consent.configure(accept_stale=False)
    assert not p.consent.state("cem").allows("personalization")
    renewed = p.consent.grant("cem", "personalization", notice="privacy")
    assert renewed.notice is not None and renewed.notice.version == "2"
    assert p.consent.state("cem").purposes["personalization"] == "renewed"
    assert p.consent.state("cem").purposes["analytics"] == "stale"
    with pytest.raises(InvalidConsentEvent, match="no registered version"):
        p.consent.grant("cem", "analytics", notice=Notice(notice_id="privacy", version="7"))
    bad_hash = Notice(notice_id="privacy", version="2", text_sha256="0" * 64)
    with pytest.raises(InvalidConsentEvent, match="differs"):
        p.consent.grant("cem", "analytics", notice=bad_hash)


def test_every_dpv_status(p: Personalizer) -> None:
    c = p.consent
    c.grant("dia", "personalization")
    c.refuse("dia", "analytics")
    c.grant("dia", "marketing", expires_at=datetime.now(UTC) + timedelta(seconds=30))
    c.grant("dia", "profiling")
    c.invalidate("dia", "profiling", reason="collected without a valid notice")
    c.object("dia", "fraud_prevention")
    later = datetime.now(UTC) + timedelta(minutes=1)
    state = c.state("dia", as_of=later)
    assert state.purposes == {
        "service": "not_required",
        "personalization": "given",
        "profiling": "invalidated",
        "fraud_prevention": "objected",
        "analytics": "refused",
        "marketing": "expired",
        "customer_notes": "not_given",
    }
    assert [s for s in state.purposes if state.allows(s)] == ["service", "personalization"]
    assert DPV_STATUS["refused"] == "dpv:ConsentRefused"
    assert DPV_STATUS["invalidated"] == "dpv:ConsentInvalidated"
    assert DPV_STATUS["renewed"] == "dpv:RenewedConsentGiven"
    assert DPV_STATUS["not_given"] == "dpv:ConsentUnknown"
    with pytest.raises(InvalidConsentEvent):
        c.invalidate("dia", "profiling", reason="")


def test_grant_and_withdraw_are_idempotent(p: Personalizer) -> None:
    c = p.consent
    first = c.grant("eve", ["personalization", "analytics"], notice="n1", source="banner")
    size = p.ledger.size
    again = c.grant("eve", ["analytics", "personalization"], notice="n1", source="banner")
    assert (again.recorded, first.recorded) == (False, True)
    assert again.ledger_seqs == first.ledger_seqs and p.ledger.size == size
    assert len(c.history("eve")) == 2
    c.grant("eve", "personalization", notice="n1", source="banner")  # other terms: new entry
    assert p.ledger.size == size + 1
    w1 = c.withdraw("eve", "personalization")
    w2 = c.withdraw("eve", "personalization")
    assert w1.recorded and not w2.recorded and w1.ledger_seqs == w2.ledger_seqs
    assert p.ledger.size == size + 2
    g = c.grant("eve", "personalization", notice="n1", source="banner")
    assert g.recorded and c.state("eve").allows("personalization")


def test_historic_import_out_of_order_and_future_events(p: Personalizer) -> None:
    c = p.consent
    now = datetime.now(UTC)
    c.grant("fay", "analytics", at=now - timedelta(days=10), source="import")
    c.withdraw("fay", "analytics", at=now - timedelta(days=5), source="import")
    assert c.state("fay", as_of=now - timedelta(days=7)).allows("analytics")
    assert c.state("fay", as_of=now - timedelta(days=11)).purposes["analytics"] == "not_given"
    assert c.state("fay").purposes["analytics"] == "withdrawn"
    assert [e.at for e in c.history("fay")] == [now - timedelta(days=10), now - timedelta(days=5)]
    size = p.ledger.size
    with pytest.raises(InvalidConsentEvent, match="out of order"):
        c.grant("fay", "analytics", at=now - timedelta(days=6))
    with pytest.raises(InvalidConsentEvent, match="future"):
        c.grant("fay", "analytics", at=now + timedelta(hours=1))
    with pytest.raises(InvalidConsentEvent, match="timezone"):
        c.grant("fay", "analytics", at=datetime(2024, 1, 1))
    with pytest.raises(InvalidConsentEvent, match="timezone"):
        c.state("fay", as_of=datetime(2024, 1, 1))
    with pytest.raises(UnknownPurpose):
        c.withdraw("fay", "telepathy")
    assert p.ledger.size == size


def test_view_is_rebuilt_from_the_log_and_equal(
    p: Personalizer, store_url: str, keyring_path: Path
) -> None:
    rng = random.Random(7)
    c = p.consent
    c.notices.register("terms", version="1", text="one")
    people = [f"user-{i}" for i in range(25)]
    purposes = ["personalization", "profiling", "analytics", "marketing"]
    for step in range(300):
        who = rng.choice(people)
        chosen = rng.sample(purposes, rng.randint(1, 3))
        action = rng.random()
        if action < 0.5:
            c.grant(who, chosen, notice="terms", source=rng.choice(["web", "app"]))
        elif action < 0.8:
            c.withdraw(who, chosen)
        elif action < 0.9:
            c.refuse(who, chosen)
        else:
            c.object(who, "fraud_prevention")
        if step == 150:
            c.notices.register("terms", version="2", text="two")
        # the hot-path state always equals a fold from scratch
        pseudo = p._keys.pseudonym(who)
        assert c.state(who).purposes == c._view.fold(pseudo, datetime.now(UTC)).purposes
    snapshot = {
        s: (c.state_of_pseudonym(s).purposes, c.history_of_pseudonym(s)) for s in c.subjects()
    }
    c.rebuild()
    assert {
        s: (c.state_of_pseudonym(s).purposes, c.history_of_pseudonym(s)) for s in c.subjects()
    } == snapshot
    with Personalizer.open(store_url, keyring=keyring_path) as other:
        assert {
            s: (other.consent.state_of_pseudonym(s).purposes, other.consent.history_of_pseudonym(s))
            for s in other.consent.subjects()
        } == snapshot


def test_a_log_that_cannot_be_read_fails_closed(db_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        p.consent.grant("gus", "personalization")
        p.consent.grant("hal", "personalization")
        seq = p.consent.history("hal")[0].seq
    conn = sqlite3.connect(db_path, isolation_level=None)
    (body,) = conn.execute("SELECT body FROM ledger WHERE seq = ?", (seq,)).fetchone()
    conn.execute(
        "UPDATE ledger SET body = ? WHERE seq = ?", (body.replace(b"personal", b"PERSONAL"), seq)
    )
    conn.close()
    with Personalizer.open(db_path) as p:  # opens, so the damage can be inspected
        report = p.consent.verify()
        assert not report.ok and report.first_bad == seq
        with pytest.raises(ConsentUnavailable, match="verify"):
            p.consent.state("gus")  # nobody is authorised on a log nobody can prove
        with pytest.raises(ConsentUnavailable):
            p.consent.state_of_pseudonym(p._keys.pseudonym("gus"))
        with pytest.raises(ConsentUnavailable):
            p.consent.grant("gus", "analytics")


def test_decisions_fail_closed_when_the_consent_log_is_damaged(credit, store_url) -> None:  # type: ignore[no-untyped-def]
    from conftest import feature_row

    p, frame, schema = credit
    subject = frame["subject"].iloc[0]
    features = feature_row(frame, schema, 0)
    assert p.decide(subject, features, model="credit").decision_id
    seq = p.consent.history(subject)[0].seq
    tamper(store_url, "UPDATE ledger SET hash = ? WHERE seq = ?", (b"\x00" * 32, seq))
    p.consent.rebuild()  # what the next process start does
    size = p.ledger.size
    with pytest.raises(ConsentUnavailable):
        p.decide(subject, features, model="credit")
    assert p.ledger.size == size  # no decision was recorded on unprovable consent


def test_concurrent_grants_share_commits_and_match_the_log(p: Personalizer) -> None:
    import threading

    from sdk.consent import verify_receipt

    receipts = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(10):
            r = p.consent.grant(f"thread-{t}-{i}", ["personalization", "analytics"])
            with lock:
                receipts.append(r)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert len(receipts) == 80 and len({r.ledger_seqs for r in receipts}) == 80
    for r in receipts[::9]:
        verify_receipt(r, p.keyring.public_key_bytes())
    live = {s: p.consent.state_of_pseudonym(s).purposes for s in p.consent.subjects()}
    p.consent.rebuild()
    assert {s: p.consent.state_of_pseudonym(s).purposes for s in p.consent.subjects()} == live
    assert p.consent.verify().ok
