"""Several workers on one store: what one writes, the others respect on their very next request.

Two ``whylens serve`` processes on one SQLite store, addressed one by one (a single
``--workers 2`` socket would let the kernel choose the worker), plus one real ``--workers 2``
server. These depend on the ledger-derived views catching up before every serving call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .notes import note
from .support import CREDIT, RANKER, Server, Store

TRIALS = 20


@pytest.fixture(scope="module")
def pair(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server,
                                                                                     Server]]:
    folder = tmp_path_factory.mktemp("two-workers")
    a = Server(store, folder)
    b = Server(store, folder)
    yield a, b
    a.stop()
    b.stop()


def _recommend(server: Server, store: Store, who: str) -> dict:  # type: ignore[type-arg]
    r = server.client(token=store.tokens["service"]).post(
        "/v1/recommend", json={"subject": who, "model": RANKER, "k": 5,
                               "candidates": store.candidates(store.consenting[0], 20)})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_withdrawal_through_one_worker_is_respected_by_the_other(
    pair: tuple[Server, Server], store: Store
) -> None:
    a, b = pair
    stale = 0
    for trial in range(TRIALS):
        who = f"two-workers-{trial}"
        svc_a = a.client(token=store.tokens["service"])
        assert svc_a.post(f"/v1/consent/{who}/grant",
                          json={"purposes": ["personalization"]}).status_code == 200
        granted = _recommend(b, store, who)
        assert svc_a.post(f"/v1/consent/{who}/withdraw",
                          json={"purposes": ["personalization"]}).status_code == 200
        after = _recommend(b, store, who)
        stale += (not granted["personalized"]) + after["personalized"]
    note("workers", f"two workers, one store: {stale} stale of {2 * TRIALS} reads after a "
         "grant or withdrawal through the other worker")
    assert stale == 0


def test_a_decision_made_by_one_worker_is_found_and_reviewed_through_the_other(
    pair: tuple[Server, Server], store: Store
) -> None:
    a, b = pair
    who = store.consenting[30]
    made = a.client(token=store.tokens["service"]).post(
        "/v1/decide", json={"subject": who, "model": CREDIT,
                            "features": store.credit_features(who)}).json()
    reviewer_b = b.client(token=store.tokens["reviewer"])
    assert reviewer_b.get(f"/v1/decisions/{made['decision_id']}").status_code == 200
    r = reviewer_b.post(f"/v1/reviews/{made['decision_id']}/override",
                        json={"outcome": "declined", "reason": "two-worker test"})
    assert r.status_code == 200
    seen = a.client(token=store.tokens["service"]).get(f"/v1/decisions/{made['decision_id']}")
    assert seen.json()["status"] == "overridden"


def test_workers_2_serves_and_every_worker_checks_tokens_against_the_ledger(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = Server(store, tmp_path_factory.mktemp("workers-2"), workers=2)
    try:
        pids = set()
        for _ in range(30):
            r = httpx.get(f"{server.url}/healthz", timeout=30)
            assert r.status_code == 200
        log = server.log.read_text()
        pids = {line.split("[")[1].split("]")[0] for line in log.splitlines()
                if "Started server process" in line}
        assert len(pids) >= 2, log[-2000:]
        for _ in range(10):
            assert server.client(token=store.tokens["revoked"]).get(
                "/v1/reviews/pending").status_code == 401
            assert server.client(token=store.tokens["reviewer"]).get(
                "/v1/reviews/pending").status_code == 200
    finally:
        server.stop()
