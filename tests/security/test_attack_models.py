"""Attacks on the models table when the application opted out of sign-off
(``require_sign_off=False``), found by the adversarial review of issue 11.

Every trained version is recorded on the ledger (``model.registered`` with its governed hash),
which "lets every process check a version it loads even before (or without) a sign-off". But a
version the ledger never registered used to pass the check: a database-only attacker inserted a
copy of the model as a new version with the review policy switched off, and every decision was
then made by it, fully automated, with ``verify()`` ok. Now the registration is appended before
the row is stored, and serving refuses a version the ledger does not vouch for.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from _exports import decide_some
from conftest import feature_row, german_credit, tamper

from sdk import Personalizer
from sdk.errors import ModelTampered


def test_attack_an_unregistered_version_inserted_in_the_models_table(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path, require_sign_off=False) as p:
        decide_some(p, 1)
    [(name, kind, content_hash, text, card)] = tamper(
        store_url, "SELECT name, kind, content_hash, model_text, card FROM models"
    )
    document = json.loads(str(card))
    document["card"]["version"] = 2
    document["card"]["review_policy"]["uncertainty_band"] = None  # no human review any more
    tamper(
        store_url,
        "INSERT INTO models (name, version, kind, content_hash, model_text, card) "
        "VALUES (?, 2, ?, ?, ?, ?)",
        (name, kind, content_hash, text, json.dumps(document)),
    )
    frame, schema = german_credit()
    with (
        Personalizer.open(store_url, keyring=keyring_path, require_sign_off=False) as p,
        pytest.raises(ModelTampered),
    ):
        for i in range(6):
            p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")


def _train_in_child(store_url: str, keyring: str, start: Any, versions: int, out: Any) -> None:
    try:
        frame, schema = german_credit()
        frame = frame.iloc[:80].reset_index(drop=True)
        with Personalizer.open(store_url, keyring=keyring, require_sign_off=False) as q:
            start.wait(60)
            made = [
                q.models.train_classifier(
                    "credit", frame, schema, target="good", num_boost_round=3, seed=i
                ).version
                for i in range(versions)
            ]
        out.put(made)
    except Exception as exc:  # the child reports what it got
        out.put(getattr(exc, "code", type(exc).__name__))


def test_two_processes_training_at_once_each_serve_their_registered_versions(
    store_url: str, keyring_path: Path
) -> None:
    """Registration comes before the row: two processes racing for version numbers each end up
    with versions of their own, every one registered, so every one serves."""
    frame, schema = german_credit()
    with Personalizer.open(store_url, keyring=keyring_path, require_sign_off=False) as p:
        for subject in frame["subject"].iloc[:80]:
            p.consent.grant(subject, "profiling")
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    children = [
        ctx.Process(target=_train_in_child, args=(store_url, str(keyring_path), start, 3, out))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    start.set()
    made = [out.get(timeout=240) for _ in children]
    for child in children:
        child.join(60)
    assert all(isinstance(m, list) for m in made), made
    assert sorted(v for m in made for v in m) == [1, 2, 3, 4, 5, 6]
    with Personalizer.open(store_url, keyring=keyring_path, require_sign_off=False) as p:
        for version in range(1, 7):
            model = p.models.get("credit", version)
            p.models.check_signed(model)  # registered: it may serve
            decision = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0),
                                model=model)
            assert decision.model_version == version
