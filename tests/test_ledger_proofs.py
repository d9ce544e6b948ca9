"""The ledger as an RFC 9162 Merkle log: signed checkpoints, inclusion and consistency proofs
checked offline, rollback and fork detection, and tampering with the stored tree."""

from __future__ import annotations

import base64
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from sdk.crypto.keyring import Keyring
from sdk.errors import LedgerIntegrityError, ProofError
from sdk.ledger import (
    Ledger,
    PendingEntry,
    leaf_hash,
    open_checkpoint,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from sdk.ledger.checkpoint import key_hash
from sdk.ledger.merkle import reference_root
from sdk.store import Database

KEY = b"k" * 32
ORIGIN = "whylens.test/ledger"


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    return Keyring.create(tmp_path / "ring.json")


def open_ledger(db: Database, ring: Keyring) -> Ledger:
    return Ledger(db, mac_key=KEY, signer=ring, origin=ORIGIN)


def fill(ledger: Ledger, n: int) -> None:
    for i in range(n):
        ledger.append("audit", "decision", {"i": i})


def test_checkpoint_is_a_c2sp_signed_note(db: Database, ring: Keyring) -> None:
    ledger = open_ledger(db, ring)
    fill(ledger, 5)
    cp = ledger.checkpoint()
    text, sig_line = cp.note.split("\n\n")
    origin, size, root = text.split("\n")
    assert (origin, int(size)) == (ORIGIN, 5)
    bodies = [ledger.body(s) for s in range(1, 6)]
    assert base64.b64decode(root) == reference_root([leaf_hash(b) for b in bodies]) == cp.root
    assert sig_line.startswith("\u2014 " + ORIGIN + " ") and sig_line.endswith("\n")
    blob = base64.b64decode(sig_line.split(" ")[2])
    assert blob[:4] == key_hash(ORIGIN, ring.public_key_bytes()) and len(blob) == 68
    # the signature is Ed25519 over the note text (with its final newline), by the keyring's key
    ring.signing_key.public_key().verify(blob[4:], (text + "\n").encode())
    assert open_checkpoint(cp.note, ring.public_key_bytes(), origin=ORIGIN) == cp


def test_altered_or_foreign_checkpoints_are_refused(
    db: Database, ring: Keyring, tmp_path: Path
) -> None:
    ledger = open_ledger(db, ring)
    fill(ledger, 3)
    note = ledger.checkpoint().note
    pub = ring.public_key_bytes()
    for i in range(len(note.encode())):
        raw = bytearray(note.encode())
        raw[i] ^= 0x01
        try:
            altered = raw.decode()
        except UnicodeDecodeError:
            continue
        with pytest.raises(ProofError):
            open_checkpoint(altered, pub, origin=ORIGIN)
    other = Keyring.create(tmp_path / "other.json")
    with pytest.raises(ProofError, match="not signed by this key"):
        open_checkpoint(note, other.public_key_bytes())
    with pytest.raises(ProofError, match="another log"):
        open_checkpoint(note, pub, origin="somewhere.else/log")


def test_every_entry_proves_its_inclusion_offline(db: Database, ring: Keyring) -> None:
    ledger = open_ledger(db, ring)
    ledger.append_many([PendingEntry("audit", "decision", {"i": i}) for i in range(20)])
    fill(ledger, 13)
    cp = ledger.checkpoint()
    assert cp.size == 33
    pub = ring.public_key_bytes()
    for seq in range(1, 34):
        proof = ledger.prove(seq)
        body = ledger.body(seq)
        assert verify_inclusion_proof(body, proof, cp.note, pub).size == 33
        # through JSON and back, as a verifier would receive it
        again = type(proof).from_json(proof.to_json())
        verify_inclusion_proof(body, again, cp.note, pub)
        with pytest.raises(ProofError, match=f"entry {seq}"):
            verify_inclusion_proof(body.replace(b'"i":', b'"j":'), proof, cp.note, pub)
    # a proof against an older, freshly signed checkpoint
    old = ledger.checkpoint(10)
    verify_inclusion_proof(ledger.body(7), ledger.prove(7, size=10), old, pub)
    with pytest.raises(ProofError, match="tree of 33"):
        verify_inclusion_proof(ledger.body(7), ledger.prove(7), old, pub)


def test_consistency_between_every_pair_of_checkpoints(db: Database, ring: Keyring) -> None:
    ledger = open_ledger(db, ring)
    seen = []
    for i in range(12):
        ledger.append("consent", "consent.grant", {"i": i})
        seen.append(ledger.checkpoint())
    pub = ring.public_key_bytes()
    for a in seen:
        for b in seen:
            if a.size <= b.size:
                verify_consistency_proof(a, b, ledger.prove_consistency(a.size, b.size), pub)
    with pytest.raises(ProofError, match="other tree sizes"):
        verify_consistency_proof(seen[2], seen[5], ledger.prove_consistency(2, 6), pub)


def test_rollback_to_a_backup_is_detected(db: Database, ring: Keyring, tmp_path: Path) -> None:
    ledger = open_ledger(db, ring)
    fill(ledger, 10)
    db.checkpoint()
    backup = tmp_path / "backup.db"
    shutil.copy(db.path, backup)
    fill(ledger, 10)
    witnessed = ledger.checkpoint()  # e.g. kept by an auditor or in an export manifest
    assert witnessed.size == 20
    restored = Database.open(backup)
    rolled = open_ledger(restored, ring)
    assert rolled.verify().ok  # the old file is internally consistent ...
    now = rolled.checkpoint()
    with pytest.raises(ProofError, match="rollback"):  # ... but it is a rollback
        verify_consistency_proof(
            witnessed, now, rolled.prove_consistency(now.size), ring.public_key_bytes()
        )
    restored.close()


def test_a_rewritten_history_is_a_fork(db: Database, ring: Keyring, tmp_path: Path) -> None:
    ledger = open_ledger(db, ring)
    fill(ledger, 8)
    witnessed = ledger.checkpoint()
    # someone holding every key rebuilds the log with entry 5 changed, then appends more
    forged_db = Database.open(tmp_path / "forged.db")
    forged = open_ledger(forged_db, ring)
    for i in range(12):
        forged.append("audit", "decision", {"i": 999 if i == 4 else i})
    new = forged.checkpoint()
    with pytest.raises(ProofError, match="does not extend"):
        verify_consistency_proof(
            witnessed, new, forged.prove_consistency(8, 12), ring.public_key_bytes()
        )
    forged_db.close()


def test_verify_checks_leaves_and_checkpoint(db: Database, ring: Keyring, tmp_path: Path) -> None:
    ledger = open_ledger(db, ring)
    fill(ledger, 9)
    assert ledger.verify().ok
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.execute("UPDATE ledger_leaves SET leaf = ? WHERE seq = 4", (b"\x00" * 32,))
    report = ledger.verify()
    assert not report.ok and report.first_bad == 4 and "Merkle leaf" in (report.problem or "")
    # a fresh ledger object loads the tree from the cache and refuses to sign over the damage
    with pytest.raises(LedgerIntegrityError, match="Merkle root"):
        open_ledger(db, ring).append("audit", "decision", {})
    good = leaf_hash(ledger.body(4))
    conn.execute("UPDATE ledger_leaves SET leaf = ? WHERE seq = 4", (good,))
    # a checkpoint signed by another key is not this log's
    other = Keyring.create(tmp_path / "other.json")
    forged = open_ledger(db, other).checkpoint(9).note
    conn.execute("UPDATE whylens_meta SET value = ? WHERE key = 'ledger_checkpoint'", (forged,))
    report = ledger.verify()
    assert not report.ok and "checkpoint does not verify" in (report.problem or "")
    conn.execute("DELETE FROM whylens_meta WHERE key = 'ledger_checkpoint'")
    assert "checkpoint is missing" in (ledger.verify().problem or "")
    conn.close()


def test_reopened_and_shared_ledgers_keep_one_tree(db: Database, ring: Keyring) -> None:
    a = open_ledger(db, ring)
    b = open_ledger(db, ring)
    for i in range(10):
        (a if i % 3 else b).append("audit", "decision", {"i": i})
    pub = ring.public_key_bytes()
    for ledger in (a, b, open_ledger(db, ring)):
        cp = ledger.checkpoint()
        assert cp.size == 10
        for seq in (1, 5, 10):
            verify_inclusion_proof(ledger.body(seq), ledger.prove(seq), cp, pub)
    assert a.verify().ok


def test_leaves_missing_from_an_older_database_are_rebuilt(db: Database, ring: Keyring) -> None:
    ledger = open_ledger(db, ring)
    fill(ledger, 6)
    conn = sqlite3.connect(db.path, isolation_level=None)
    conn.execute("DELETE FROM ledger_leaves")
    conn.close()
    again = open_ledger(db, ring)
    again.append("audit", "decision", {"i": 6})  # leaves recomputed from the bodies, checked
    rows = db.query("SELECT seq, leaf FROM ledger_leaves ORDER BY seq")
    assert [r[0] for r in rows] == list(range(1, 8))
    assert all(leaf == leaf_hash(again.body(seq)) for seq, leaf in rows)
    assert again.verify().ok


def test_a_ledger_without_signer_still_proves_against_its_root(db: Database) -> None:
    ledger = Ledger(db, mac_key=KEY)
    fill(ledger, 5)
    proof = ledger.prove(3)
    assert proof.tree_size == 5
    from sdk.ledger.merkle import verify_inclusion

    root = reference_root([leaf_hash(ledger.body(s)) for s in range(1, 6)])
    assert verify_inclusion(leaf_hash(ledger.body(3)), 2, 5, proof.path, root)
    assert hashlib.sha256(ledger.body(3)).hexdigest() == ledger.get(3).hash


def test_proofs_while_appending_neither_block_nor_break(db: Database, ring: Keyring) -> None:
    import threading

    fill(open_ledger(db, ring), 50)
    ledger = open_ledger(db, ring)  # its tree is not loaded yet: the first proof loads it
    pub = ring.public_key_bytes()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            fill(ledger, 200)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def prover() -> None:
        try:
            for _ in range(200):
                cp = ledger.checkpoint()
                seq = max(1, cp.size // 2)
                verify_inclusion_proof(ledger.body(seq), ledger.prove(seq, size=cp.size), cp, pub)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=writer), threading.Thread(target=prover)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in pool), "deadlock"
    assert not errors, errors
    assert ledger.verify().ok and ledger.checkpoint().size == 250
