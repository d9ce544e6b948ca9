"""Consent receipts: signed, carrying their inclusion proof and checkpoint, verified offline;
ISO/IEC TS 27560 fields as DPV maps them, and the Kantara v1.1 view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdk import Personalizer
from sdk.consent import verify_receipt
from sdk.crypto.keyring import Keyring
from sdk.errors import ProofError
from sdk.ledger import verify_consistency_proof


@pytest.fixture
def grant_json(db_path: Path) -> tuple[str, bytes, str]:
    """A receipt's JSON and the public key, taken out of a closed database."""
    with Personalizer.open(db_path) as p:
        p.consent.notices.register("privacy", version="3", text="How we use your data.")
        p.consent.configure(controller={"name": "Handmade Goods Ltd", "email": "dpo@example.org"})
        receipt = p.consent.grant(
            "customer-canary-7731",
            ["personalization", "analytics"],
            notice="privacy",
            source="signup-form",
        )
        for i in range(5):  # later entries: the receipt's proof is for the tree at its time
            p.consent.grant(f"other-{i}", "analytics")
        return receipt.model_dump_json(), p.keyring.public_key_bytes(), receipt.subject


def test_receipt_verifies_offline(grant_json: tuple[str, bytes, str]) -> None:
    text, public_key, pseudo = grant_json
    verify_receipt(text, public_key)  # only the JSON and the key: no database, no keyring
    obj = json.loads(text)
    assert obj["action"] == "grant" and obj["recorded"] is True
    assert obj["subject"] == pseudo and "customer-canary" not in text
    assert obj["purposes"] == ["personalization", "analytics"]
    assert obj["checkpoint"].count("\n") == 5 and obj["tree_size"] >= obj["ledger_seqs"][0]


def test_every_one_byte_change_fails(grant_json: tuple[str, bytes, str]) -> None:
    text, public_key, _ = grant_json
    raw = text.encode()
    for i in range(len(raw)):
        altered = bytearray(raw)
        altered[i] ^= 0x01
        with pytest.raises(ProofError):
            verify_receipt(bytes(altered), public_key)


def test_wrong_key_or_stripped_proof_fails(
    grant_json: tuple[str, bytes, str], tmp_path: Path
) -> None:
    text, _, _ = grant_json
    other = Keyring.create(tmp_path / "other.json")
    with pytest.raises(ProofError, match="signature"):
        verify_receipt(text, other.public_key_bytes())
    obj = json.loads(text)
    obj["signature"] = None
    with pytest.raises(ProofError, match="no signature"):
        verify_receipt(obj, grant_json[1])


def test_receipt_record_has_the_27560_fields_in_dpv_terms(p: Personalizer) -> None:
    p.consent.notices.register("privacy", version="1", text="text")
    receipt = p.consent.grant("ida", "personalization", notice="privacy", source="settings")
    record = receipt.record
    assert record is not None
    assert record["@type"] == "dpv:ConsentRecord"
    assert record["dct:identifier"] == receipt.receipt_id
    assert record["dpv:hasDataSubject"]["@id"].endswith(receipt.subject)
    (purpose,) = record["dpv:hasPurpose"]
    assert purpose["@id"] == "https://w3id.org/dpv#ServicePersonalisation"
    assert purpose["dpv:hasLegalBasis"]["@id"].endswith("gdpr#A6-1-a")
    assert purpose["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentGiven"
    assert record["dpv:hasNotice"]["dct:hasVersion"] == "1"
    assert record["dpv:hasIndicationMethod"] == "settings"
    kantara = p.consent.kantara(receipt, jurisdiction="DE")
    assert kantara["version"] == "KI-CR-v1.1.0"
    assert kantara["consentReceiptID"] == receipt.receipt_id
    assert kantara["piiPrincipalId"] == receipt.subject
    assert kantara["jurisdiction"] == "DE"
    service = kantara["services"][0]
    assert service["purposes"][0]["purposeCategory"] == [purpose["@id"]]
    assert {
        "consentTimestamp",
        "collectionMethod",
        "piiControllers",
        "policyUrl",
        "sensitive",
        "spiCat",
        "language",
    } <= kantara.keys()


def test_withdraw_and_repeat_receipts_verify_and_stay_consistent(p: Personalizer) -> None:
    pub = p.keyring.public_key_bytes()
    g = p.consent.grant("jon", "marketing")
    w = p.consent.withdraw("jon", "marketing")
    again = p.consent.withdraw("jon", "marketing")
    for r in (g, w, again):
        verify_receipt(r, pub)
    assert w.action == "withdraw" and not again.recorded
    assert again.ledger_seqs == w.ledger_seqs
    assert w.record is not None
    assert w.record["dpv:hasPurpose"][0]["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentWithdrawn"
    # the grant's checkpoint is a prefix of the later one: the log only grew
    assert g.checkpoint is not None and again.checkpoint is not None
    assert g.tree_size is not None and again.tree_size is not None
    verify_consistency_proof(
        g.checkpoint,
        again.checkpoint,
        p.ledger.prove_consistency(g.tree_size, again.tree_size),
        pub,
    )


def test_receipts_made_while_another_process_appends_verify_against_the_store(
    db_path: Path,
) -> None:
    # receipts take the body and the checkpoint of the commit this process just made, not a
    # fresh read: they must still hold the stored bytes and a checkpoint the store extends
    import subprocess
    import sys

    from sdk.ledger import open_checkpoint

    with Personalizer.open(db_path) as p:
        p.consent.grant("warm-up", "analytics")
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom sdk import Personalizer\n"
            "with Personalizer.open(sys.argv[1]) as p:\n"
            "    for i in range(150): p.consent.grant(f'far-{i}', 'analytics')\n",
            str(db_path),
        ]
    )
    with Personalizer.open(db_path) as p:
        receipts = [p.consent.grant(f"near-{i}", ["personalization", "analytics"])
                    for i in range(150)]
        assert other.wait(timeout=120) == 0
        pub = p.keyring.public_key_bytes()
        latest = p.ledger.checkpoint()
        for r in receipts:
            verify_receipt(r, pub)
            assert r.checkpoint is not None and r.tree_size is not None
            cp = open_checkpoint(r.checkpoint, pub, origin=p.ledger.origin)
            assert cp.size == r.tree_size >= r.ledger_seqs[0]
            verify_consistency_proof(
                cp, latest, p.ledger.prove_consistency(cp.size, latest.size), pub
            )
        assert p.ledger.size == 1 + 150 + 150
    # and from a process that never saw those commits: the stored bodies are the receipts' own
    with Personalizer.open(db_path) as fresh:
        for r in receipts[::10]:
            assert r.entry_body is not None
            assert fresh.ledger.body(r.ledger_seqs[0]) == r.entry_body.encode()
