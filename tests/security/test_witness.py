"""The witness sinks: the default checkpoint log, a folder on another volume, and a real C2SP
tlog-witness over HTTP (a server process of the tests' own, tests/security/_witness_server.py).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.errors import LedgerRollback, WitnessConflict
from sdk.ledger.cosignature import verify_cosignature
from sdk.ledger.witness_file import DirectoryWitness, FileWitness, default_witness_path
from sdk.ledger.witness_http import HttpWitness

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _seal(store_url: str) -> list[tuple[object, ...]]:
    """The signed head and checkpoint rows as they are now (to put back later)."""
    return tamper(
        store_url,
        "SELECT key, value FROM whylens_meta WHERE key IN ('ledger_head', 'ledger_checkpoint')",
    )


def _records(path: Path) -> list[str]:
    return [json.loads(line)["note"] for line in path.read_text().splitlines()]


def _size(note: str) -> int:
    return int(note.split("\n")[1])


def test_default_log_beside_the_keyring(store_url: str, keyring_path: Path) -> None:
    old = os.umask(0)
    try:
        with Personalizer.open(store_url, keyring=keyring_path) as p:
            p.consent.grant("cust-1", "personalization")
            p.consent.grant("cust-2", "personalization")
            size, note = p.ledger.size, p.ledger.checkpoint().note
    finally:
        os.umask(old)
    log = default_witness_path(keyring_path)
    assert log.parent == keyring_path.parent
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    notes = _records(log)
    assert _size(notes[0]) == 0  # the genesis checkpoint
    assert notes[-1] == note and _size(notes[-1]) == size
    assert [_size(n) for n in notes] == sorted(_size(n) for n in notes)


def test_a_torn_last_line_is_cut_and_ignored(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("cust-1", "personalization")
    log = default_witness_path(keyring_path)
    with open(log, "ab") as f:
        f.write(b'{"note":"whylens.local/led')  # a crash in the middle of an append
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.audit.verify().ok
        p.consent.grant("cust-2", "personalization")
        size = p.ledger.size
    assert _size(_records(log)[-1]) == size


def test_directory_sink_on_another_volume(
    store_url: str, keyring_path: Path, tmp_path: Path
) -> None:
    """The attacker holds the keyring's folder (and so its witness log) but not the folder on
    the other volume: putting the database and the local log back is still caught."""
    other = tmp_path / "other-volume"
    other.mkdir()
    sinks = [FileWitness(default_witness_path(keyring_path)), DirectoryWitness(other)]
    with Personalizer.open(store_url, keyring=keyring_path, witness=sinks) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        head = _seal(store_url)
        local = default_witness_path(keyring_path).read_bytes()
        p.consent.withdraw("cust-1", "personalization")
        size = p.ledger.size
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    for key, value in head:
        tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (value, key))
    default_witness_path(keyring_path).write_bytes(local)  # the local log rolled back too
    # with only the local log the rollback is invisible (the honest limit of the default)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.ledger.size == kept
    with pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"):
        Personalizer.open(store_url, keyring=keyring_path, witness=sinks)


def test_verify_against_a_trusted_checkpoint(store_url: str, keyring_path: Path) -> None:
    """An auditor kept a checkpoint; the store is later cut back and the witness log deleted
    with it (an attacker with the keyring folder). The auditor's checkpoint still catches it."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        head = _seal(store_url)
        p.consent.withdraw("cust-1", "personalization")
        held = p.ledger.checkpoint().note
        assert p.ledger.verify(trusted_checkpoint=held).ok
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    for key, value in head:
        tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (value, key))
    default_witness_path(keyring_path).unlink()
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.ledger.verify().ok  # nothing left outside the attacker's reach but the note
        report = p.ledger.verify(trusted_checkpoint=held)
    assert not report.ok and report.first_bad == kept + 1
    assert "the trusted checkpoint holds a checkpoint of" in (report.problem or "")


def test_fork_at_the_same_size_is_a_conflict(store_url: str, keyring_path: Path) -> None:
    """Rewrite the last entry's body and re-seal it with the keyring: same size, other root."""
    from sdk.crypto.keyring import Keyring
    from sdk.ledger import sign_checkpoint
    from sdk.ledger.merkle import MerkleTree, leaf_hash

    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("cust-1", "personalization")
        p.consent.withdraw("cust-1", "personalization")
        origin, size = p.ledger.origin, p.ledger.size
    ring = Keyring.load(keyring_path)
    # a different but well-formed last leaf in the cache and a checkpoint over it
    leaves = [bytes(r[0]) for r in tamper(store_url, "SELECT leaf FROM ledger_leaves ORDER BY seq")]  # type: ignore[arg-type]
    leaves[-1] = leaf_hash(b"forged")
    tamper(store_url, "UPDATE ledger_leaves SET leaf = ? WHERE seq = ?", (leaves[-1], size))
    cp = sign_checkpoint(origin, size, MerkleTree(leaves).root(), ring)
    sql = "UPDATE whylens_meta SET value = ? WHERE key = ?"
    tamper(store_url, sql, (cp.note, "ledger_checkpoint"))
    with pytest.raises(LedgerRollback, match="fork"):
        Personalizer.open(store_url, keyring=keyring_path)


_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sdk import Personalizer
store, ring, who, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
with Personalizer.open(store, keyring=ring) as p:
    sys.stdout.write("ready\n"); sys.stdout.flush()
    sys.stdin.readline()
    for i in range(n):
        p.consent.grant(f"{who}-{i}", "personalization")
"""


def test_two_processes_both_anchor_and_the_log_never_goes_back(
    store_url: str, keyring_path: Path
) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("cust-0", "personalization")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(ROOT), store_url, str(keyring_path), who, "40"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )
        for who in ("a", "b")
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    sizes = [_size(n) for n in _records(default_witness_path(keyring_path))]
    assert sizes == sorted(sizes), "the witness log went back to a smaller size"
    assert len(sizes) == len(set(sizes))
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert sizes[-1] == p.ledger.size == 81
        assert p.audit.verify().ok


# -- the HTTP witness -----------------------------------------------------------------------------


class Witness:
    """A running tlog-witness process for one log."""

    def __init__(self, state: Path, origin: str, log_key: bytes) -> None:
        seed = os.urandom(32)
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.name = "witness.tests/w1"
        self.public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.state = state
        self.origin = origin
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_witness_server.py"), str(state), origin,
             base64.b64encode(log_key).decode(), self.name, seed.hex()],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"

    def client(self) -> HttpWitness:
        return HttpWitness(self.url, name=self.name, public_key=self.public, origin=self.origin)

    def size(self) -> int:
        return int(json.loads(self.state.read_text())["size"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def witness_for(tmp_path: Path) -> Iterator[list[Witness]]:
    started: list[Witness] = []
    yield started
    for w in started:
        w.stop()


def _origin_and_key(store_url: str, keyring_path: Path) -> tuple[str, bytes]:
    with Personalizer.open(store_url, keyring=keyring_path, witness=[]) as p:
        assert p.ledger.public_key is not None
        return p.ledger.origin, p.ledger.public_key


def test_http_witness_cosigns_and_stops_a_rollback_of_everything_local(
    store_url: str, keyring_path: Path, tmp_path: Path, witness_for: list[Witness]
) -> None:
    origin, key = _origin_and_key(store_url, keyring_path)
    w = Witness(tmp_path / "witness-state.json", origin, key)
    witness_for.append(w)
    client = w.client()
    with Personalizer.open(store_url, keyring=keyring_path, witness=[client]) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        head = _seal(store_url)
        p.consent.withdraw("cust-1", "personalization")
        p.consent.withdraw("cust-2", "personalization")
        size = p.ledger.size
        assert w.size() == size
        anchor = client.latest(origin)
        assert anchor is not None and anchor.note is not None
        cosig, _ = verify_cosignature(p.ledger.checkpoint().note, anchor.note, w.name, w.public)
        assert cosig.startswith("\u2014 witness.tests/w1 ")
    # the attacker holds the database, the keyring and its folder: everything but the witness
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    for k, value in head:
        tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (value, k))
    default_witness_path(keyring_path).unlink(missing_ok=True)
    with pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"):
        Personalizer.open(store_url, keyring=keyring_path, witness=[w.client()])


def test_http_witness_refuses_a_fork(
    store_url: str, keyring_path: Path, tmp_path: Path, witness_for: list[Witness]
) -> None:
    from sdk.crypto.keyring import Keyring
    from sdk.ledger import sign_checkpoint
    from sdk.ledger.merkle import MerkleTree, leaf_hash

    origin, key = _origin_and_key(store_url, keyring_path)
    w = Witness(tmp_path / "witness-state.json", origin, key)
    witness_for.append(w)
    with Personalizer.open(store_url, keyring=keyring_path, witness=[w.client()]) as p:
        p.consent.grant("cust-1", "personalization")
        size = p.ledger.size
    ring = Keyring.load(keyring_path)
    leaves = [bytes(r[0]) for r in tamper(store_url, "SELECT leaf FROM ledger_leaves ORDER BY seq")]  # type: ignore[arg-type]
    leaves[-1] = leaf_hash(b"forged")
    forged = sign_checkpoint(origin, size, MerkleTree(leaves).root(), ring)
    with pytest.raises(WitnessConflict, match="fork"):
        w.client().anchor(forged, lambda old: [])
    assert w.size() == size


def test_one_anchor_per_group_commit(store_url: str, keyring_path: Path) -> None:
    """The cadence: the leader of each group commit anchors once for its whole batch."""
    import threading

    with Personalizer.open(store_url, keyring=keyring_path) as p:
        base = p.ledger.stats.anchors
        def work() -> None:
            for i in range(25):
                p.ledger.append("tests", "tick", {"n": i})

        threads = [threading.Thread(target=work) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        stats = p.ledger.stats
        assert stats.appends == 200
        assert stats.anchors - base == stats.commits  # one sink, one anchor per commit
        assert _size(_records(default_witness_path(keyring_path))[-1]) == p.ledger.size


def test_an_unreachable_witness_is_the_rollback_window(
    store_url: str, keyring_path: Path
) -> None:
    """Appends go on when a witness cannot be reached (the entries are committed), but each
    failure is counted and logged: those entries are inside the window until an anchor works."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    origin, _ = _origin_and_key(store_url, keyring_path)
    dead = HttpWitness(
        f"http://127.0.0.1:{port}", name="w", public_key=b"\x01" * 32, origin=origin, timeout=2
    )
    sinks = [FileWitness(default_witness_path(keyring_path)), dead]
    with Personalizer.open(store_url, keyring=keyring_path, witness=sinks) as p:
        p.consent.grant("cust-1", "personalization")
        assert p.ledger.stats.anchor_failures >= 1
        assert _size(_records(default_witness_path(keyring_path))[-1]) == p.ledger.size
        assert p.audit.verify().ok


def test_a_damaged_witness_log_fails_verify(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("cust-1", "personalization")
        default_witness_path(keyring_path).write_text('{"note": "not a checkpoint"}\n')
        report = p.audit.verify()
    assert not report.ok and "witness log" in (report.problem or "")


_APPENDER = """
import sys
from sdk import Personalizer
with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:
    print("ready", flush=True)
    for i in range(400):
        p.consent.grant(f"busy-{i % 40}", "analytics" if i % 2 else "personalization")
"""


def test_opening_while_another_process_appends_is_no_rollback(store_url: str,
                                                               keyring_path: Path) -> None:
    """Open reads the store's size, then the witness: another process may commit and anchor in
    between, which must not look like entries lost (seen as a LedgerRollback in a two-writer
    test on PostgreSQL)."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant("first", "personalization")
    writer = subprocess.Popen([sys.executable, "-c", _APPENDER, store_url, str(keyring_path)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    opened = 0
    while writer.poll() is None and opened < 60:
        with Personalizer.open(store_url, keyring=keyring_path) as q:
            assert q.ledger.size >= 1
        opened += 1
    assert writer.wait(timeout=120) == 0 and opened > 0
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.audit.verify().ok
