"""Attacks on the offline verifiers by whoever hands them files (an export folder, a proof, a
receipt, a trusted checkpoint, a trust file), found by the adversarial review of issue 11.

* a file the manifest lists but no check reads (``personal.jsonl``) changed after signing;
* a file planted beside the listed ones (an auditor opens ``personal.jsonl`` or
  ``records.csv`` that no signature covers);
* a named pipe instead of a file (the verifier blocks for ever instead of failing);
* a checkpoint whose size line is a non-ASCII digit (``str.isdigit`` accepts ``²``, ``int``
  does not): a ``ValueError`` traceback instead of a failing report;
* an insider with the signing key hands an auditor who kept a checkpoint an export (or a proof)
  of a forked log at a larger size: the export's whole ledger, or consistency evidence, must
  show the trusted tree as its prefix.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _exports import decide_some
from typer.testing import CliRunner

from sdk import Personalizer
from sdk.audit import AuditProof, verify_export, verify_proof
from sdk.audit.proofs import verify_consistency
from sdk.cli import app
from sdk.consent import verify_receipt
from sdk.errors import ProofError
from sdk.types import ConsentReceipt

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    db: Path
    keyring: Path
    plain: Path
    personal: Path
    key: bytes
    note: str
    proof: AuditProof
    receipt: ConsentReceipt


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("attack-verifier")
    db, ring = root / "shop.db", root / "shop.keyring.json"
    with Personalizer.open(db, keyring=ring) as p:
        decide_some(p, 4)
        p.audit.export(root / "plain")
        p.audit.export(root / "personal", personal=True)
        decision_id = next(
            e.data["decision_id"] for e in p.ledger.entries() if e.kind == "decision"
        )
        proof = p.audit.prove(decision_id)
        receipt = p.consent.grant("verifier-subject", "personalization")
        yield World(
            db, ring, root / "plain", root / "personal", p.signer.public_key_bytes(),
            p.ledger.checkpoint().note, proof, receipt,
        )


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- files of the export folder ------------------------------------------------------------------


def test_attack_altered_personal_file_is_caught(world: World, tmp_path: Path) -> None:
    folder = _copy(world.personal, tmp_path / "export")
    assert verify_export(folder, trust=world.key).ok
    personal = folder / "personal.jsonl"
    rows = [json.loads(line) for line in personal.read_text().splitlines()]
    assert rows and not rows[0]["erased"]
    rows[0]["fields"] = {"inputs": {"age": 99.0}}  # what a compliance officer would read
    personal.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = verify_export(folder, trust=world.key)
    assert not report.ok, "a changed personal.jsonl verified"
    assert report.problem is not None and "personal.jsonl" in report.problem


@pytest.mark.parametrize("planted", ["personal.jsonl", "records.csv", "README.txt"])
def test_attack_file_planted_beside_the_listed_ones_is_caught(
    world: World, tmp_path: Path, planted: str
) -> None:
    folder = _copy(world.plain, tmp_path / "export")
    (folder / planted).write_text('{"seq":1,"erased":false,"fields":{"note":"forged"}}\n')
    report = verify_export(folder, trust=world.key)
    assert not report.ok, f"an export with an unsigned {planted} verified"
    assert report.problem is not None and planted in report.problem


def _verify_in_a_process(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a verifier in a real process of its own, with a deadline (a hang is the bug)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the verifier blocked on a named pipe instead of failing")


@pytest.mark.parametrize("name", ["manifest.json", "ledger.jsonl", "records.jsonl"])
def test_attack_named_pipe_in_the_export_fails_instead_of_blocking(
    world: World, tmp_path: Path, name: str
) -> None:
    folder = _copy(world.plain, tmp_path / "export")
    (folder / name).unlink()
    os.mkfifo(folder / name)
    result = _verify_in_a_process(
        f"""
        from sdk.audit import verify_export
        report = verify_export({str(folder)!r}, trust={world.key!r})
        print("OK" if report.ok else "FAILED " + str(report.problem))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("FAILED") and name in result.stdout


@pytest.mark.parametrize("what", ["trusted_checkpoint", "trust"])
def test_attack_named_pipe_as_trust_material_fails_instead_of_blocking(
    world: World, tmp_path: Path, what: str
) -> None:
    pipe = tmp_path / "whylens.pub"
    os.mkfifo(pipe)
    result = _verify_in_a_process(
        f"""
        from pathlib import Path
        from sdk.audit import verify_export
        report = verify_export({str(world.plain)!r}, {what}=Path({str(pipe)!r}))
        print("OK" if report.ok else "FAILED " + str(report.problem))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("FAILED")


# -- a checkpoint size that is a digit to str.isdigit but not to int ----------------------------


def _superscript_size(note: str) -> str:
    lines = note.split("\n")
    lines[1] = "\u00b2"  # '²'.isdigit() is True; int('²') raises ValueError
    return "\n".join(lines)


def test_attack_non_ascii_digit_in_a_trusted_checkpoint(world: World, tmp_path: Path) -> None:
    bad = _superscript_size(world.note)
    report = verify_export(world.plain, trust=world.key, trusted_checkpoint=bad)
    assert not report.ok and report.problem is not None
    report = verify_export(world.plain, trusted_checkpoint=bad)
    assert not report.ok
    report = verify_proof(world.proof, trust=world.key, trusted_checkpoint=bad)
    assert not report.ok
    note_file = tmp_path / "checkpoint.txt"
    note_file.write_text(bad)
    result = CliRunner().invoke(
        app, ["audit", "verify", str(world.plain), "--checkpoint", str(note_file)]
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback


def test_attack_non_ascii_digit_in_a_proof_or_receipt_checkpoint(world: World) -> None:
    forged = world.proof.model_copy(
        update={"checkpoint": _superscript_size(world.proof.checkpoint)}
    )
    report = verify_proof(forged, trust=world.key)
    assert not report.ok and report.problem is not None
    assert world.receipt.checkpoint is not None
    receipt = world.receipt.model_copy(
        update={"checkpoint": _superscript_size(world.receipt.checkpoint)}
    )
    with pytest.raises(ProofError):
        verify_receipt(receipt, world.key)
    # a consistency proof between two checkpoints, one of them malformed this way
    with Personalizer.open(world.db, keyring=world.keyring) as p:
        evidence = p.audit.prove_consistency(world.note)
    bad = evidence.model_copy(update={"new_checkpoint": _superscript_size(evidence.new_checkpoint)})
    report = verify_consistency(bad, base64.b64encode(world.key).decode())
    assert not report.ok


# -- an insider's fork, at a larger size than the auditor's checkpoint ---------------------------


def test_attack_insider_fork_larger_than_the_trusted_checkpoint(tmp_path: Path) -> None:
    honest, ring = tmp_path / "shop.db", tmp_path / "shop.keyring.json"
    with Personalizer.open(honest, keyring=ring) as p:
        p.consent.grant("cust-1", "personalization")
        p.consent.withdraw("cust-1", "personalization")
        held = p.ledger.checkpoint().note  # the auditor keeps this (2 entries + genesis)
        key = p.signer.public_key_bytes()
    # the insider: same keyring (so same origin and signing key), another database, in which
    # the withdrawal never happened and more entries follow
    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    shutil.copyfile(ring, fork_dir / "shop.keyring.json")
    (fork_dir / "shop.keyring.json").chmod(0o600)
    with Personalizer.open(fork_dir / "shop.db", keyring=fork_dir / "shop.keyring.json") as f:
        f.consent.grant("cust-1", "personalization")
        for i in range(3):
            f.consent.grant(f"cust-{i + 2}", "personalization")
        f.audit.export(tmp_path / "fork-export")
    report = verify_export(tmp_path / "fork-export", trust=key, trusted_checkpoint=held)
    assert not report.ok, "an export of a forked log verified against the auditor's checkpoint"
    size = int(held.split("\n")[1])
    assert report.problem is not None and "fork" in report.problem
    assert report.first_bad == size and f"at or before entry {size}" in report.problem
    # the same with no key, the checkpoint alone pinning it, and on the command line
    assert not verify_export(tmp_path / "fork-export", trusted_checkpoint=held).ok
    note_file = tmp_path / "held.txt"
    note_file.write_text(held)
    result = CliRunner().invoke(
        app, ["audit", "verify", str(tmp_path / "fork-export"), "--checkpoint", str(note_file)]
    )
    assert result.exit_code == 1 and "fork" in result.output, result.output
    # the insider drops the export's checkpoint (and proof) and re-signs the manifest
    from _forge import resign_manifest

    from sdk.crypto.keyring import Keyring

    stripped = _copy(tmp_path / "fork-export", tmp_path / "fork-stripped")
    resign_manifest(
        stripped, Keyring.load(fork_dir / "shop.keyring.json"),
        checkpoint=None, origin=None, last_proof=None,
    )
    assert verify_export(stripped, trust=key).ok  # signed by the real key
    report = verify_export(stripped, trust=key, trusted_checkpoint=held)
    assert not report.ok and "no checkpoint" in (report.problem or ""), report.problem
    # the honest log, grown past the held checkpoint, still verifies against it
    with Personalizer.open(honest, keyring=ring) as p:
        p.consent.grant("cust-9", "personalization")
        p.audit.export(tmp_path / "honest-export")
    assert verify_export(tmp_path / "honest-export", trusted_checkpoint=held).ok


def test_attack_insider_fork_of_a_proof_larger_than_the_trusted_checkpoint(
    tmp_path: Path,
) -> None:
    """The same fork, handed to the auditor as a decision proof: a proof carries no ledger, so
    a trusted checkpoint of another size needs consistency evidence, and the fork has none."""
    honest, ring = tmp_path / "shop.db", tmp_path / "shop.keyring.json"
    with Personalizer.open(honest, keyring=ring) as p:
        decide_some(p, 2)
        held = p.ledger.checkpoint().note
        key = p.signer.public_key_bytes()
    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    shutil.copyfile(ring, fork_dir / "shop.keyring.json")
    (fork_dir / "shop.keyring.json").chmod(0o600)
    with Personalizer.open(fork_dir / "shop.db", keyring=fork_dir / "shop.keyring.json") as f:
        decide_some(f, 3)
        decision_id = [e.data["decision_id"] for e in f.ledger.entries() if e.kind == "decision"]
        forged = f.audit.prove(decision_id[-1])
        assert verify_proof(forged, trust=key).ok  # signed by the insider's (the real) key
        # the insider's own evidence, from its fork's checkpoint at the held size
        fake = f.audit.prove_consistency(f.ledger.checkpoint(int(held.split("\n")[1])).note)
    report = verify_proof(forged, trust=key, trusted_checkpoint=held)
    assert not report.ok, "a proof from a forked log verified against the auditor's checkpoint"
    assert report.problem is not None and "consistency evidence" in report.problem
    report = verify_proof(forged, trust=key, trusted_checkpoint=held, consistency=fake)
    assert not report.ok and report.problem is not None, "the fork's own evidence was taken"
    assert "not between the trusted checkpoint" in report.problem
    # the honest log, grown: its proof with its consistency evidence verifies
    with Personalizer.open(honest, keyring=ring) as p:
        decide_some(p, 1)
        ids = [e.data["decision_id"] for e in p.ledger.entries() if e.kind == "decision"]
        proof = p.audit.prove(ids[-1])
        evidence = p.audit.prove_consistency(held, proof.checkpoint)
    assert not verify_proof(proof, trust=key, trusted_checkpoint=held).ok
    report = verify_proof(proof, trust=key, trusted_checkpoint=held, consistency=evidence)
    assert report.ok, report.problem
    report = verify_proof(proof, trusted_checkpoint=held, consistency=evidence.model_dump_json())
    assert report.ok, report.problem


# -- a large, honest record in a CSV export ------------------------------------------------------


def test_a_recommendation_of_many_items_verifies_as_csv(tmp_path: Path) -> None:
    """Not an attack, a false alarm the review met: the ``body`` cell of a recommendation of
    120 items is over the csv module's default field limit (128 KiB), and the verifier said
    ``unreadable`` of an untouched export."""
    import pandas as pd

    from sdk.demo.shop import candidates_for, generate_shop, ranking_frame
    from sdk.demo.story import ranking_schema

    shop = generate_shop(seed=7)
    with Personalizer.open(tmp_path / "shop.db") as p:
        customers = shop.customers
        for customer in customers["customer_id"][customers["consents_to_personalization"]]:
            p.consent.grant(customer, "personalization")
        p.models.train_ranker("r", ranking_frame(shop), ranking_schema(), target="relevance",
                              group="query_id", num_boost_round=5)
        p.models.sign_off("r", 1, reviewer="reviewer.tests")
        base = candidates_for(shop, "cust-0007")
        copies = [base.assign(item_id=base["item_id"].astype(str) + f"-{k}") for k in range(4)]
        candidates = pd.concat(copies, ignore_index=True)
        p.recommend("cust-0007", candidates, model="r", k=len(candidates))
        assert max(len(e.body) for e in p.ledger.raw_entries()) > 128 * 1024
        p.audit.export(tmp_path / "csv", format="csv")
        report = verify_export(tmp_path / "csv", trust=p.signer.public_key_bytes())
    assert report.ok, report.problem


def test_a_segment_export_needs_consistency_evidence_for_a_smaller_trusted_checkpoint(
    tmp_path: Path,
) -> None:
    """An export with ``since`` holds only part of the ledger, so the verifier cannot compute
    the root at the trusted size itself: without evidence the report fails (a fork would look
    the same), with the store's evidence it passes, on the API and on the command line; bad
    evidence fails with a report, never a traceback."""
    from datetime import UTC, datetime

    db, ring = tmp_path / "shop.db", tmp_path / "shop.keyring.json"
    with Personalizer.open(db, keyring=ring) as p:
        p.consent.grant("cust-1", "personalization")
        held = p.ledger.checkpoint().note
        since = datetime.now(UTC)
        for i in range(3):
            p.consent.grant(f"cust-{i + 2}", "personalization")
        manifest = p.audit.export(tmp_path / "segment", since=since)
        assert manifest.first_seq is not None and manifest.first_seq > 1
        assert manifest.checkpoint is not None
        evidence = p.audit.prove_consistency(held, manifest.checkpoint)
    folder = tmp_path / "segment"
    report = verify_export(folder, trusted_checkpoint=held)
    assert not report.ok and report.problem is not None
    assert "consistency evidence" in report.problem
    assert verify_export(folder, trusted_checkpoint=held, consistency=evidence).ok
    evidence_file = tmp_path / "evidence.json"
    evidence_file.write_text(evidence.model_dump_json())
    note_file = tmp_path / "held.txt"
    note_file.write_text(held)
    args = ["audit", "verify", str(folder), "--checkpoint", str(note_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "consistency evidence" in result.output, result.output
    result = CliRunner().invoke(app, [*args, "--consistency", str(evidence_file)])
    assert result.exit_code == 0, result.output
    # evidence between other checkpoints, and evidence that is not evidence
    other = evidence.model_copy(update={"old_checkpoint": evidence.new_checkpoint})
    assert not verify_export(folder, trusted_checkpoint=held, consistency=other).ok
    evidence_file.write_text("{not json")
    result = CliRunner().invoke(app, [*args, "--consistency", str(evidence_file)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output


def test_attack_insider_fork_of_a_receipt_larger_than_the_trusted_checkpoint(
    tmp_path: Path,
) -> None:
    honest, ring = tmp_path / "shop.db", tmp_path / "shop.keyring.json"
    with Personalizer.open(honest, keyring=ring) as p:
        p.consent.grant("cust-1", "personalization")
        p.consent.withdraw("cust-1", "personalization")
        held = p.ledger.checkpoint().note
        key = p.signer.public_key_bytes()
    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    shutil.copyfile(ring, fork_dir / "shop.keyring.json")
    (fork_dir / "shop.keyring.json").chmod(0o600)
    with Personalizer.open(fork_dir / "shop.db", keyring=fork_dir / "shop.keyring.json") as f:
        f.consent.grant("cust-1", "personalization")
        f.consent.grant("cust-2", "personalization")
        receipt = f.consent.grant("cust-1", "marketing")
    verify_receipt(receipt, key)  # signed by the real key
    with pytest.raises(ProofError):
        verify_receipt(receipt, key, trusted_checkpoint=held)
    with pytest.raises(ProofError, match="consistency evidence"):
        verify_receipt(receipt, trusted_checkpoint=held)


def test_a_receipt_from_a_log_that_grew_verifies_with_consistency_evidence(
    tmp_path: Path,
) -> None:
    """The honest case beside the fork: the log grew after the auditor took its checkpoint; the
    receipt verifies once the evidence between the two checkpoints is given, and evidence
    between other checkpoints (or none) fails with a report, never a traceback."""
    with Personalizer.open(tmp_path / "shop.db", keyring=tmp_path / "shop.keyring.json") as p:
        p.consent.grant("cust-1", "personalization")
        held = p.ledger.checkpoint().note
        p.consent.grant("cust-2", "personalization")
        receipt = p.consent.grant("cust-1", "marketing")
        assert receipt.checkpoint is not None
        evidence = p.audit.prove_consistency(held, receipt.checkpoint)
    with pytest.raises(ProofError, match="consistency evidence"):
        verify_receipt(receipt, trusted_checkpoint=held)
    verify_receipt(receipt, trusted_checkpoint=held, consistency=evidence)
    verify_receipt(receipt, trusted_checkpoint=held, consistency=evidence.model_dump_json())
    backwards = evidence.model_copy(update={"old_checkpoint": evidence.new_checkpoint})
    with pytest.raises(ProofError):
        verify_receipt(receipt, trusted_checkpoint=held, consistency=backwards)
    with pytest.raises(ProofError, match="trust"):
        verify_receipt(receipt, trusted_checkpoint=held, consistency="{not json")
