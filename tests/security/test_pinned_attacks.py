"""Verifiers that trust the key they are handed inside the evidence prove nothing: an attacker who
holds an export, a proof or a receipt (but not the operator's signing key) rewrites it and signs
it with a key of their own. Each forgery below must fail unless the verifier pinned the
operator's key; without a pinned key nothing reports ok and the report says how to pin."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _exports import decide_some
from _forge import AttackerKey, drop_from, forged_checkpoint
from typer.testing import CliRunner

from sdk import Personalizer
from sdk.audit import AuditProof, verify_export, verify_proof
from sdk.audit.proofs import EntryProof
from sdk.cli import app
from sdk.consent import verify_receipt
from sdk.errors import ProofError
from sdk.subjects import verify_erasure_receipt
from sdk.subjects.rights import _signed_bytes as erasure_signed_bytes
from sdk.types import ConsentReceipt, ErasureReceipt

HINT = "whylens keys public"


@dataclass
class World:
    db: Path
    export: Path
    key: bytes
    override_seq: int
    proof: AuditProof
    consent: ConsentReceipt
    erasure: ErasureReceipt


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One store: decisions, a held one overridden by a reviewer, a consent receipt, an erasure,
    and an export taken right after the override."""
    root = tmp_path_factory.mktemp("pinned")
    db = root / "shop.db"
    with Personalizer.open(db, keyring=root / "shop.keyring.json") as p:
        decide_some(p, 8)
        held = p.reviews.pending()[0]
        other = "declined" if held.automated_outcome == "approved" else "approved"
        p.reviews.assess(held.decision_id, reviewer="rev.1", outcome=other)
        p.reviews.override(
            held.decision_id, outcome=other, reviewer="rev.1", reason="documents checked"
        )
        override_seq = next(e.seq for e in p.ledger.entries() if e.kind == "review.override")
        assert override_seq == p.ledger.size  # the override is the newest entry
        export = root / "export"
        p.audit.export(export, format="jsonl")
        proof = p.audit.prove(held.decision_id)
        consent = p.consent.grant("someone-else", "personalization")
        erasure = p.subjects.erase("someone-else")
        yield World(db, export, p.keyring.public_key_bytes(), override_seq, proof, consent, erasure)


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def _forged_export(world: World, tmp_path: Path) -> Path:
    folder = _copy(world.export, tmp_path / "forged")
    drop_from(folder, world.override_seq, AttackerKey())
    return folder


def test_forged_export_without_the_override_is_refused(world: World, tmp_path: Path) -> None:
    folder = _forged_export(world, tmp_path)
    report = verify_export(folder)
    assert not report.ok, "an export re-signed by an attacker's key verified"
    assert report.problem is not None and HINT in report.problem
    pinned = verify_export(folder, trust=world.key)
    assert not pinned.ok and pinned.problem is not None
    assert "different key" in pinned.problem


def test_genuine_export_is_ok_only_when_pinned(world: World, tmp_path: Path) -> None:
    unpinned = verify_export(world.export)
    assert not unpinned.ok and unpinned.problem is not None and HINT in unpinned.problem
    assert unpinned.first_bad is None
    assert verify_export(world.export, trust=world.key).ok
    assert verify_export(world.export, trust=base64.b64encode(world.key).decode()).ok
    trust_file = tmp_path / "whylens.pub"
    trust_file.write_text(base64.b64encode(world.key).decode() + "\n")
    assert verify_export(world.export, trust=trust_file).ok
    assert verify_export(world.export, trust=str(trust_file)).ok


def test_cli_verify_of_forged_export_exits_nonzero_with_the_pin_hint(
    world: World, tmp_path: Path
) -> None:
    folder = _forged_export(world, tmp_path)
    result = CliRunner().invoke(app, ["audit", "verify", str(folder)])
    assert result.exit_code == 1, result.output
    assert HINT in result.output and "--trust" in result.output
    trust_file = tmp_path / "whylens.pub"
    written = CliRunner().invoke(app, ["keys", "public", "--db", str(world.db)])
    assert written.exit_code == 0, written.output
    trust_file.write_text(written.output)
    result = CliRunner().invoke(app, ["audit", "verify", str(folder), "--trust", str(trust_file)])
    assert result.exit_code == 1 and "different key" in result.output
    result = CliRunner().invoke(
        app, ["audit", "verify", str(world.export), "--trust", str(trust_file)]
    )
    assert result.exit_code == 0, result.output


def _forged_proof(world: World) -> AuditProof:
    """The proof of the overridden decision with the override left out: a fresh tree over the
    entries before it, checkpointed and signed with the attacker's key."""
    attacker = AttackerKey()
    proof = world.proof
    with Personalizer.open(world.db, keyring=world.db.with_name("shop.keyring.json")) as p:
        bodies = [p.ledger.body(seq) for seq in range(1, world.override_seq)]
    cp, tree = forged_checkpoint(proof.origin, bodies, attacker)

    def entry(item: EntryProof) -> EntryProof:
        path = tree.inclusion_path(item.seq - 1, tree.size)
        return item.model_copy(
            update={
                "proof": {
                    "seq": item.seq,
                    "tree_size": tree.size,
                    "path": [base64.b64encode(x).decode() for x in path],
                }
            }
        )

    kept = tuple(entry(a) for a in proof.actions if a.seq < world.override_seq)
    assert len(kept) < len(proof.actions)  # the override was in the genuine proof
    return proof.model_copy(
        update={
            "checkpoint": cp.note,
            "public_key": attacker.b64,
            "decision": entry(proof.decision),
            "actions": kept,
            "consent": tuple(entry(c) for c in proof.consent),
        }
    )


def test_forged_proof_is_refused(world: World) -> None:
    forged = _forged_proof(world)
    report = verify_proof(forged)
    assert not report.ok, "a proof re-signed by an attacker's key verified"
    assert report.problem is not None and HINT in report.problem
    assert not verify_proof(forged, trust=world.key).ok
    assert not verify_proof(world.proof).ok  # genuine, but nothing pinned
    assert verify_proof(world.proof, trust=world.key).ok


def _forged_erasure(world: World) -> ErasureReceipt:
    attacker = AttackerKey()
    raw = attacker.public_key_bytes()
    forged = world.erasure.model_copy(
        update={
            "subject": "0" * 64,  # claims someone else was erased
            "public_key": base64.b64encode(raw).decode(),
            "key_fingerprint": hashlib.sha256(raw).hexdigest(),
        }
    )
    signature = attacker.sign(erasure_signed_bytes(forged))
    return forged.model_copy(update={"signature": base64.b64encode(signature).decode()})


def test_forged_erasure_receipt_is_refused(world: World) -> None:
    forged = _forged_erasure(world)
    report = verify_erasure_receipt(forged)
    assert not report, "an erasure receipt re-signed by an attacker's key verified"
    assert not report.ok and report.problem is not None and HINT in report.problem
    assert not verify_erasure_receipt(forged, trust=world.key)
    assert not verify_erasure_receipt(world.erasure)  # genuine, but nothing pinned
    assert verify_erasure_receipt(world.erasure, trust=world.key)


def test_consent_receipt_needs_a_pinned_key(world: World) -> None:
    """verify_receipt always took the key as an argument; what broke it was input: a receipt of
    deeply nested JSON raised RecursionError, not ProofError. Now it also accepts trust material
    (base64 text, a trust file) and refuses, with the pin hint, to run without a key."""
    text = world.consent.model_dump_json()
    with pytest.raises(ProofError):
        verify_receipt("[" * 100_000, world.key)
    with pytest.raises(ProofError, match=HINT):
        verify_receipt(text, None)
    verify_receipt(text, world.key)
    verify_receipt(text, base64.b64encode(world.key).decode())
    attacker = AttackerKey()
    with pytest.raises(ProofError):
        verify_receipt(text, attacker.public_key_bytes())
