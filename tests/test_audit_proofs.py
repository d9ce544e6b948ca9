"""audit.prove: inclusion proofs for a decision and its consent; rollback caught by consistency."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import Personalizer
from sdk.audit import verify_consistency, verify_export, verify_proof
from sdk.audit.proofs import ConsistencyEvidence
from sdk.errors import AuditError, LedgerRollback


def _setup(p: Personalizer):
    frame, schema = german_credit()
    frame = frame.iloc[:80].reset_index(drop=True)
    signed_classifier(p, frame, schema, purposes=("profiling", "personalization"))
    return frame, schema


def _decide(p, frame, schema, n, start=0):
    return [
        p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        for i in range(start, start + n)
    ]


def test_prove_covers_decision_actions_and_consent_and_any_change_fails(p: Personalizer) -> None:
    frame, schema = _setup(p)
    d = _decide(p, frame, schema, 3)[1]
    p.reviews.approve(d.decision_id, reviewer="rev.1")
    proof = p.audit.prove(d.decision_id)
    key = p.ledger.public_key
    report = verify_proof(proof, key)
    assert report.ok, report.problem
    assert report.checked == 1 + 1 + len(proof.consent) and proof.consent
    assert verify_proof(proof.model_dump_json(), base64.b64encode(key).decode()).ok
    record = p.ledger.get(proof.decision.seq).data
    assert [c.seq for c in proof.consent] == [e["seq"] for e in record["consent"]["entries"]]

    # another signer's key
    assert not verify_proof(proof, b"\x02" * 32).ok
    # one changed byte in the decision, or in a consent entry, is named
    body = proof.decision.body
    flipped = body.replace('"outcome":"', '"outcome":"x', 1)
    bad = verify_proof(
        proof.model_copy(update={"decision": proof.decision.model_copy(update={"body": flipped})}),
        key,
    )
    assert not bad.ok and bad.first_bad == proof.decision.seq and "hash" in bad.problem
    import hashlib

    forged = proof.decision.model_copy(
        update={"body": flipped, "hash": hashlib.sha256(flipped.encode()).hexdigest()}
    )
    bad = verify_proof(proof.model_copy(update={"decision": forged}), key)
    assert not bad.ok and "not in the checkpointed tree" in bad.problem
    # leaving out a consent entry the decision used is caught
    bad = verify_proof(proof.model_copy(update={"consent": proof.consent[:-1]}), key)
    assert not bad.ok and "consent entries differ" in bad.problem


def test_rollback_and_fork_are_caught_by_consistency(db_path: Path, tmp_path: Path) -> None:
    with Personalizer.open(db_path) as p:
        frame, schema = _setup(p)
        _decide(p, frame, schema, 5)
        old = p.ledger.checkpoint().note  # size M: the backup
    backup = tmp_path / "backup"
    backup.mkdir()
    for f in db_path.parent.iterdir():
        if f.name.startswith(db_path.name) or f.name.endswith(".json"):
            shutil.copy2(f, backup / f.name)
    with Personalizer.open(db_path) as p:
        _decide(p, frame, schema, 5, start=5)
        seen = p.ledger.checkpoint().note  # size N > M: what the auditor kept
        key = p.ledger.public_key
        evidence = p.audit.prove_consistency(old)
        assert verify_consistency(evidence, key, old_checkpoint=old).ok
        manifest = p.audit.export(tmp_path / "export")
        assert manifest.checkpoint == seen
    assert verify_export(tmp_path / "export", trust=key).ok
    # the checkpoint the auditor kept pins the key too (no key needed); an old one is fine
    assert verify_export(tmp_path / "export", trusted_checkpoint=seen).ok
    assert verify_export(tmp_path / "export", trusted_checkpoint=old).ok
    assert not verify_export(tmp_path / "export").ok  # nothing pinned

    # serving the older checkpoint as the current one
    stale = ConsistencyEvidence(
        old_checkpoint=seen, new_checkpoint=old, proof={"old_size": 0, "new_size": 0, "path": []}
    )
    bad = verify_consistency(stale, key)
    assert not bad.ok and "rollback" in bad.problem

    # the database restored from the backup: shorter than what the auditor saw
    for f in backup.iterdir():
        shutil.copy2(f, db_path.parent / f.name)
    for suffix in ("-wal", "-shm"):
        extra = Path(str(db_path) + suffix)
        if extra.exists() and not (backup / extra.name).exists():
            extra.unlink()
    # the witness log beside the keyring saw the newer checkpoint: open refuses the backup
    with pytest.raises(LedgerRollback):
        Personalizer.open(db_path)
    # without a witness (an attacker who also rolled it back), the auditor's checkpoint does
    with Personalizer.open(db_path, witness=[]) as p:
        with pytest.raises(AuditError, match="rolled back"):
            p.audit.prove_consistency(seen)
        # and once it has grown past the old size again, it is a fork
        _decide(p, frame, schema, 8, start=10)
        forked = p.audit.prove_consistency(seen)
        bad = verify_consistency(forked, key, old_checkpoint=seen)
        assert not bad.ok and "does not extend" in bad.problem
        assert not verify_consistency(forked, key, old_checkpoint=old).ok
