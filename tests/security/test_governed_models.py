"""Attacks on a signed-off model through the ``models`` row (attacker: write access to the
database, not the keyring). The sign-off covers one canonical hash of the model text, the card
(with its review policy and consent purposes) and the feature schema; an edit of any of them
makes ``recommend``, ``decide`` and batch scoring refuse with :class:`ModelTampered`, in this
process after a reopen and in another process.

On the code before this file, every attack below was served: the null uncertainty band turned
pending decisions into automated ones and ``verify()`` stayed ok.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import feature_row, tamper

from sdk import Personalizer
from sdk.errors import ModelNotSignedOff, ModelTampered
from sdk.models.governed import governed_hash


def _row(store_url: str, name: str, version: int) -> tuple[str, bytes, dict[str, Any]]:
    [(content_hash, text, document)] = tamper(
        store_url,
        "SELECT content_hash, model_text, card FROM models WHERE name = ? AND version = ?",
        (name, version),
    )
    return str(content_hash), bytes(text), json.loads(str(document))  # type: ignore[arg-type]


def _edit_document(
    store_url: str, name: str, version: int, edit: Callable[[dict[str, Any]], None]
) -> None:
    document = _row(store_url, name, version)[2]
    edit(document)
    tamper(
        store_url,
        "UPDATE models SET card = ? WHERE name = ? AND version = ?",
        (json.dumps(document), name, version),
    )


def _null_band(doc: dict[str, Any]) -> None:
    doc["card"]["review_policy"]["uncertainty_band"] = None


def _no_consent_needed(doc: dict[str, Any]) -> None:
    doc["card"]["review_policy"]["consent_purposes"] = []


def _without_consent(doc: dict[str, Any]) -> None:
    doc["card"]["review_policy"]["without_consent"] = "refuse"
    doc["card"]["review_policy"]["sample_percent"] = 0.0
    doc["card"]["review_policy"]["sensitive_segment"] = {}


def _threshold(doc: dict[str, Any]) -> None:
    doc["card"]["threshold"] = 0.05


def _schema_not_sensitive(doc: dict[str, Any]) -> None:
    features = doc["schema"] if isinstance(doc["schema"], list) else doc["schema"]["features"]
    for feature in features:
        feature["sensitive"] = False


def _schema_purpose(doc: dict[str, Any]) -> None:
    features = doc["schema"] if isinstance(doc["schema"], list) else doc["schema"]["features"]
    features[0]["purpose"] = "service"


EDITS = {
    "null_uncertainty_band": _null_band,
    "consent_purposes_emptied": _no_consent_needed,
    "without_consent_policy": _without_consent,
    "threshold": _threshold,
    "schema_sensitive_flag": _schema_not_sensitive,
    "schema_purpose": _schema_purpose,
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_card_or_schema_is_refused_on_decide(
    credit: Any, store_url: str, keyring_path: Path, edit: str
) -> None:
    p, frame, schema = credit
    subject, row = frame["subject"].iloc[0], feature_row(frame, schema, 0)
    assert p.decide(subject, row, model="credit").model_version == 1
    _edit_document(store_url, "credit", 1, EDITS[edit])
    with Personalizer.open(store_url, keyring=keyring_path) as q:
        with pytest.raises(ModelTampered) as info:
            q.decide(subject, row, model="credit")
        assert info.value.code == "model_tampered"
        assert "credit" in str(info.value) and "v1" in str(info.value)
        with pytest.raises(ModelTampered):
            q.models.get("credit", 1)


def test_swapped_model_text_with_a_matching_content_hash_is_refused(
    credit: Any, store_url: str, keyring_path: Path
) -> None:
    """The attacker replaces the signed trees by other trees (here: an unsigned v2) and fixes the
    text's own content-hash column; the card still names the signed hash."""
    p, frame, schema = credit
    subject, row = frame["subject"].iloc[0], feature_row(frame, schema, 0)
    p.models.train_classifier("credit", frame, schema, target="good", num_boost_round=7)
    other = _row(store_url, "credit", 2)[1]
    tamper(
        store_url,
        "UPDATE models SET model_text = ?, content_hash = ? WHERE name = ? AND version = 1",
        (other, hashlib.sha256(other).hexdigest(), "credit"),
    )
    with Personalizer.open(store_url, keyring=keyring_path) as q, pytest.raises(ModelTampered):
        q.decide(subject, row, model="credit")


def test_an_edited_ranker_is_refused_on_recommend(p: Personalizer, store_url: str,
                                                  keyring_path: Path) -> None:
    from conftest import german_credit

    frame, schema = german_credit()
    frame = frame.iloc[:400].copy()
    frame["query"] = [i // 8 for i in range(len(frame))]
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    p.models.train_ranker("rank", frame, schema, target="good", group="query",
                          num_boost_round=8)
    p.models.sign_off("rank", 1, reviewer="reviewer.tests")
    candidates = pd.DataFrame(
        [{"item_id": f"item-{i}", **feature_row(frame, schema, i)} for i in range(5)]
    )
    subject = frame["subject"].iloc[0]
    assert p.recommend(subject, candidates, model="rank", k=3).items
    _edit_document(store_url, "rank", 1, _schema_purpose)
    with Personalizer.open(store_url, keyring=keyring_path) as q, pytest.raises(ModelTampered):
        q.recommend(subject, candidates, model="rank", k=3)


def test_batch_scoring_refuses_an_edited_model(credit: Any, store_url: str,
                                               keyring_path: Path) -> None:
    from sdk.batch import local

    _, frame, _ = credit
    _edit_document(store_url, "credit", 1, _null_band)
    with Personalizer.open(store_url, keyring=keyring_path) as q, pytest.raises(ModelTampered):
        local.score(frame.iloc[:3], q, model="credit")


def _decide_in_child(store_url: str, keyring: str, subject: str, row: dict[str, Any],
                     out: Any) -> None:
    try:
        with Personalizer.open(store_url, keyring=keyring) as q:
            q.decide(subject, row, model="credit")
        out.put("served")
    except Exception as exc:  # the child reports what it got
        out.put(getattr(exc, "code", type(exc).__name__))


def test_another_process_refuses_the_edited_card(credit: Any, store_url: str,
                                                 keyring_path: Path) -> None:
    p, frame, schema = credit
    subject, row = frame["subject"].iloc[0], feature_row(frame, schema, 0)
    _edit_document(store_url, "credit", 1, _null_band)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_decide_in_child,
                        args=(store_url, str(keyring_path), subject, row, out))
    child.start()
    child.join(120)
    assert out.get(timeout=5) == "model_tampered"
    # this process loaded (and checked) the version before the edit: its copy is the signed one
    assert p.decide(subject, row, model="credit").model_version == 1


def test_the_sign_off_names_the_governed_hash(credit: Any, store_url: str) -> None:
    p, _, _ = credit
    content_hash, text, document = _row(store_url, "credit", 1)
    record = p.models.sign_off_of("credit", 1)
    assert record is not None
    assert record.governed_hash == governed_hash(text, document["card"], document["schema"])
    assert record.governed_hash == p.models.get("credit", 1).governed_hash
    assert record.content_hash == content_hash


def test_a_sign_off_over_the_text_only_needs_a_new_sign_off(
    credit: Any, store_url: str, keyring_path: Path
) -> None:
    """A sign-off recorded before governed hashes (text only, like the v1 store's) does not
    let the version serve: the error says to sign it off again."""
    p, frame, schema = credit
    subject, row = frame["subject"].iloc[0], feature_row(frame, schema, 0)
    p.models.train_classifier("old", frame, schema, target="good", num_boost_round=5)
    model = p.models.get("old", 1)
    # what an older whylens appended: no governed_hash in the data
    p.ledger.append("models", "model.sign_off", {
        "name": "old", "version": 1, "content_hash": model.content_hash,
        "reviewer": "reviewer.old", "note": None,
    })
    with Personalizer.open(store_url, keyring=keyring_path) as q:
        with pytest.raises(ModelNotSignedOff) as info:
            q.decide(subject, row, model="old")
        assert "sign_off('old', 1" in str(info.value)
        q.models.sign_off("old", 1, reviewer="reviewer.new")
        assert q.decide(subject, row, model="old").model_version == 1


def test_the_server_answers_tampering_with_409() -> None:
    pytest.importorskip("fastapi")
    from sdk.errors import SubjectDataTampered
    from sdk.server.problems import status_of

    assert status_of(ModelTampered("x")) == 409
    assert status_of(SubjectDataTampered("x")) == 409


def test_an_edited_shadow_candidate_is_refused(credit: Any, store_url: str,
                                               keyring_path: Path) -> None:
    """The candidate is not signed off; its registration entry names its governed hash."""
    p, frame, schema = credit
    subject, row = frame["subject"].iloc[0], feature_row(frame, schema, 0)
    p.models.train_classifier("credit", frame, schema, target="good", num_boost_round=7)
    p.models.shadow("credit", 2)
    assert p.decide(subject, row, model="credit").model_version == 1
    _edit_document(store_url, "credit", 2, _threshold)
    with Personalizer.open(store_url, keyring=keyring_path) as q, pytest.raises(ModelTampered):
        q.decide(subject, row, model="credit")
