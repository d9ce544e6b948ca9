"""Attacks on the witnesses, found by the adversarial review of issue 11.

* **A new origin blinds the witness.** The ledger's origin is ``whylens.local/ledger/<keyring
  id>`` and the keyring's ``id`` is a plain field of the keyring file: an attacker who holds the
  database and the keyring (the default signer) gives the keyring a new id and re-signs the
  store's checkpoint under the new origin. A :class:`DirectoryWitness` then looks in another
  file (one per origin) and finds nothing; an HTTP witness answers 404 (unknown log), which was
  counted as unreachable and skipped, so a rolled-back store opened and verified. Now each
  witness is pinned to the origin it witnesses (the folder records it on its first anchor, the
  HTTP client is configured with it): another origin is a conflict, and the witness, asked
  about its own origin, names the entries lost.
* **An append-only witness log goes back by one appended line.** ``FileWitness`` reads only the
  last record: whoever can append to the log (an append-only mount does not stop appending)
  puts an older, authentic checkpoint line at the end, and a store rolled back to it opens.
"""

from __future__ import annotations

import json
import secrets
from functools import partial
from pathlib import Path

import pytest
from conftest import tamper
from test_witness import Witness, _origin_and_key, _seal, witness_for  # noqa: F401

from sdk import Personalizer
from sdk.crypto.keyring import Keyring
from sdk.errors import LedgerRollback, WitnessOriginConflict
from sdk.ledger import Checkpoint, MerkleTree, open_checkpoint, sign_checkpoint
from sdk.ledger.witness import WitnessSink
from sdk.ledger.witness_file import DirectoryWitness, FileWitness, default_witness_path
from sdk.ledger.witness_http import HttpWitness


def _roll_back(store_url: str, kept: int, head: list[tuple[object, ...]]) -> None:
    """The attacker cuts every entry after ``kept`` and puts the old signed head back."""
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    for key, value in head:
        tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (value, key))


def _new_keyring_id(store_url: str, keyring_path: Path) -> None:
    """Give the keyring a fresh id and re-sign the store's checkpoint under the new origin
    (the keyring holds the signing key by default)."""
    doc = json.loads(keyring_path.read_text())
    doc["id"] = secrets.token_hex(16)
    keyring_path.write_text(json.dumps(doc, indent=2) + "\n")
    ring = Keyring.load(keyring_path)
    [(note,)] = tamper(store_url, "SELECT value FROM whylens_meta WHERE key = 'ledger_checkpoint'")
    old = open_checkpoint(str(note), ring.public_key_bytes())
    new = sign_checkpoint(f"whylens.local/ledger/{ring.id}", old.size, old.root, ring)
    tamper(
        store_url, "UPDATE whylens_meta SET value = ? WHERE key = 'ledger_checkpoint'", (new.note,)
    )


def _withdrawal_rolled_back(
    store_url: str, keyring_path: Path, sinks: list[WitnessSink]
) -> tuple[int, int]:
    with Personalizer.open(store_url, keyring=keyring_path, witness=sinks) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        head = _seal(store_url)
        p.consent.withdraw("cust-1", "personalization")
        size = p.ledger.size
    _roll_back(store_url, kept, head)
    default_witness_path(keyring_path).unlink(missing_ok=True)  # they hold the keyring's folder
    return kept, size


def test_attack_a_new_keyring_id_blinds_the_directory_witness(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-volume"
    other.mkdir()

    def sinks() -> list[WitnessSink]:
        return [FileWitness(default_witness_path(keyring_path)), DirectoryWitness(other)]

    kept, size = _withdrawal_rolled_back(store_url, keyring_path, sinks())
    with pytest.raises(LedgerRollback):  # without the new id: caught (test_witness.py)
        Personalizer.open(store_url, keyring=keyring_path, witness=sinks())
    default_witness_path(keyring_path).unlink()  # that open anchored the old origin there
    _new_keyring_id(store_url, keyring_path)
    with (
        pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"),
        Personalizer.open(store_url, keyring=keyring_path, witness=sinks()) as p,
    ):
        assert not p.audit.verify().ok, "the rolled-back store verified"


def test_attack_a_new_keyring_id_blinds_the_http_witness(
    store_url: str,
    keyring_path: Path,
    tmp_path: Path,
    witness_for: list[Witness],  # noqa: F811
) -> None:
    origin, key = _origin_and_key(store_url, keyring_path)
    w = Witness(tmp_path / "witness-state.json", origin, key)
    witness_for.append(w)
    kept, size = _withdrawal_rolled_back(store_url, keyring_path, [w.client()])
    _new_keyring_id(store_url, keyring_path)
    with (
        pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"),
        Personalizer.open(store_url, keyring=keyring_path, witness=[w.client()]) as p,
    ):
        assert not p.audit.verify().ok, "the rolled-back store verified"


def test_attack_an_old_line_appended_to_an_append_only_witness_log(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    """The other volume's log is append-only (chattr +a, a WORM bucket): the attacker cannot cut
    it, but can append. One appended copy of an older, authentic record must not make it go
    back."""
    other = tmp_path / "append-only-volume"
    other.mkdir()
    witness = DirectoryWitness(other)

    def sinks() -> list[WitnessSink]:
        return [FileWitness(default_witness_path(keyring_path)), witness]

    kept, size = _withdrawal_rolled_back(store_url, keyring_path, sinks())
    [log] = list(other.glob("*.witness.log"))  # beside it: the pin naming its origin
    lines = log.read_bytes().splitlines(keepends=True)
    old = next(line for line in lines if int(json.loads(line)["note"].split("\n")[1]) == kept)
    for _ in range(2):  # appended twice: the last two records then agree with each other
        with open(log, "ab") as handle:
            handle.write(old)
        with pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"):
            Personalizer.open(store_url, keyring=keyring_path, witness=sinks())


# -- the pins themselves: a new store, another store, a pinned log deleted, an HTTP 404 ----------


def test_a_witness_folder_pins_its_ledger_and_a_new_store_still_starts(tmp_path: Path) -> None:
    """Genesis of a genuinely new store in a fresh folder works and records the pin; a second
    store (another keyring, another origin) pointed at the same folder is refused on open,
    with the typed conflict naming both ledgers."""
    other = tmp_path / "other-volume"
    other.mkdir()
    with Personalizer.open(
        tmp_path / "a.db", keyring=tmp_path / "a.keyring.json", witness=[DirectoryWitness(other)]
    ) as p:
        p.consent.grant("cust-1", "personalization")
        origin = p.ledger.origin
        assert p.audit.verify().ok
    pin = json.loads((other / DirectoryWitness.PIN_FILE).read_text())
    assert pin == {"origin": origin}
    assert (other / DirectoryWitness.PIN_FILE).stat().st_mode & 0o777 == 0o600
    with pytest.raises(WitnessOriginConflict, match="witnesses the ledger") as caught:
        Personalizer.open(
            tmp_path / "b.db", keyring=tmp_path / "b.keyring.json",
            witness=[DirectoryWitness(other)],
        )
    assert origin in str(caught.value) and caught.value.pinned == origin
    # opened again (its genesis is stored), it is refused as not the ledger the witness saw
    with pytest.raises(LedgerRollback, match="witnesses the ledger"):
        Personalizer.open(
            tmp_path / "b.db", keyring=tmp_path / "b.keyring.json",
            witness=[DirectoryWitness(other)],
        )
    with Personalizer.open(  # the first store is unaffected
        tmp_path / "a.db", keyring=tmp_path / "a.keyring.json", witness=[DirectoryWitness(other)]
    ) as p:
        assert p.audit.verify().ok
    # the sink on its own: a typed conflict that names the pinned origin
    with pytest.raises(WitnessOriginConflict) as direct:
        DirectoryWitness(other).latest("whylens.local/ledger/another")
    assert direct.value.pinned == origin and direct.value.code == "witness_origin_conflict"
    # configured with an origin, the folder refuses any other even before a first anchor
    empty = tmp_path / "empty-volume"
    empty.mkdir()
    with pytest.raises(WitnessOriginConflict):
        DirectoryWitness(empty, origin=origin).latest("whylens.local/ledger/another")
    assert DirectoryWitness(empty, origin=origin).latest(origin) is None


def test_a_pinned_log_deleted_from_the_witness_folder_is_a_conflict(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-volume"
    other.mkdir()
    with Personalizer.open(store_url, keyring=keyring_path, witness=[DirectoryWitness(other)]) as p:
        p.consent.grant("cust-1", "personalization")
    [log] = list(other.glob("*.witness.log"))
    log.unlink()  # the pin stays: this folder has witnessed the store before
    with pytest.raises(LedgerRollback, match="log there is gone"):
        Personalizer.open(store_url, keyring=keyring_path, witness=[DirectoryWitness(other)])


def test_an_http_witness_that_does_not_know_its_pinned_log_is_a_conflict(
    store_url: str,
    keyring_path: Path,
    tmp_path: Path,
    witness_for: list[Witness],  # noqa: F811
) -> None:
    """The witness answers 404 (unknown log) for the very origin the client is configured
    with: it lost its record or is another witness. Not 'unreachable': commits would go on
    unwitnessed and a rollback pass."""
    origin, key = _origin_and_key(store_url, keyring_path)
    w = Witness(tmp_path / "witness-state.json", "whylens.local/ledger/somebody-else", key)
    witness_for.append(w)
    client = HttpWitness(w.url, name=w.name, public_key=w.public, origin=origin)
    with pytest.raises(LedgerRollback, match="HTTP 404"):
        Personalizer.open(store_url, keyring=keyring_path, witness=[client])
    with pytest.raises(WitnessOriginConflict):
        client.latest("whylens.local/ledger/another")


# -- what a log instance remembers of its own appends ------------------------------------------

_OTHER_WRITER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sdk.crypto.keyring import Keyring
from sdk.ledger import sign_checkpoint
from sdk.ledger.merkle import MerkleTree, leaf_hash
from sdk.ledger.witness_file import FileWitness
tree = MerkleTree([leaf_hash(b"e%d" % i) for i in range(8)])
cp = sign_checkpoint(sys.argv[3], 6, tree.root(6), Keyring.load(sys.argv[4]))
FileWitness(sys.argv[2]).anchor(cp, lambda old: tree.consistency_path(old, 6))
"""


def _prove(tree: MerkleTree, size: int, old: int) -> list[bytes]:
    return tree.consistency_path(old, size)


def _signed_prefixes(tmp_path: Path) -> tuple[MerkleTree, list[Checkpoint], Path]:
    """A tree of 8 leaves, signed checkpoints of each of its prefixes, and the keyring's path."""
    from sdk.ledger.merkle import leaf_hash

    ring_path = tmp_path / "ring.json"
    ring = Keyring.create(ring_path)
    tree = MerkleTree([leaf_hash(b"e%d" % i) for i in range(8)])
    cps = [sign_checkpoint("example.test/log", n, tree.root(n), ring) for n in range(9)]
    return tree, cps, ring_path


def test_a_record_another_process_appends_after_this_instances_own_is_read(
    tmp_path: Path,
) -> None:
    """The instance counts its own last record as read; another process's append after it is
    still read: the next, smaller checkpoint is not appended behind it."""
    import subprocess
    import sys

    tree, cps, ring_path = _signed_prefixes(tmp_path)
    log = tmp_path / "w.log"
    mine = FileWitness(log)
    for n in (2, 3):
        mine.anchor(cps[n], partial(_prove, tree, n))
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-c", _OTHER_WRITER, str(root), str(log), "example.test/log"]
    subprocess.run([*cmd, str(ring_path)], check=True, timeout=120)
    got = mine.anchor(cps[4], lambda old: tree.consistency_path(old, 4))
    assert got.size == 6
    sizes = [int(json.loads(line)["note"].split("\n")[1]) for line in log.read_text().splitlines()]
    assert sizes == [2, 3, 6]


def test_attack_a_forged_record_appended_after_this_instances_own_is_a_conflict(
    tmp_path: Path,
) -> None:
    """An attacker appends (without the lock) a record for the next size with another root
    right after this instance's own append; the next anchor of that size must see the fork."""
    from sdk.errors import WitnessConflict

    tree, cps, _ = _signed_prefixes(tmp_path)
    log = tmp_path / "w.log"
    mine = FileWitness(log)
    mine.anchor(cps[3], lambda old: tree.consistency_path(old, 3))
    last = log.read_bytes().splitlines()[-1].decode()
    forged = last.replace("\\n3\\n", "\\n4\\n", 1)  # size 4, the root of 3: unsigned for 4
    assert forged != last
    with open(log, "a") as handle:
        handle.write(forged + "\n")
    with pytest.raises(WitnessConflict, match="another root for 4 entries"):
        mine.anchor(cps[4], lambda old: tree.consistency_path(old, 4))
