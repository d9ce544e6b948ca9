"""Staff picks, shop-wide item decisions and the sampled list review, on the demo shop with a
real LightGBM ranker: slots, plain-words why (en, de), consent, expiry, "not interested",
blocks across processes, the seeded sample and the off-brand metric."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import all_bytes

from sdk import Personalizer, ReviewPolicy
from sdk.audit.oversight import sample_draw
from sdk.demo.shop import (
    CREDIT_FEATURES,
    Shop,
    candidates_for,
    credit_frame,
    generate_shop,
    ranking_frame,
)
from sdk.demo.story import credit_schema, ranking_schema
from sdk.errors import CurationError, ListReviewError, SubjectErased
from sdk.types import Disclosure

WHO = "cust-0007"  # consents to personalization in the demo shop
OTHER = "cust-0011"


@pytest.fixture(scope="module")
def shop_p(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Personalizer, Shop]]:
    shop = generate_shop(seed=7)
    path: Path = tmp_path_factory.mktemp("curation") / "shop.db"
    with Personalizer.open(path) as p:
        consenting = shop.customers["customer_id"][shop.customers["consents_to_personalization"]]
        for customer in consenting:
            p.consent.grant(customer, "personalization")
        p.consent.grant(WHO, "customer_notes")
        p.models.train_ranker("r", ranking_frame(shop), ranking_schema(), target="relevance",
                              group="query_id", num_boost_round=20)
        p.models.sign_off("r", 1, reviewer="reviewer.tests")
        p.curation.configure(staff_slots=(0, 3), staff_names={"anna.k": "Anna"})
        yield p, shop


def cands(shop: Shop, who: str = WHO) -> pd.DataFrame:
    return candidates_for(shop, who)


def low_ranked(p: Personalizer, shop: Shop, who: str = WHO, n: int = 2) -> list[str]:
    """Items the model ranks low for ``who`` (so a pick visibly changes the list)."""
    frame = cands(shop, who)
    ranked = p.recommend(who, frame, model="r", k=len(frame))
    return [i.item_id for i in ranked.items[-n:]]


def clear_picks(p: Personalizer, who: str = WHO) -> None:
    for pick in p.curation.picks(who):
        p.curation.unpick(who, pick.item_id, staff="owner")


def test_picks_take_the_configured_slots_with_a_plain_why(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    p.consent.grant(WHO, "customer_notes")
    note = p.notes.add(WHO, "Something warm for winter evenings")
    a, b = low_ranked(p, shop)
    p.curation.pick(WHO, a, staff="anna.k", note_id=note.note_id, reason="warm, handmade")
    p.curation.pick(WHO, b, staff="ben.w")  # no display name configured, no note
    recs = p.recommend(WHO, cands(shop), model="r", k=5)
    sources = [i.source for i in recs.items]
    assert sources == ["staff", "personal", "personal", "staff", "personal"]
    assert [recs.items[0].item_id, recs.items[3].item_id] == [a, b]
    assert recs.items[0].why == "Picked for you by Anna at the shop, after your note."
    assert recs.items[3].why == "Picked for you by a person at the shop."
    first = recs.items[0].disclosure
    assert first is not None and first.staff_pick and not first.automated
    assert recs.disclosure is not None and recs.disclosure.staff_pick and recs.disclosure.automated
    explained = p.explain(recs.decision_id, item_id=a)
    assert explained.text == "Picked for you by Anna at the shop, after your note."
    assert explained.disclosure is not None and explained.disclosure.staff_pick
    german = p.recommend(WHO, cands(shop), model="r", k=5, locale="de")
    assert german.items[0].why == "Für Sie ausgesucht von Anna im Shop, nach Ihrer Nachricht."
    assert german.items[0].disclosure.text == "Von einem Menschen im Shop von Hand ausgesucht."  # type: ignore[union-attr]
    # the record says which pick it was (the why can be rebuilt); the reason is not on it
    entry, _ = p.audit.entries_of(recs.decision_id)
    assert entry.data["items"][0]["pick"]["staff"] == "anna.k"
    assert entry.data["curation"]["staff_picks"] == 2
    assert "warm, handmade" not in json.dumps([e.data for e in p.ledger.entries()])
    # other people do not get this person's picks
    assert "staff" not in {i.source for i in p.recommend(OTHER, cands(shop, OTHER), model="r",
                                                         k=5).items}
    p.curation.configure(staff_slots=(1,))
    one = p.recommend(WHO, cands(shop), model="r", k=5)
    assert [i.source for i in one.items][:2] == ["personal", "staff"]
    p.curation.configure(staff_slots=(0, 3))
    gone = p.curation.unpick(WHO, b, staff="anna.k")
    assert [g.item_id for g in gone] == [b]
    assert [i.item_id for i in p.recommend(WHO, cands(shop), model="r", k=5).items
            if i.source == "staff"] == [a]
    clear_picks(p)


def test_picks_need_personal_use_and_respect_not_interested(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    who = "cust-0016"
    a, b = low_ranked(p, shop, who)
    p.consent.grant(who, "personalization")
    p.curation.pick(who, a, staff="anna.k")
    p.curation.pick(who, b, staff="anna.k")
    assert sum(i.source == "staff" for i in p.recommend(who, cands(shop, who), model="r",
                                                         k=5).items) == 2
    # the person's "not interested" beats a staff pick
    p.preferences.not_interested(who, b)
    served = p.recommend(who, cands(shop, who), model="r", k=5).items
    assert b not in {i.item_id for i in served} and served[0].item_id == a
    # a non-profiling list uses no personal data: no picks
    plain = p.recommend(who, cands(shop, who), model="r", k=5, profiling=False)
    assert "staff" not in {i.source for i in plain.items}
    # without consent to personal use: no picks
    p.consent.withdraw(who, "personalization")
    withdrawn = p.recommend(who, cands(shop, who), model="r", k=5)
    assert not withdrawn.personalized and "staff" not in {i.source for i in withdrawn.items}
    p.consent.grant(who, "personalization")
    assert p.recommend(who, cands(shop, who), model="r", k=5).items[0].source == "staff"
    # erased with the person: the pick records stay on the ledger, nothing in them is readable,
    # and the id no longer leads to them (its pseudonym was re-pointed)
    old = p.keys.pseudonym(who)
    p.subjects.erase(who)
    assert p.curation.picks(who) == []
    assert len(list(p.ledger.entries(stream="curation", subject=old))) == 2
    assert list(p.ledger.entries(stream="curation", subject=p.keys.pseudonym(who))) == []


def test_picks_expire(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    who = "cust-0019"
    p.consent.grant(who, "personalization")
    [a] = low_ranked(p, shop, who, n=1)
    p.curation.pick(who, a, staff="anna.k", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    assert p.recommend(who, cands(shop, who), model="r", k=5).items[0].item_id == a
    time.sleep(1.1)
    assert p.curation.picks(who) == []
    assert a not in {i.item_id for i in p.recommend(who, cands(shop, who), model="r", k=5).items}
    with pytest.raises(CurationError, match="past"):
        p.curation.pick(who, a, staff="anna.k", expires_at=datetime.now(UTC) - timedelta(1))
    with pytest.raises(CurationError, match="no note"):
        p.curation.pick(who, a, staff="anna.k", note_id="note_" + "0" * 24)
    with pytest.raises(CurationError, match="no current pick"):
        p.curation.unpick(who, "item-999", staff="anna.k")
    with pytest.raises(CurationError, match="staff"):
        p.curation.pick(who, a, staff="")


def test_block_allow_feature_apply_to_everyone(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    top = p.recommend(OTHER, cands(shop, OTHER), model="r", k=3).items[0].item_id
    p.curation.pick(WHO, top, staff="anna.k")
    decision = p.curation.block(top, staff="owner", reason="supplier recall")
    assert decision.verdict == "blocked" and top in p.curation.blocked()
    for who in (OTHER, WHO, "cust-0002"):  # consenting, with a pick of it, never consented
        recs = p.recommend(who, cands(shop, who), model="r", k=10)
        assert top not in {i.item_id for i in recs.items}
    p.curation.allow(top, staff="owner")
    assert top in {i.item_id for i in p.recommend(OTHER, cands(shop, OTHER), model="r",
                                                  k=3).items}
    clear_picks(p)
    low = low_ranked(p, shop, OTHER, n=1)[0]
    p.curation.feature(low, staff="owner", reason="winter window")
    recs = p.recommend(OTHER, cands(shop, OTHER), model="r", k=5)
    assert recs.items[0].item_id == low and recs.items[0].source == "promoted"
    assert recs.items[0].why.startswith("Promoted: the shop chose to show this item here.")
    assert recs.items[0].disclosure.promoted and recs.disclosure.promoted  # type: ignore[union-attr]
    assert p.explain(recs.decision_id, item_id=low).text.startswith("Promoted: the shop chose")
    p.curation.allow(low, staff="owner")
    items = p.ledger.entries(stream="curation", kinds=["curation.item"])
    kinds = [e.data["verdict"] for e in items]
    assert kinds[-4:] == ["blocked", "allowed", "featured", "allowed"]
    with pytest.raises(CurationError, match="reason"):
        p.curation.block(low, staff="owner", reason=" ")


def test_a_block_in_another_process_applies_to_the_next_list(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    top = p.recommend(OTHER, cands(shop, OTHER), model="r", k=1).items[0].item_id
    script = (
        "import sys; from sdk import Personalizer\n"
        "with Personalizer.open(sys.argv[1]) as q:\n"
        "    q.curation.block(sys.argv[2], staff='owner', reason='off-brand')\n"
    )
    subprocess.run([sys.executable, "-c", script, str(p.path), top], check=True, timeout=120)
    assert top not in {i.item_id for i in p.recommend(OTHER, cands(shop, OTHER), model="r",
                                                      k=10).items}
    p.curation.allow(top, staff="owner")


def test_sampled_lists_review_blocks_off_brand_items_and_measures(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    p.oversight.configure(rates={"r": 0.5})
    served = [p.recommend(f"cust-{n:04d}", cands(shop, f"cust-{n:04d}"), model="r", k=4)
              for n in range(20, 40)]
    expected = [r.decision_id for r in served if sample_draw(r.decision_id) < 0.5]
    queued = [s.decision_id for s in p.oversight.queue()]
    assert queued == expected and 0 < len(queued) < 20  # seeded by the decision id, per model
    assert sample_draw(served[0].decision_id) == sample_draw(served[0].decision_id)
    p.oversight.configure(rates={"r": 0.0})
    p.recommend(WHO, cands(shop), model="r", k=4)
    assert len(p.oversight.queue()) == len(queued)
    first, second = p.oversight.queue()[:2]
    bad = first.items[2]
    reviewed = p.oversight.review(first.decision_id, staff="owner", off_brand=[bad],
                                  reason="plastic: not what the shop stands for")
    assert reviewed.reviewed and reviewed.off_brand == (bad,)
    assert p.curation.item_decisions()[bad].verdict == "blocked"
    p.oversight.review(second.decision_id, staff="owner")  # all fine
    [metric] = p.oversight.metrics("r")
    assert (metric.model, metric.model_version) == ("r", 1)
    assert (metric.sampled, metric.reviewed, metric.with_off_brand) == (len(queued), 2, 1)
    assert metric.off_brand_share == 0.5
    assert all(bad not in {i.item_id for i in p.recommend(f"cust-{n:04d}",
               cands(shop, f"cust-{n:04d}"), model="r", k=10).items} for n in range(20, 24))
    with pytest.raises(ListReviewError, match="already"):
        p.oversight.review(first.decision_id, staff="owner")
    with pytest.raises(ListReviewError, match="not in this list"):
        p.oversight.review(p.oversight.queue()[0].decision_id, staff="o", off_brand=["nope"])
    with pytest.raises(ListReviewError, match="not sampled"):
        p.oversight.review("dec_" + "0" * 32, staff="owner")
    p.curation.allow(bad, staff="owner")


# -- disclosure on every response -------------------------------------------------------------


def _check(disclosure: Disclosure | None, locale: str, *, automated: bool) -> Disclosure:
    assert disclosure is not None, "a response reached a person without a disclosure"
    assert disclosure.locale == locale and disclosure.automated is automated
    assert disclosure.contact == CONTACT[locale]
    said_automated = "automat" in disclosure.text.lower()
    assert said_automated == automated
    return disclosure


CONTACT = {"en": "Ask for a person: p.contact.request, or the why page.",
           "de": "Einen Menschen fragen: über die Warum-Seite."}


def test_every_path_to_a_person_carries_a_truthful_disclosure(shop_p) -> None:  # type: ignore[no-untyped-def]
    p, shop = shop_p
    p.contact.configure(contact_text=CONTACT)
    credit = credit_frame(shop)
    for subject in credit["subject"]:
        # a person erased by an earlier test of this module takes no new consent
        with contextlib.suppress(SubjectErased):
            p.consent.grant(subject, "profiling")
    p.models.train_classifier("credit", credit, credit_schema(), target="repaid",
                              outcomes=("declined", "approved"), num_boost_round=10,
                              review_policy=ReviewPolicy(uncertainty_band=(0.0, 1.0)))
    p.models.sign_off("credit", 1, reviewer="reviewer.tests")
    who = str(credit["subject"].iloc[3])
    row = credit.iloc[3]
    features = {name: float(row[name]) for name in CREDIT_FEATURES}
    [pick] = low_ranked(p, shop, who, n=1)
    p.consent.grant(who, "personalization")
    p.curation.pick(who, pick, staff="anna.k")
    for locale in ("en", "de"):
        recs = p.recommend(who, cands(shop, who), model="r", k=5, locale=locale)
        _check(recs.disclosure, locale, automated=True)
        assert recs.disclosure.staff_pick  # type: ignore[union-attr]
        for item in recs.items:
            d = _check(item.disclosure, locale, automated=item.source != "staff")
            assert d.staff_pick == (item.source == "staff")
            for audience in ("end_user", "reviewer", "auditor"):
                e = p.explain(recs.decision_id, item_id=item.item_id, audience=audience,
                              locale=locale)
                assert e.disclosure == d
        held = p.decide(who, features, model="credit", locale=locale)
        assert held.status == "pending_review"
        d = _check(held.disclosure, locale, automated=True)
        assert d.pending_review
        for audience in ("end_user", "reviewer", "auditor"):
            e = p.explain(held.decision_id, audience=audience, locale=locale)
            assert e.disclosure == d
        assert p.decision(held.decision_id, locale=locale).disclosure == d
    # a person's outcome is never called automated, not even after a later contest
    first, second = list(p.audit.decisions(status="pending_review"))[-2:]
    approved = p.reviews.approve(first, reviewer="rev.1")
    d = _check(approved.disclosure, "en", automated=False)
    assert d.reviewed and "confirmed" in d.text
    overridden = p.reviews.override(second, outcome="declined", reviewer="rev.1", reason="checked")
    d = _check(overridden.disclosure, "en", automated=False)
    assert d.reviewed and "changed the outcome" in d.text
    contested = p.contest(second, message="please look again")
    d = _check(contested.disclosure, "en", automated=False)
    assert d.reviewed and d.pending_review and "again" in d.text
    assert not _check(p.explain(second, locale="de").disclosure, "de", automated=False).automated
    export = p.subjects.export(who)
    assert export.decisions and len(export.explanations) == len(export.decisions)
    assert {d.decision_id for d in export.decisions} == {first, second}
    for decision, explanation in zip(export.decisions, export.explanations, strict=True):
        assert decision.disclosure is not None and explanation.disclosure == decision.disclosure
        assert decision.disclosure.reviewed and not decision.disclosure.automated
    # the automated path proper: no review band, no person involved
    p.models.train_classifier("credit-auto", credit, credit_schema(), target="repaid",
                              outcomes=("declined", "approved"), num_boost_round=5)
    p.models.sign_off("credit-auto", 1, reviewer="reviewer.tests")
    auto = p.decide(who, features, model="credit-auto", locale="de")
    assert auto.status == "automated"
    d = _check(auto.disclosure, "de", automated=True)
    assert d.text == "Von einem automatisierten System entschieden."


# -- canaries: a note, a contact message and a pick reason stay out of every output ----------

CANARY_NOTE = "canary-note-5b1e0c Zebulon wants ochre yarn"
CANARY_MESSAGE = "canary-msg-77ad21 call 0170-5550123"
CANARY_REASON = "canary-reason-c4f9e3 matches her note"
CANARY_SUBJECT = "canary.person.93e1@example.org"

_CHILD = r'''
import json, logging, sys
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sdk import Personalizer
from sdk.demo.shop import candidates_for, generate_shop
from sdk.errors import WhylensError

db, log_path, who, note, message, reason = sys.argv[1:7]
spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
handler = logging.FileHandler(log_path)
logging.getLogger("sdk").addHandler(handler)
logging.getLogger("sdk").setLevel(logging.DEBUG)
errors = []
shop = generate_shop(seed=7)
with Personalizer.open(db) as p:
    try:
        p.notes.add(who, note)
    except WhylensError as exc:
        errors.append(str(exc))
    p.consent.grant(who, ["personalization", "customer_notes"])
    added = p.notes.add(who, note, topic=note)
    p.notes.resolve(added.note_id, staff="anna.k", action="picked_items", reply=note)
    frame = candidates_for(shop, "cust-0007")
    low = p.recommend(who, frame, model="r", k=len(frame)).items[-1].item_id
    p.curation.pick(who, low, staff="anna.k", note_id=added.note_id, reason=reason)
    case = p.contact.request(who, message=message, topic=message[:20])
    p.contact.close(case.case_id, staff="anna.k", note=message)
    p.oversight.configure(rates={"r": 1.0})
    recs = p.recommend(who, frame, model="r", k=5)
    assert recs.items[0].source == "staff"
    p.oversight.review(recs.decision_id, staff="owner", off_brand=[recs.items[1].item_id])
    p.curation.allow(recs.items[1].item_id, staff="owner")
    p.oversight.configure(rates={"r": 0.0})
    for bad in (lambda: p.contact.request(who, message=message * 200),
                lambda: p.notes.resolve(added.note_id, staff=note, action="noted"),
                lambda: p.curation.pick(who, reason, staff="anna.k", reason=reason * 100)):
        try:
            bad()
        except WhylensError as exc:
            errors.append(str(exc))
points = []
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                points.append({"name": metric.name, "attributes": dict(point.attributes or {}),
                               "value": getattr(point, "value", None)})
text = []
for span in spans.get_finished_spans():
    text.append(span.name)
    text.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
print(json.dumps({"spans": text, "points": points, "errors": errors}))
'''


def test_canaries_stay_out_of_the_store_exports_logs_spans_and_metrics(  # type: ignore[no-untyped-def]
    shop_p, tmp_path: Path
) -> None:
    p, _ = shop_p
    log_path = tmp_path / "sdk.log"
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(p.path), str(log_path), CANARY_SUBJECT, CANARY_NOTE,
         CANARY_MESSAGE, CANARY_REASON],
        check=True, timeout=300, capture_output=True, text=True,
    )
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(out["errors"]) == 4  # each bad call failed, with a message
    # this process reads what the other wrote: the words decrypt for staff here
    assert CANARY_NOTE in [n.text for n in p.notes.inbox("resolved")]
    assert CANARY_MESSAGE in [c.message for c in p.contact.cases(status="closed")]
    assert CANARY_REASON in [k.reason for k in p.curation.picks(CANARY_SUBJECT)]
    export = tmp_path / "export"
    p.audit.export(export)
    outputs = {
        "database and WAL": all_bytes(p.path),
        "audit export": b"".join(f.read_bytes() for f in sorted(export.iterdir())),
        "logs": log_path.read_bytes() if log_path.exists() else b"",
        "spans": "\n".join(out["spans"]).encode(),
        "metrics": json.dumps(out["points"]).encode(),
        "errors": "\n".join(out["errors"]).encode(),
        "stderr": run.stderr.encode(),
    }
    for canary in (CANARY_NOTE, CANARY_MESSAGE, CANARY_REASON, CANARY_SUBJECT):
        for part in (canary, canary.split()[0]):
            for where, data in outputs.items():
                assert part.encode() not in data, f"{part!r} found in the {where}"
    assert any(s.startswith("whylens.recommend") for s in out["spans"])
    [gauge] = [q for q in out["points"] if q["name"] == "whylens.oversight.off_brand_share"]
    assert gauge["attributes"] == {"whylens.model.name": "r", "whylens.model.version": 1}
    assert 0 < gauge["value"] <= 1
    clear_picks(p, CANARY_SUBJECT)
