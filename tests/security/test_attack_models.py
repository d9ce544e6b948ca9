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
from pathlib import Path

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
