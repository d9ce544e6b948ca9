"""A real whylens store for the server tests (the demo shop: a ranker and a credit classifier)
and a real ``whylens serve`` process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sdk import Personalizer, ReviewPolicy
from sdk.demo.shop import Shop, candidates_for, credit_frame, generate_shop
from sdk.demo.shop_features import ranking_frame
from sdk.demo.story import credit_schema, ranking_schema

RANKER = "shop-ranker"
CREDIT = "credit"
CONSENTING = "cust-0007"


@dataclass
class Store:
    db: Path
    keyring: Path
    shop: Shop
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    consenting: list[str] = field(default_factory=list)

    def candidates(self, subject: str, n: int = 30) -> list[dict[str, Any]]:
        frame = candidates_for(self.shop, subject, n=n)
        return [{k: (float(v) if k != "item_id" else str(v)) for k, v in row.items()}
                for row in frame.to_dict(orient="records")]

    def credit_features(self, subject: str) -> dict[str, float]:
        frame = credit_frame(self.shop)
        row = frame.loc[frame["subject"] == subject].iloc[0]
        return {k: float(row[k]) for k in frame.columns if k not in ("subject", "repaid")}


def build_store(folder: Path) -> Store:
    """Train and sign off both models, grant consent for the consenting customers, make one
    token per role plus a revoked one."""
    shop = generate_shop(seed=7)
    db, keyring = folder / "server.db", folder / "server.keyring.json"
    store = Store(db, keyring, shop)
    with Personalizer.open(db, keyring=keyring) as p:
        consenting = shop.customers["customer_id"][shop.customers["consents_to_personalization"]]
        for customer in consenting:
            p.consent.grant(customer, ["personalization", "profiling"])
        store.consenting = [str(c) for c in consenting]
        p.models.train_ranker(RANKER, ranking_frame(shop), ranking_schema(), target="relevance",
                              group="query_id", num_boost_round=20)
        p.models.sign_off(RANKER, 1, reviewer="reviewer.tests")
        p.models.train_classifier(
            CREDIT, credit_frame(shop), credit_schema(), target="repaid",
            outcomes=("declined", "approved"),
            # every decision is held, so the review routes always have work
            review_policy=ReviewPolicy(uncertainty_band=(0.0, 1.0)),
            num_boost_round=20, params={"min_data_in_leaf": 20, "num_leaves": 4},
        )
        p.models.sign_off(CREDIT, 1, reviewer="reviewer.tests")
        for role in ("service", "reviewer", "compliance"):
            token, info = p.tokens.create(role, f"{role}.tests")
            store.tokens[role], store.token_ids[role] = token, info.token_id
        token, info = p.tokens.create("reviewer", "revoked.tests")
        p.tokens.revoke(info.token_id)
        store.tokens["revoked"] = token
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``whylens serve`` in a subprocess; its stderr (uvicorn's logs) goes to a file."""

    def __init__(self, store: Store, folder: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"server-{self.port}.log"
        env = {**os.environ, "WHYLENS_EXPORT_DIR": str(folder / "exports")}
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sdk.cli", "serve", "--db", str(store.db), "--keyring",
             str(store.keyring), "--port", str(self.port), "--workers", str(workers)],
            stdout=self._out, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"whylens serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("whylens serve did not come up in 90 s")
        # every worker imports and opens the store itself: wait until all of them are up
        while self.log.read_text().count("Application startup complete") < workers:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("not every worker of whylens serve came up")
            time.sleep(0.2)

    def client(self, role: str | None = None, token: str | None = None) -> httpx.Client:
        headers = {}
        if role is not None or token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
