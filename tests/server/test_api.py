"""The JSON API against a real server: problem+json errors from one table, bad input as 4xx,
tokens and revocations made by another process, TCF and GPC through the consent routes, link
expiry, security headers, and no personal data in any error body or the access log."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sdk import Personalizer
from sdk.consent.tcf import TCModel, encode_tc_string
from sdk.errors import WhylensError
from sdk.server.problems import STATUS, status_of
from sdk.types import Decision

from .support import CREDIT, RANKER, Server, Store

CANARY = "canary-7f3e9b-subject"
NOTE_CANARY = "canary-note-51ac0d"


def _cli(store: Store, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sdk.cli", *args, "--db", str(store.db)],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "WHYLENS_KEYRING": str(store.keyring)},
    )
    return done.stdout


def test_status_table_covers_every_error_and_is_4xx_for_caller_errors() -> None:
    import sdk.errors as errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        # Some errors carry named facts beside the message (WitnessOriginConflict's witness and
        # pinned origin): build each with every required keyword filled in.
        required = {
            p.name: "x" for p in inspect.signature(cls.__init__).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.default is p.empty
        }
        status = status_of(cls("x", **required))
        assert 400 <= status < 600
    assert all(issubclass(c, WhylensError) for c in STATUS)
    assert status_of(errors.DecisionNotFound("x")) == 404
    assert status_of(errors.LedgerIntegrityError("x")) == 500


def test_errors_are_problem_json_with_the_stable_code(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    cases = [
        (svc.get("/v1/decisions/dec_nope"), 404, "decision_not_found"),
        (svc.post("/v1/decide", json={"subject": "x"}), 422, "invalid_request"),
        (svc.post("/v1/decide", content=b"{not json", headers={"content-type":
                                                              "application/json"}),
         422, "invalid_request"),
        (svc.post("/v1/decide", json={"subject": "a", "model": "no-such", "features": {}}),
         404, "model_not_found"),
        (svc.post("/v1/decide", json={"subject": "a", "model": CREDIT, "features": {"x": 1}}),
         422, "feature_error"),
        (svc.post("/v1/consent/a/grant", json={"purposes": ["no_such_purpose"]}),
         400, "unknown_purpose"),
        (svc.post("/v1/consent/a/grant", json={"tc_string": "garbage", "vendor_id": 1}),
         400, "invalid_tc_string"),
        (svc.get("/v1/decisions/x/explanation", params={"audience": "nobody"}),
         422, "invalid_request"),
        (svc.get("/v1/no/such/route"), 404, "not_found"),
        (svc.delete("/v1/decide"), 405, "method_not_allowed"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == status and body["code"] == code and body["title"]


def test_no_personal_data_in_error_bodies_or_the_access_log(server: Server,
                                                              store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    bodies = []
    bodies.append(svc.post(f"/v1/consent/{CANARY}/grant", json={"purposes": ["nope"]}).text)
    bodies.append(svc.post(f"/v1/consent/{CANARY}/withdraw", json={}).text)
    bodies.append(svc.post("/v1/decide", json={"subject": CANARY, "model": CREDIT,
                                               "features": {"late_payments": 987654.321}}).text)
    bodies.append(svc.post("/v1/decide", json={"subject": CANARY, "model": CREDIT,
                                               "features": {"late_payments": CANARY}}).text)
    bodies.append(svc.post("/v1/decide", json={"subject": CANARY, "model": CREDIT,
                                               "features": "not-a-dict-" + CANARY}).text)
    bodies.append(svc.post("/v1/links", json={"subject": CANARY, "decision_id": "dec_x"}).text)
    bodies.append(svc.post("/v1/decisions/dec_x/contest", json={"message": NOTE_CANARY}).text)
    ok = svc.post(f"/v1/consent/{CANARY}/grant", json={"purposes": ["personalization"]})
    assert ok.status_code == 200
    link = svc.post("/v1/links", json={"subject": CANARY}).json()["path"]
    assert CANARY not in link
    assert httpx.get(server.url + link + "?lang=de").status_code == 200
    for body in bodies:
        assert CANARY not in body and NOTE_CANARY not in body and "987654" not in body, body
    log = server.log.read_text()
    assert "GET /why/<link>" in log and "/v1/consent/<subject>/grant" in log
    for secret in (CANARY, NOTE_CANARY, link.removeprefix("/why/")[:40], "127.0.0.1:"):
        assert secret not in log.split("Uvicorn running on")[-1].split("\n", 1)[-1]


def test_tokens_made_and_revoked_by_another_process_count_at_once(
    server: Server, store: Store
) -> None:
    token = _cli(store, "tokens", "create", "--role", "compliance", "--name", "cli.tests").strip()
    c = server.client(token=token)
    assert c.get("/v1/audit/verify").status_code == 200
    listed = _cli(store, "tokens", "list")
    assert "cli.tests" in listed and token not in listed
    token_id = token.split("_")[1]
    _cli(store, "tokens", "revoke", token_id)
    assert c.get("/v1/audit/verify").status_code == 401
    # the store holds only the hash
    with Personalizer.open(store.db, keyring=store.keyring) as p:
        entries = list(p.ledger.entries(stream="access"))
    assert entries and all(token not in str(e.data) for e in entries)


def _tc(vendor: int) -> str:
    when = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    return encode_tc_string(TCModel(
        created=when, last_updated=when, cmp_id=31, vendor_list_version=140, policy_version=5,
        purpose_consents={1, 3, 4, 5, 6, 7, 8, 9}, vendor_consents={1, 2, vendor},
        vendors_disclosed={1, 2, 10, vendor}))


def test_tcf_and_gpc_through_the_consent_routes(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    who = "tcf-gpc-subject-1"
    r = svc.post(f"/v1/consent/{who}/grant", json={"tc_string": _tc(755), "vendor_id": 755})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["tcf"]["granted"]) == {"personalization", "analytics", "marketing"}
    assert body["state"]["purposes"]["marketing"] == "given"
    r = svc.get(f"/v1/consent/{who}", headers={"Sec-GPC": "1"})
    assert r.status_code == 200 and r.json()["purposes"]["marketing"] == "withdrawn"
    r = svc.post(f"/v1/consent/{who}/grant", json={"purposes": ["marketing"]})
    assert r.status_code == 409 and r.json()["code"] == "gpc_conflict"


def test_link_expiry_and_default_ttl(server: Server, store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    r = svc.post("/v1/links", json={"subject": store.consenting[20]})
    assert r.status_code == 201
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    with Personalizer.open(store.db, keyring=store.keyring) as p:
        old = p.links.why(store.consenting[20], ttl=timedelta(seconds=1))
    import time

    time.sleep(1.5)
    r = httpx.get(server.url + old)
    assert r.status_code == 410 and "text/html" in r.headers["content-type"]
    assert svc.post("/v1/links", json={"subject": "x", "ttl_seconds": 1}).status_code == 422


def test_security_headers_and_openapi(server: Server, store: Store) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    # a client generated from the spec knows the auth scheme and parses our errors
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    decide = spec["paths"]["/v1/decide"]["post"]
    assert decide["security"] == [{"HTTPBearer": []}]
    for status in ("400", "401", "403", "404", "409", "410", "422"):
        content = decide["responses"][status]["content"]
        assert list(content) == ["application/problem+json"], status
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    bad = server.client(token=store.tokens["service"]).post("/v1/decide", json={})
    assert bad.headers["content-type"] == "application/problem+json"
    assert set(bad.json()) <= set(spec["components"]["schemas"]["Problem"]["properties"])
    assert httpx.get(f"{server.url}/docs").status_code == 200
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    link = server.client(token=store.tokens["service"]).post(
        "/v1/links", json={"subject": store.consenting[21]}).json()["path"]
    page = httpx.get(server.url + link)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "<script" not in page.text and " style=" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("locale", ["en", "de"])
def test_recommend_k_of_many_and_decide_round_trip(server: Server, store: Store,
                                                   locale: str) -> None:
    svc = server.client(token=store.tokens["service"])
    who = store.consenting[22]
    recs = svc.post("/v1/recommend", json={"subject": who, "model": RANKER, "locale": locale,
                                           "candidates": store.candidates(who, 60), "k": 10})
    assert recs.status_code == 200 and len(recs.json()["items"]) == 10
    d = svc.post("/v1/decide", json={"subject": who, "model": CREDIT, "locale": locale,
                                     "features": store.credit_features(who)}).json()
    ex = svc.get(f"/v1/decisions/{d['decision_id']}/explanation",
                 params={"locale": locale}).json()
    assert ex["locale"] == locale and ex["audience"] == "end_user"
    again = svc.get(f"/v1/decisions/{d['decision_id']}").json()
    assert again["decision_id"] == d["decision_id"] and again["status"] == "pending_review"


def test_models_list_what_requests_take_and_exports_can_be_narrowed(server: Server,
                                                                     store: Store) -> None:
    svc = server.client(token=store.tokens["service"])
    models = {m["name"]: m for m in svc.get("/v1/models").json()}
    credit = models[CREDIT]
    assert credit["kind"] == "classifier" and credit["signed_off"] and credit["serving"]
    names = [f["name"] for f in credit["features"]]
    assert set(names) == set(store.credit_features(store.consenting[0]))
    compliance = server.client(token=store.tokens["compliance"])
    made = compliance.post("/v1/audit/exports", json={"format": "csv", "model": CREDIT})
    assert made.status_code == 201 and made.json()["manifest"]["format"] == "csv"
    bad = compliance.post("/v1/audit/exports", json={"format": "xml"})
    assert bad.status_code == 422
    missing = compliance.get("/v1/audit/exports/exp_" + "0" * 24)
    assert missing.status_code == 404 and missing.json()["code"] == "export_not_found"


def test_the_hot_routes_parse_their_own_body_as_fastapi_did(server: Server, store: Store
                                                            ) -> None:
    """/v1/decide and /v1/recommend read their body in one pydantic pass (sdk.server.jsonio):
    the same 422 problems, the caller checked before the body, the same OpenAPI document."""
    svc = server.client(token=store.tokens["service"])
    who = store.consenting[23]
    good = {"subject": who, "model": CREDIT, "features": store.credit_features(who)}
    json_header = {"content-type": "application/json"}
    cases = [
        (svc.post("/v1/decide", content=b"", headers=json_header), [["body"]]),
        (svc.post("/v1/decide", content=b"subject=x",
                  headers={"content-type": "application/x-www-form-urlencoded"}), [["body"]]),
        (svc.post("/v1/decide", json={**good, "extra": 1}), [["body", "extra"]]),
        (svc.post("/v1/decide", json={**good, "locale": "fr"}), [["body", "locale"]]),
        (svc.post("/v1/recommend", json={"subject": who, "model": RANKER, "candidates": [],
                                         "k": 0}),
         [["body", "candidates"], ["body", "k"]]),
    ]
    for response, locs in cases:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_request"
        assert [e["loc"] for e in response.json()["errors"]] == locs
    # who calls is checked before what is sent: no schema hints for a caller without a token
    anonymous = server.client().post("/v1/decide", content=b"{not json", headers=json_header)
    assert anonymous.status_code == 401
    wrong_role = server.client(token=store.tokens["reviewer"]).post("/v1/decide", json={})
    assert wrong_role.status_code == 403
    # a +json media type is JSON, as FastAPI took it
    ok = svc.post("/v1/decide", content=json.dumps(good).encode(),
                  headers={"content-type": "application/vnd.whylens+json; charset=utf-8"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"
    assert Decision.model_validate_json(ok.content).decision_id == ok.json()["decision_id"]
    assert ok.headers["cache-control"] == "no-store" and "server-timing" in ok.headers
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path, request, response in [("/v1/decide", "DecideRequest", "Decision"),
                                    ("/v1/recommend", "RecommendRequest", "Recommendations")]:
        op = spec["paths"][path]["post"]
        assert op["requestBody"]["required"] is True
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{request}"}
        assert spec["components"]["schemas"][request]["additionalProperties"] is False
        ok_schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok_schema == {"$ref": f"#/components/schemas/{response}"}
