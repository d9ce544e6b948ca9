"""Batch rows after an erasure: nothing on the ledger reads or confirms the person's numbers.

Attacker: the database and the keyring, after ``subjects.erase``, with a guess of the person's
inputs (the attack of the 566 tries: inputs have little entropy, and the model is in the store).

* The ``batch.row`` records of a job run with ``record_rows=True`` held the row's exact TreeSHAP
  contributions and scores in clear: personal data derived from the person's inputs, still on the
  hash-chained ledger and in every export after erasure.
* Each row's Merkle leaf committed to those numbers with a plain SHA-256: recomputing the row
  from a guess with the stored model and hashing it confirms the guess against the leaf hash that
  the row record (and the proof) carries.

Now the numbers are sealed under the subject's data key and the leaf commits with an HMAC under a
key derived from it; both go with the key, while the job's root, the row proofs and the ledger
still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import numpy as np
import pytest
from batch_world import build

from sdk import Personalizer
from sdk._canonical import canonical_json
from sdk.batch import local, verify_row_proof
from sdk.batch.jobs import ROW_KIND, STREAM
from sdk.errors import SubjectErased
from sdk.explain.treeshap import tree_shap
from sdk.ledger.merkle import leaf_hash
from sdk.models.matrix import frame_matrix


def _guessed_leaves(
    job_id: str, record: dict[str, object], pseudo: str, numbers: np.ndarray, keys: list[bytes]
) -> list[str]:
    """Every leaf hash the attacker can build for the guessed numbers: the plain one (format 1)
    and one keyed by each key the keyring file holds (format 2 layout)."""
    plain = numbers.astype("<f8").tobytes()
    common = {
        "job": job_id,
        "masked": list(record["masked"]),  # type: ignore[call-overload]
        "offset": record["offset"],
        "outcome": record.get("outcome"),
        "part": record["part"],
        "subject": pseudo,
    }
    out = [leaf_hash(canonical_json({**common, "values": hashlib.sha256(plain).hexdigest()}))]
    for key in keys:
        for version in (1, 2):
            values = hmac.new(key, plain, hashlib.sha256).hexdigest()
            text = canonical_json({**common, "key_version": version, "values": values})
            out.append(leaf_hash(text))
    return [h.hex() for h in out]


def _keyring_keys(path: Path) -> list[bytes]:
    found: list[bytes] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            try:
                raw = base64.b64decode(node, validate=True)
            except ValueError:
                return
            if len(raw) >= 16:
                found.append(raw)

    walk(json.loads(path.read_text()))
    return found


def test_erased_persons_batch_rows_neither_read_nor_confirm_a_guess(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p, shop=False)
        frame, schema = world.credit, world.credit_schema
        victim = str(frame["subject"].iloc[0])  # granted both purposes: nothing masked
        result = local.score(frame, p, model="credit", record_rows=True)
        job = result.job
        out = result.frame
        index = int(np.flatnonzero(out["subject"].astype(str).to_numpy() == victim)[0])
        pseudo = str(out["pseudonym"].iloc[index])
        assert p.batch_jobs.row_values(job.job_id)[index] is not None  # readable before
        p.subjects.erase(victim)
        booster = p.models.get("credit").booster

    with Personalizer.open(store_url, keyring=keyring_path) as p:
        entries = [
            e for e in p.ledger.entries(stream=STREAM, kinds=(ROW_KIND,)) if e.subject == pseudo
        ]
        assert len(entries) == 1
        record = entries[0].data
        # (1) the person's exact numbers are not on the ledger in clear
        for name in ("contributions", "score", "model_score", "probability"):
            assert name not in record, f"batch.row keeps the erased person's {name} in clear"
        # (2) a correct guess of the inputs, run through the stored model, matches no leaf the
        # attacker can build (plain hash, or keyed by anything in the keyring)
        guess = frame.iloc[[0]]
        shap = tree_shap(booster, frame_matrix(schema, guess))
        numbers = np.concatenate([shap.raw, shap.raw, shap.base, shap.phi[0]])
        leaves = _guessed_leaves(job.job_id, record, pseudo, numbers, _keyring_keys(keyring_path))
        assert record["leaf_hash"] not in leaves, "the leaf hash confirms a guess of the inputs"
        # the rows, the job's root and the proofs still verify; only the person's row is shut
        proof = p.batch_jobs.prove(job.job_id, index)
        assert verify_row_proof(proof, merkle_root=job.merkle_root, leaf_hash=record["leaf_hash"])
        values = p.batch_jobs.row_values(job.job_id)
        assert values[index] is None
        assert sum(v is None for v in values) == 1
        other = values[(index + 1) % len(values)]
        assert other is not None and len(other.contributions) == len(schema.names)
        with pytest.raises(SubjectErased):
            p.batch_jobs.row_key(job.job_id, pseudo, version=1)
        assert p.ledger.verify().ok
