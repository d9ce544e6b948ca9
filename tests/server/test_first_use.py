"""What a new user of the HTTP API ran into, calling it from curl with the docs in hand: bodies
that could not be sent, limits and errors that differed by where an id arrived, Python
spellings in problem details, controls missing over HTTP, and a console filter that did not
filter."""

from __future__ import annotations

import re

import httpx

from sdk.keys import MAX_SUBJECT_ID_LENGTH

from .support import CREDIT, RANKER, Server, Store

# what a non-Python client cannot act on: type names, reprs, Python calls and literals
PYTHONISMS = re.compile(
    r"\bNone\b(?! in Python)|\bstr\b|\bint\b|\bfloat\b|\(\)|\['|\(\.\.\.|=True\b(?! \(JSON)"
)


def _detail(r: httpx.Response) -> str:
    body = r.json()
    return " ".join([body.get("detail") or "", *(e["msg"] for e in body.get("errors") or [])])


def test_an_export_can_be_narrowed_by_time_over_json(server: Server, store: Store) -> None:
    compliance = server.client(token=store.tokens["compliance"])
    made = compliance.post("/v1/audit/exports", json={
        "since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00+01:00"})
    assert made.status_code == 201, made.text
    assert made.json()["manifest"]["records"] > 0
    backwards = compliance.post("/v1/audit/exports", json={
        "since": "2026-12-03T00:00:00Z", "until": "2026-12-01T00:00:00Z"})
    assert backwards.status_code == 422 and "since is after until" in _detail(backwards)
    naive = compliance.post("/v1/audit/exports", json={"since": "2026-12-03T00:00:00"})
    assert naive.status_code == 422 and "timezone" in _detail(naive)
    typo = compliance.post("/v1/audit/exports", json={"model": CREDIT + "x"})
    assert typo.status_code == 404 and typo.json()["code"] == "model_not_found"


def test_a_body_without_its_content_type_says_what_to_send(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    r = svc.post("/v1/links", content=b'{"subject": "cust-1"}')
    assert r.status_code == 422 and "Content-Type: application/json" in _detail(r)
    broken = svc.post("/v1/links", content=b"{oops", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and "not valid JSON" in _detail(broken)
    assert "Content-Type" not in _detail(broken)


def test_one_subject_id_limit_and_error_in_bodies_and_paths(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    longest, too_long = "s" * MAX_SUBJECT_ID_LENGTH, "s" * (MAX_SUBJECT_ID_LENGTH + 1)
    assert svc.get(f"/v1/consent/{longest}").status_code == 200
    assert svc.post("/v1/links", json={"subject": longest}).status_code == 201
    features = store.credit_features(store.consenting[0])
    refused = [
        svc.get(f"/v1/consent/{too_long}"),
        svc.post(f"/v1/consent/{too_long}/grant", json={"purposes": ["analytics"]}),
        svc.post("/v1/links", json={"subject": too_long}),
        svc.post("/v1/decide", json={"subject": too_long, "model": CREDIT, "features": features}),
        svc.post("/v1/recommend", json={"subject": too_long, "model": RANKER,
                                        "candidates": store.candidates(store.consenting[0], 3)}),
        svc.post("/v1/links", json={"subject": ""}),
    ]
    for r in refused:
        assert (r.status_code, r.json()["code"]) == (400, "invalid_subject_id"), r.text
        assert not PYTHONISMS.search(_detail(r)), _detail(r)
    spec = httpx.get(f"{server.url}/openapi.json").json()
    link = spec["components"]["schemas"]["LinkRequest"]["properties"]["subject"]
    assert link["maxLength"] == MAX_SUBJECT_ID_LENGTH  # documented where clients read it


def test_problem_details_speak_json_not_python(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    who = store.consenting[0]
    features = store.credit_features(who)
    name = next(iter(features))
    r = [
        svc.post("/v1/decide", json={"subject": who, "model": CREDIT,
                                     "features": {**features, name: "lots"}}),
        svc.post("/v1/decide", json={"subject": who, "model": RANKER, "features": features}),
        svc.post("/v1/decide", json={"subject": who, "model": "no-such", "features": features}),
    ]
    assert [x.json()["code"] for x in r] == ["feature_error", "wrong_model_kind",
                                            "model_not_found"]
    for x in r:
        assert not PYTHONISMS.search(_detail(x)), _detail(x)
    assert "null" in _detail(r[0]) and "POST /v1/recommend" in _detail(r[1])


def test_a_grant_against_a_gpc_signal_can_be_confirmed_over_http(server: Server,
                                                                 store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    who = "gpc-confirm-subject-1"
    assert svc.get(f"/v1/consent/{who}", headers={"Sec-GPC": "1"}).status_code == 200
    refused = svc.post(f"/v1/consent/{who}/grant", json={"purposes": ["marketing"]})
    assert refused.status_code == 409 and refused.json()["code"] == "gpc_conflict"
    assert not PYTHONISMS.search(_detail(refused)), _detail(refused)
    confirmed = svc.post(f"/v1/consent/{who}/grant",
                         json={"purposes": ["marketing"], "acknowledge_gpc_conflict": True})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"]["purposes"]["marketing"] == "given"


def test_protected_attributes_and_true_outcomes_feed_the_fairness_report(
    server: Server, store: Store
) -> None:
    svc = server.client(token=store.tokens["service"])
    compliance = server.client(token=store.tokens["compliance"])
    decided = []
    for i, who in enumerate(store.consenting[20:30]):
        r = svc.put(f"/v1/subjects/{who}/protected",
                    json={"attributes": {"region": "north" if i % 2 else "south"}})
        assert r.status_code == 200 and r.json() == {"names": ["region"]}, r.text
        d = svc.post("/v1/decide", json={"subject": who, "model": CREDIT,
                                         "features": store.credit_features(who)}).json()
        out = svc.post(f"/v1/decisions/{d['decision_id']}/outcome", json={"actual": "approved"})
        assert out.status_code == 200 and out.json()["actual"] == "approved", out.text
        decided.append(d["decision_id"])
    bad = svc.post(f"/v1/decisions/{decided[0]}/outcome", json={"actual": "maybe"})
    assert bad.status_code == 400 and "approved" in _detail(bad)
    feature = next(iter(store.credit_features(store.consenting[0])))
    clash = svc.put(f"/v1/subjects/{store.consenting[20]}/protected",
                    json={"attributes": {feature: 1}})
    assert clash.status_code == 400  # a model feature cannot be a protected attribute
    report = compliance.get("/v1/audit/fairness",
                            params={"model": CREDIT, "group_by": "region", "bootstrap": 0})
    assert report.status_code == 200, report.text
    groups = {g["group"]: g for g in report.json()["groups"]}
    assert {"north", "south"} <= set(groups)
    assert groups["north"]["decisions"] >= 5


def _console(server: Server, token: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, timeout=60)
    form = c.get("/console/login").text
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    assert c.post("/console/login", data={"token": token, "csrf": csrf}).status_code == 303
    return c


def test_the_console_filters_by_trigger_rule(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    for who in store.consenting[30:33]:  # every credit decision is held: uncertainty_band
        svc.post("/v1/decide", json={"subject": who, "model": CREDIT,
                                     "features": store.credit_features(who)})
    console = _console(server, store.tokens["reviewer"])
    page = console.get("/console").text
    select = page.split('name="trigger">', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option value="([^"]*)"', select)
    assert options == ["", "uncertainty_band"]  # one per rule, not one per probability
    waiting = int(re.search(r"(\d+) decision\(s\) waiting", page).group(1))  # type: ignore[union-attr]
    shown = console.get("/console", params={"trigger": "uncertainty_band"}).text
    assert f"{waiting} decision(s) waiting" in shown and waiting >= 3


def test_the_fairness_page_offers_the_stored_attributes(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    # stored through the service API, i.e. possibly by another worker than the page's
    r = svc.put(f"/v1/subjects/{store.consenting[40]}/protected",
                json={"attributes": {"age_band": "40-49"}})
    assert r.status_code == 200, r.text
    page = _console(server, store.tokens["compliance"]).get("/console/fairness").text
    select = page.split('name="group_by">', 1)[1].split("</select>", 1)[0]
    assert "age_band" in re.findall(r'<option value="([^"]*)"', select)


def test_approve_names_the_outcome_it_confirms(server: Server, store: Store) -> None:
    # held for missing consent: the decision's outcome is "pending", approving confirms the model's
    who = "never-consented-approve-1"
    d = server.client(token=store.tokens["service"]).post("/v1/decide", json={
        "subject": who, "model": CREDIT,
        "features": store.credit_features(store.consenting[0])}).json()
    assert d["outcome"] == "pending" and d["automated_outcome"] != "pending"
    page = _console(server, store.tokens["reviewer"]).get(
        f"/console/decisions/{d['decision_id']}").text
    assert f"Approve {d['automated_outcome']}</button>" in page
    assert "Approve pending" not in page and "has not agreed to" in page


def test_approve_after_a_contested_override_says_it_restores_the_models_outcome(
    server: Server, store: Store
) -> None:
    svc, reviewer = (server.client(token=store.tokens[r]) for r in ("service", "reviewer"))
    who = store.consenting[45]
    d = svc.post("/v1/decide", json={"subject": who, "model": CREDIT,
                                     "features": store.credit_features(who)}).json()
    other = "approved" if d["automated_outcome"] == "declined" else "declined"
    r = reviewer.post(f"/v1/reviews/{d['decision_id']}/override",
                      json={"outcome": other, "reason": "checked by phone"})
    assert r.status_code == 200, r.text
    assert svc.post(f"/v1/decisions/{d['decision_id']}/contest",
                    json={"message": "please look again"}).status_code == 200
    page = _console(server, store.tokens["reviewer"]).get(
        f"/console/decisions/{d['decision_id']}").text
    assert f"Approve {d['automated_outcome']}</button>" in page  # what approving sets
    approved = reviewer.post(f"/v1/reviews/{d['decision_id']}/approve").json()
    assert approved["outcome"] == d["automated_outcome"]
