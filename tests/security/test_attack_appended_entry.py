"""The database + keyring attacker against a store with a separate signing key (found by the
adversarial review of issue 11).

The threat model says that with a separate signing key the keyring holder cannot re-sign
anything: "checkpoints no longer verify, appends refuse". Rewriting history is refused. But an
entry *appended* behind whylens's back (the chain extended, the keyed head re-made with the
keyring's MAC key, the signed checkpoint left as it was) was only reported by ``verify()`` until
the application's next append: the append built on it and the real signing key signed a
checkpoint over it, which the witness then anchored. Here the forged entry is a sign-off of a
model version, which would let it serve without a person approving it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk._canonical import canonical_json
from sdk.crypto.keyring import Keyring
from sdk.errors import LedgerIntegrityError
from sdk.ledger.entry import body_hash, encode_body, format_ts
from sdk.ledger.merkle import leaf_hash
from sdk.ledger.verify import HEAD_KEY, encode_head


def _append_behind_whylens(store_url: str, keyring_path: Path) -> int:
    """Extend the chain by one forged entry and re-make the keyed head (the keyring's MAC key);
    the checkpoint stays: the attacker has no signing key. Returns the forged seq."""
    [(seq, digest)] = tamper(store_url, "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
    seq, prev = int(seq) + 1, bytes(digest).hex()  # type: ignore[arg-type, call-overload]
    data = {"name": "credit", "version": 9, "content_hash": "0" * 64, "governed_hash": "0" * 64,
            "reviewer": "lead", "note": None}
    ts = format_ts(datetime.now(UTC))
    body = encode_body(seq=seq, stream="models", kind="model.sign_off", subject=None,
                       ts=ts, data_bytes=canonical_json(data), prev=prev)
    tamper(store_url, "INSERT INTO ledger (seq, stream, kind, subject, ts, body, prev_hash, hash) "
           "VALUES (?, 'models', 'model.sign_off', NULL, ?, ?, ?, ?)",
           (seq, ts, body, bytes.fromhex(prev), body_hash(body)))
    tamper(store_url, "INSERT INTO ledger_leaves (seq, leaf) VALUES (?, ?)", (seq, leaf_hash(body)))
    head = encode_head(Keyring.load(keyring_path).mac_key, seq, body_hash(body).hex())
    tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (head, HEAD_KEY))
    return seq


def test_attack_an_entry_appended_with_the_keyring_is_not_sealed_by_the_next_append(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    key_path = tmp_path / "vault" / "signing.key"
    key_path.parent.mkdir()
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=key_path) as p:
        p.consent.grant("cust-1", "personalization")
    forged = _append_behind_whylens(store_url, keyring_path)
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=key_path) as p:
        report = p.audit.verify()
        assert not report.ok and "not covered by the signed checkpoint" in (report.problem or "")
        with pytest.raises(LedgerIntegrityError):
            p.consent.grant("cust-2", "personalization")  # nothing is sealed on top of it
        assert p.ledger.size == forged
        assert not p.audit.verify().ok
