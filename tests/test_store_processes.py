"""One hash chain for many processes, on each backend: concurrent appenders in real processes,
and writers killed with SIGKILL while committing. Nothing acknowledged is ever lost, the chain
has no gaps and verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _ledger_open import open_ledger

from sdk.crypto.keyring import Keyring

TESTS = Path(__file__).resolve().parent
PROCESSES, PER_PROCESS, THREADS = 4, 2000, 8

# a writer: THREADS threads append until PER_PROCESS are acknowledged (or forever), printing
# each acknowledged entry as "writer i seq hash" (one unbuffered write per line)
_WRITER = r"""
import os, sys, threading
sys.path.insert(0, sys.argv[1])
from _ledger_open import open_ledger
store, ring, writer = sys.argv[2:5]
total, threads = int(sys.argv[5]), int(sys.argv[6])
ledger, db = open_ledger(store, ring)
os.write(1, b"ready\n")
sys.stdin.readline()
lock = threading.Lock()
count = [0]
def work():
    while True:
        with lock:
            if total and count[0] >= total:
                return
            count[0] += 1
            i = count[0]
        e = ledger.append("load", "append", {"writer": writer, "i": i})
        os.write(1, f"{writer} {i} {e.seq} {e.hash}\n".encode())
pool = [threading.Thread(target=work) for _ in range(threads)]
for t in pool: t.start()
for t in pool: t.join()
db.close()
"""


def _writer(store: str, ring: Path, name: str, total: int, threads: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(TESTS), store, str(ring), name, str(total),
         str(threads)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )


def _acks(lines: bytes) -> dict[tuple[str, int], tuple[int, str]]:
    out = {}
    for line in lines.decode().splitlines():
        parts = line.split()
        if len(parts) == 4:
            out[(parts[0], int(parts[1]))] = (int(parts[2]), parts[3])
    return out


def _check_chain(store: str, ring: Path, acked: dict[tuple[str, int], tuple[int, str]]) -> int:
    ledger, db = open_ledger(store, ring)
    try:
        report = ledger.verify()
        assert report.ok, report.problem
        stored = {}
        seqs = []
        for entry in ledger.entries(stream="load"):
            seqs.append(entry.seq)
            stored[(entry.data["writer"], entry.data["i"])] = (entry.seq, entry.hash)
        assert seqs == list(range(1, ledger.size + 1)), "the chain has gaps"
        lost = {k: v for k, v in acked.items() if stored.get(k) != v}
        assert lost == {}, f"{len(lost)} acknowledged entries are missing or differ"
        return ledger.size
    finally:
        db.close()


def test_four_processes_append_into_one_gapless_chain(store_url: str, tmp_path: Path) -> None:
    ring = tmp_path / "ring.json"
    Keyring.create(ring)
    _, db = open_ledger(store_url, ring)  # created once, before the processes race to open it
    db.close()
    writers = [
        _writer(store_url, ring, f"w{n}", PER_PROCESS, THREADS) for n in range(PROCESSES)
    ]
    try:
        for w in writers:
            assert w.stdout is not None and w.stdout.readline() == b"ready\n"
        for w in writers:
            assert w.stdin is not None
            w.stdin.write(b"go\n")
        outputs = [w.communicate(timeout=400)[0] for w in writers]
    finally:
        for w in writers:
            w.kill()
    assert all(w.returncode == 0 for w in writers)
    acked: dict[tuple[str, int], tuple[int, str]] = {}
    for out in outputs:
        acked.update(_acks(out))
    assert len(acked) == PROCESSES * PER_PROCESS
    assert _check_chain(store_url, ring, acked) == PROCESSES * PER_PROCESS


TRIALS = 8


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_of_writers_mid_commit_loses_nothing_acknowledged(
    store_url: str, tmp_path: Path
) -> None:
    """Two writers append at once; one of them is killed at a random moment (almost always
    inside a commit: they commit back to back), then a new one takes its place."""
    ring = tmp_path / "ring.json"
    Keyring.create(ring)
    _, db = open_ledger(store_url, ring)
    db.close()
    rng = random.Random(20261201)
    acked: dict[tuple[str, int], tuple[int, str]] = {}
    steady = _writer(store_url, ring, "steady", 0, 4)
    assert steady.stdout is not None and steady.stdin is not None
    assert steady.stdout.readline() == b"ready\n"
    steady.stdin.write(b"go\n")
    killed_with_acks = 0
    try:
        for trial in range(TRIALS):
            victim = _writer(store_url, ring, f"v{trial}", 0, 4)
            assert victim.stdout is not None and victim.stdin is not None
            assert victim.stdout.readline() == b"ready\n"
            victim.stdin.write(b"go\n")
            os.set_blocking(victim.stdout.fileno(), False)
            buffer = b""
            deadline = time.monotonic() + 30
            while buffer.count(b"\n") < 5 and time.monotonic() < deadline:
                buffer += victim.stdout.read() or b""
                time.sleep(0.002)
            until = time.monotonic() + rng.uniform(0.0, 0.3)
            while time.monotonic() < until:
                buffer += victim.stdout.read() or b""
                time.sleep(0.001)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            os.set_blocking(victim.stdout.fileno(), True)
            buffer += victim.stdout.read() or b""
            got = _acks(buffer[: buffer.rfind(b"\n") + 1])
            killed_with_acks += bool(got)
            acked.update(got)
    finally:
        steady.send_signal(signal.SIGKILL)
        out = steady.communicate(timeout=60)[0]
    acked.update(_acks(out[: out.rfind(b"\n") + 1]))
    assert killed_with_acks == TRIALS  # not vacuous: every victim died after acknowledgements
    _check_chain(store_url, ring, acked)
