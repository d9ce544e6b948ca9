"""The signing key apart from the keyring: the keyring's holder can no longer re-sign history.

The attacker here holds the database, the keyring and the keyring's folder (so also the default
witness log beside it), but not the separate signing key file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.crypto.keyring import Keyring
from sdk.crypto.signing import FileSigner
from sdk.errors import LedgerIntegrityError, SigningKeyMismatch
from sdk.ledger import open_checkpoint, sign_checkpoint
from sdk.ledger.merkle import MerkleTree
from sdk.ledger.verify import encode_head
from sdk.ledger.witness_file import default_witness_path


def _rewrite_with_the_keyring(store_url: str, keyring_path: Path, origin: str, kept: int) -> None:
    """Cut the ledger back to ``kept`` entries and re-seal it with the keyring's keys; the
    witness log beside the keyring is deleted (the attacker holds that folder)."""
    ring = Keyring.load(keyring_path)
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    last = bytes(tamper(store_url, "SELECT hash FROM ledger WHERE seq = ?", (kept,))[0][0])  # type: ignore[arg-type]
    leaves = [bytes(r[0]) for r in tamper(store_url, "SELECT leaf FROM ledger_leaves ORDER BY seq")]  # type: ignore[arg-type]
    cp = sign_checkpoint(origin, kept, MerkleTree(leaves).root(), ring)
    sql = "UPDATE whylens_meta SET value = ? WHERE key = ?"
    tamper(store_url, sql, (encode_head(ring.mac_key, kept, last.hex()), "ledger_head"))
    tamper(store_url, sql, (cp.note, "ledger_checkpoint"))
    default_witness_path(keyring_path).unlink()


def _history(p: Personalizer) -> int:
    p.consent.grant("cust-1", "personalization")
    kept = p.ledger.size
    p.consent.withdraw("cust-1", "personalization")
    return kept


def test_keyring_holder_rewrites_history_when_the_keyring_signs(
    store_url: str, keyring_path: Path
) -> None:
    """The default (keyring signs, witness log beside it): this attacker wins. The threat model
    says so; a separate signing key or an external witness is the answer (tests below and
    test_witness.py)."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        kept = _history(p)
        origin = p.ledger.origin
    _rewrite_with_the_keyring(store_url, keyring_path, origin, kept)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.ledger.size == kept
        assert p.audit.verify().ok  # the withdrawal is gone and nothing notices


def test_separate_signing_key_stops_the_keyring_holder(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    key_path = tmp_path / "vault" / "signing.key"
    key_path.parent.mkdir()
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=key_path) as p:
        kept = _history(p)
        origin = p.ledger.origin
        signer = FileSigner.load(key_path)
        assert p.ledger.public_key == signer.public_key_bytes() != p.keyring.public_key_bytes()
        open_checkpoint(p.ledger.checkpoint().note, signer.public_key_bytes(), origin=origin)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    _rewrite_with_the_keyring(store_url, keyring_path, origin, kept)
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=key_path) as p:
        report = p.audit.verify()
        assert not report.ok
        assert "checkpoint does not verify" in (report.problem or "")
        with pytest.raises(LedgerIntegrityError):
            p.consent.grant("cust-2", "personalization")  # nothing is sealed on top of it


def test_a_store_refuses_another_signing_key(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    key_path = tmp_path / "signing.key"
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=key_path) as p:
        p.consent.grant("cust-1", "personalization")
    with pytest.raises(SigningKeyMismatch) as caught:
        Personalizer.open(store_url, keyring=keyring_path)  # the keyring's key would sign
    assert caught.value.code == "signing_key_mismatch"
    with pytest.raises(SigningKeyMismatch):
        Personalizer.open(store_url, keyring=keyring_path, signing_key=tmp_path / "other.key")
