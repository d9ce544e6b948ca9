"""Consent receipts checked against a checkpoint the verifier holds (from a witness, an auditor,
an earlier export) instead of a pinned key: the checkpoint vouches for the key the receipt
names. Never ok with neither. Also through ``whylens consent verify-receipt`` in a subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdk import Personalizer
from sdk.consent import verify_receipt
from sdk.consent.receipts import _signed_bytes
from sdk.crypto.signing import FileSigner
from sdk.errors import ProofError
from sdk.ledger import sign_checkpoint
from sdk.ledger.merkle import leaf_hash

ROOT = Path(__file__).resolve().parents[2]


def _genuine(tmp_path: Path, name: str = "shop") -> tuple[str, str, str, Path]:
    """A receipt of a store with a separate signing key; the checkpoint at the receipt's size
    and a later one (what a witness holds afterwards); the key file. The consistency evidence
    from the receipt's checkpoint to the later one is written to ``NAME.consistency.json``."""
    key = tmp_path / f"{name}.signing.key"
    with Personalizer.open(tmp_path / f"{name}.db", signing_key=key) as p:
        receipt = p.consent.grant("cust-1", "personalization").model_dump_json()
        at_receipt = p.ledger.checkpoint().note
        p.consent.grant("cust-2", "personalization")
        later = p.ledger.checkpoint().note
        evidence = p.audit.prove_consistency(at_receipt, later)
    (tmp_path / f"{name}.consistency.json").write_text(evidence.model_dump_json())
    return receipt, at_receipt, later, key


def test_a_held_checkpoint_vouches_for_the_receipts_key(tmp_path: Path) -> None:
    receipt, at_receipt, later, key = _genuine(tmp_path)
    assert json.loads(receipt)["public_key"] == base64.b64encode(
        FileSigner.load(key).public_key_bytes()
    ).decode()
    verify_receipt(receipt, trusted_checkpoint=at_receipt)
    # a later checkpoint: the log grew, or a fork was signed beside it; the evidence tells
    with pytest.raises(ProofError, match="consistency evidence"):
        verify_receipt(receipt, trusted_checkpoint=later)
    evidence = tmp_path / "shop.consistency.json"
    verify_receipt(receipt, trusted_checkpoint=later, consistency=evidence)
    held = tmp_path / "held.checkpoint"
    held.write_text(later)
    verify_receipt(receipt, trusted_checkpoint=held, consistency=evidence)  # files holding them
    verify_receipt(
        receipt,
        FileSigner.load(key).public_key_bytes(),
        trusted_checkpoint=later,
        consistency=evidence,
    )
    with pytest.raises(ProofError, match="no trusted key or checkpoint"):
        verify_receipt(receipt)


def test_a_receipt_from_another_store_is_refused(tmp_path: Path) -> None:
    """The forger runs a store of their own: its receipt is consistent with the key it names,
    but that key did not sign the checkpoint the verifier holds for the real store."""
    _, _, held, _ = _genuine(tmp_path, "shop")
    forged, _, _, _ = _genuine(tmp_path, "forger")
    with pytest.raises(ProofError, match="trusted checkpoint: not signed by the receipt's key"):
        verify_receipt(forged, trusted_checkpoint=held)


def test_a_receipt_altered_and_re_signed_under_the_named_key_is_refused(tmp_path: Path) -> None:
    """Withdrawal turned into a grant and re-signed with the attacker's key, which the receipt
    now names: the held checkpoint was not signed by it."""
    receipt, _, held, _ = _genuine(tmp_path)
    attacker = FileSigner.create(tmp_path / "attacker.key")
    raw = json.loads(receipt)
    raw["purposes"] = ["personalization", "marketing"]
    raw["public_key"] = base64.b64encode(attacker.public_key_bytes()).decode()
    raw["signature"] = base64.b64encode(attacker.sign(_signed_bytes(raw))).decode()
    with pytest.raises(ProofError):
        verify_receipt(json.dumps(raw), trusted_checkpoint=held)
    raw["public_key"] = json.loads(receipt)["public_key"]  # name the real key instead
    raw["signature"] = base64.b64encode(attacker.sign(_signed_bytes(raw))).decode()
    with pytest.raises(ProofError, match="signature does not verify"):
        verify_receipt(json.dumps(raw), trusted_checkpoint=held)


def test_a_fork_at_the_same_size_is_refused(tmp_path: Path) -> None:
    """An insider with the signing key shows the verifier another tree at the receipt's size."""
    receipt, at_receipt, _, key = _genuine(tmp_path)
    origin, size = at_receipt.split("\n")[0], int(at_receipt.split("\n")[1])
    fork = sign_checkpoint(origin, size, leaf_hash(b"another history"), FileSigner.load(key))
    with pytest.raises(ProofError, match="fork"):
        verify_receipt(receipt, trusted_checkpoint=fork.note)


def test_a_receipt_without_a_named_key_needs_a_pinned_one(tmp_path: Path) -> None:
    """Receipts made before they named their key still verify against a pinned key, in every
    input form, but a checkpoint alone cannot vouch for them."""
    receipt, _, held, key = _genuine(tmp_path)
    signer = FileSigner.load(key)
    raw = json.loads(receipt)
    del raw["public_key"]
    raw["signature"] = base64.b64encode(signer.sign(_signed_bytes(raw))).decode()
    from sdk.types import ConsentReceipt

    old = ConsentReceipt.model_validate(raw, strict=False)
    for form in (json.dumps(raw), raw, old):
        verify_receipt(form, signer.public_key_bytes())
    with pytest.raises(ProofError, match="names no public key"):
        verify_receipt(raw, trusted_checkpoint=held)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sdk.cli", "consent", "verify-receipt", *args], cwd=cwd, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )


def test_the_cli_verifies_against_a_checkpoint_or_a_key_and_never_without(
    tmp_path: Path,
) -> None:
    receipt, _, later, key = _genuine(tmp_path)
    forged, _, _, _ = _genuine(tmp_path, "forger")
    (tmp_path / "receipt.json").write_text(receipt)
    (tmp_path / "forged.json").write_text(forged)
    (tmp_path / "held.checkpoint").write_text(later)
    (tmp_path / "bad.json").write_text('{"receipt_id": ')
    trust = base64.b64encode(FileSigner.load(key).public_key_bytes()).decode()
    held = ("--checkpoint", "held.checkpoint")
    ok = _cli("receipt.json", *held, "--consistency", "shop.consistency.json", cwd=tmp_path)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    grown = _cli("receipt.json", *held, cwd=tmp_path)
    assert grown.returncode == 1 and "consistency evidence" in grown.stdout
    assert _cli("receipt.json", "--trust", trust, cwd=tmp_path).returncode == 0
    unpinned = _cli("receipt.json", cwd=tmp_path)
    assert unpinned.returncode == 1 and "whylens keys public" in unpinned.stdout
    refused = _cli("forged.json", "--checkpoint", "held.checkpoint", cwd=tmp_path)
    assert refused.returncode == 1 and "FAILED" in refused.stdout
    bad = _cli("bad.json", "--trust", trust, cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr
    missing = _cli("nowhere.json", "--trust", trust, cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stdout + missing.stderr
