"""The authorization matrix: every route x every caller (each role, a revoked token, a garbage
token, no token, a why-link used as a bearer token, another subject's link), each with its
expected status. A route without a row here fails the test, so new routes get one."""

from __future__ import annotations

from typing import Any

import httpx

from .notes import note
from .support import CONSENTING, CREDIT, RANKER, Server, Store

ROLES = ("service", "reviewer", "compliance")
# (method, path template) -> the roles that may call it
MATRIX: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/consent/{subject}/grant"): {"service"},
    ("POST", "/v1/consent/{subject}/withdraw"): {"service"},
    ("GET", "/v1/consent/{subject}"): {"service"},
    ("GET", "/v1/models"): {"service", "reviewer", "compliance"},
    ("POST", "/v1/recommend"): {"service"},
    ("POST", "/v1/decide"): {"service"},
    ("GET", "/v1/decisions/{decision_id}"): {"service", "reviewer", "compliance"},
    ("GET", "/v1/decisions/{decision_id}/explanation"): {"service", "reviewer", "compliance"},
    ("POST", "/v1/decisions/{decision_id}/contest"): {"service"},
    ("GET", "/v1/reviews/pending"): {"reviewer", "compliance"},
    ("POST", "/v1/reviews/{decision_id}/approve"): {"reviewer"},
    ("POST", "/v1/reviews/{decision_id}/override"): {"reviewer"},
    ("GET", "/v1/audit/verify"): {"compliance"},
    ("POST", "/v1/audit/exports"): {"compliance"},
    ("GET", "/v1/audit/exports/{export_id}"): {"compliance"},
    ("POST", "/v1/links"): {"service"},
    ("PUT", "/v1/subjects/{subject}/protected"): {"service"},
    ("POST", "/v1/decisions/{decision_id}/outcome"): {"service"},
    ("GET", "/v1/audit/fairness"): {"compliance"},
    ("GET", "/healthz"): {"anyone"},
}


def _decide(server: Server, store: Store, subject: str) -> str:
    svc = server.client(token=store.tokens["service"])
    r = svc.post("/v1/decide", json={"subject": subject, "model": CREDIT,
                                     "features": store.credit_features(subject)})
    assert r.status_code == 200, r.text
    return str(r.json()["decision_id"])


def _requests(server: Server, store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid request for every route (fresh decisions where an action uses one up)."""
    who = store.consenting[9]
    contested, approved, overridden = (_decide(server, store, who) for _ in range(3))
    export = server.client(token=store.tokens["compliance"]).post("/v1/audit/exports").json()
    return {
        ("POST", "/v1/consent/{subject}/grant"): {
            "url": f"/v1/consent/{who}/grant", "json": {"purposes": ["analytics"]}},
        ("POST", "/v1/consent/{subject}/withdraw"): {
            "url": f"/v1/consent/{who}/withdraw", "json": {"purposes": ["analytics"]}},
        ("GET", "/v1/consent/{subject}"): {"url": f"/v1/consent/{who}"},
        ("GET", "/v1/models"): {"url": "/v1/models"},
        ("POST", "/v1/recommend"): {"url": "/v1/recommend", "json": {
            "subject": who, "model": RANKER, "candidates": store.candidates(who, 10), "k": 3}},
        ("POST", "/v1/decide"): {"url": "/v1/decide", "json": {
            "subject": who, "model": CREDIT, "features": store.credit_features(who)}},
        ("GET", "/v1/decisions/{decision_id}"): {"url": f"/v1/decisions/{approved}"},
        ("GET", "/v1/decisions/{decision_id}/explanation"): {
            "url": f"/v1/decisions/{approved}/explanation"},
        ("POST", "/v1/decisions/{decision_id}/contest"): {
            "url": f"/v1/decisions/{contested}/contest", "json": {"message": "please check"}},
        ("GET", "/v1/reviews/pending"): {"url": "/v1/reviews/pending"},
        ("POST", "/v1/reviews/{decision_id}/approve"): {
            "url": f"/v1/reviews/{approved}/approve", "json": {}},
        ("POST", "/v1/reviews/{decision_id}/override"): {
            "url": f"/v1/reviews/{overridden}/override",
            "json": {"outcome": "declined", "reason": "matrix test"}},
        ("GET", "/v1/audit/verify"): {"url": "/v1/audit/verify"},
        ("POST", "/v1/audit/exports"): {"url": "/v1/audit/exports"},
        ("GET", "/v1/audit/exports/{export_id}"): {"url": export["download"]},
        ("POST", "/v1/links"): {"url": "/v1/links", "json": {"subject": who}},
        ("PUT", "/v1/subjects/{subject}/protected"): {
            "url": f"/v1/subjects/{who}/protected", "json": {"attributes": {"region": "west"}}},
        ("POST", "/v1/decisions/{decision_id}/outcome"): {
            "url": f"/v1/decisions/{approved}/outcome", "json": {"actual": "approved"}},
        ("GET", "/v1/audit/fairness"): {
            "url": f"/v1/audit/fairness?model={CREDIT}&group_by=region&bootstrap=0"},
        ("GET", "/healthz"): {"url": "/healthz"},
    }


def test_every_route_is_in_the_matrix(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert routes == set(MATRIX)


def test_matrix_every_route_every_caller(server: Server, store: Store) -> None:
    link = server.client(token=store.tokens["service"]).post(
        "/v1/links", json={"subject": CONSENTING}).json()["path"]
    callers: dict[str, str | None] = {
        **{r: store.tokens[r] for r in ROLES},
        "revoked": store.tokens["revoked"],
        "garbage": "wlt_0000000000000000_" + "A" * 43,
        "link-as-token": link.removeprefix("/why/"),
        "none": None,
    }
    requests = _requests(server, store)
    bypasses, seen = [], 0
    for route, allowed in MATRIX.items():
        # denied callers first: a refused call must leave the valid request usable
        order = sorted(callers, key=lambda c: c in allowed)
        for caller in order:
            token = callers[caller]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            spec = requests[route]
            r = httpx.request(route[0], server.url + spec["url"], json=spec.get("json"),
                              headers=headers, timeout=60)
            seen += 1
            if "anyone" in allowed or caller in allowed:
                ok = 200 <= r.status_code < 300
            elif caller in ROLES:
                ok = r.status_code == 403 and r.json()["code"] == "forbidden"
            else:
                ok = r.status_code == 401 and r.json()["code"] == "not_authenticated"
            if not ok:
                bypasses.append((route, caller, r.status_code, r.text[:200]))
    note("authz", f"authorization matrix: {len(MATRIX)} routes x {len(callers)} callers = "
         f"{seen} requests, {len(bypasses)} bypasses")
    assert bypasses == []
    assert seen == len(MATRIX) * len(callers)


def test_service_may_not_read_reviewer_or_auditor_explanations(
    server: Server, store: Store
) -> None:
    decision = _decide(server, store, store.consenting[9])
    for audience, role, status in [("reviewer", "service", 403), ("auditor", "service", 403),
                                   ("reviewer", "reviewer", 200), ("auditor", "compliance", 200)]:
        r = server.client(token=store.tokens[role]).get(
            f"/v1/decisions/{decision}/explanation", params={"audience": audience})
        assert r.status_code == status, (audience, role)


def test_links_reach_only_their_own_subject(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    alice, bob = store.consenting[12], store.consenting[13]
    bobs = _decide(server, store, bob)
    alice_link = svc.post("/v1/links", json={"subject": alice}).json()["path"]
    # a link for Bob's decision cannot be made for Alice
    r = svc.post("/v1/links", json={"subject": alice, "decision_id": bobs})
    assert r.status_code == 404
    page = httpx.get(server.url + alice_link)
    assert page.status_code == 200 and bobs not in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    for action, data in [("contest", {"decision_id": bobs, "message": "not mine"}),
                         ("person", {"decision_id": bobs})]:
        r = httpx.post(f"{server.url}{alice_link}/{action}", data={"csrf": csrf, **data})
        assert r.status_code == 404, action
    assert server.client(token=store.tokens["reviewer"]).get(
        f"/v1/decisions/{bobs}").json()["contested"] is False
    # a forged or altered link is not found; the page does not say whose it might be
    payload, mac = alice_link.removeprefix("/why/").split(".")
    for bad in [f"{payload}.{mac[:-2]}AA", f"{payload[:-4]}AAAA.{mac}", "x", "a.b"]:
        r = httpx.get(f"{server.url}/why/{bad}")
        assert r.status_code == 404, bad
    # forms need the anti-forgery token bound to this link
    r = httpx.post(f"{server.url}{alice_link}/profiling", data={"csrf": "0" * 48,
                                                                 "enabled": "off"})
    assert r.status_code == 403


def test_console_sessions_and_roles(server: Server, store: Store) -> None:
    assert httpx.get(f"{server.url}/console").status_code == 303  # to the login page
    sessions = {}
    for role in ROLES:
        c = httpx.Client(base_url=server.url)
        form = c.get("/console/login").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        r = c.post("/console/login", data={"token": store.tokens[role], "csrf": csrf})
        sessions[role] = (c, r)
    assert sessions["service"][1].status_code == 403  # the console is for staff
    reviewer, compliance = sessions["reviewer"][0], sessions["compliance"][0]
    assert reviewer.get("/console").status_code == 200
    assert reviewer.get("/console/audit").status_code == 403
    assert compliance.get("/console/audit").status_code == 200
    # a session is not an API credential
    assert reviewer.get("/v1/reviews/pending").status_code == 401
    # a console form needs its anti-forgery token
    decision = _decide(server, store, store.consenting[14])
    r = reviewer.post(f"/console/decisions/{decision}/approve", data={"csrf": "bad"})
    assert r.status_code == 403
    assert server.client(token=store.tokens["reviewer"]).get(
        f"/v1/decisions/{decision}").json()["status"] == "pending_review"


def test_logging_out_ends_the_session_even_for_a_copied_cookie(server: Server, store: Store
                                                               ) -> None:
    """Found by an attacker review: logout only deleted the browser's cookie, so a copy of it
    kept working for the session's lifetime."""
    c = httpx.Client(base_url=server.url)
    form = c.get("/console/login").text
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    c.post("/console/login", data={"token": store.tokens["reviewer"], "csrf": csrf})
    copied = c.cookies.get("whylens_session")
    assert copied and c.get("/console").status_code == 200
    page = c.get("/console").text
    logout_csrf = page.split('action="/console/logout"', 1)[1].split('name="csrf" value="')[1]
    r = c.post("/console/logout", data={"csrf": logout_csrf.split('"')[0]})
    assert r.status_code == 303
    thief = httpx.Client(base_url=server.url, cookies={"whylens_session": copied})
    assert thief.get("/console").status_code == 303  # back to the login page
    # a new login works again
    again = httpx.Client(base_url=server.url)
    form = again.get("/console/login").text
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    again.post("/console/login", data={"token": store.tokens["reviewer"], "csrf": csrf})
    assert again.get("/console").status_code == 200
