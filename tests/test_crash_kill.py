"""SIGKILL the process that writes decisions at random points: no returned decision is lost
(on each backend: the SQLite file, and a PostgreSQL database whose writer dies mid-transaction).

A helper process imports whylens and warms it up once, then for each trial forks a writer that
opens the database and makes decisions in a loop, printing each returned decision id (one
unbuffered write). The test kills the writer with SIGKILL after a random delay, at random points
of opening, deciding or committing. Every id printed before the kill must be in the reopened
database, whose chain must verify.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import Personalizer

TRIALS = 60
SUBJECTS = 12

_HELPER = r"""
import json, os, sys
from sdk import Personalizer
db, ring, row = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
# warm up once (imports, JIT-compiled explainers) so that each forked writer starts fast
with Personalizer.open(db, keyring=ring) as warm:
    warm.decide("subject-0", row, model="credit")
os.write(1, b"ready\n")
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        try:
            p = Personalizer.open(db, keyring=ring)
            i = int(line)
            while True:
                d = p.decide(f"subject-{i % %(subjects)d}", row, model="credit")
                os.write(1, (d.decision_id + "\n").encode())
                i += 1
        finally:
            os._exit(3)
    os.write(1, f"pid {pid}\n".encode())
    os.waitpid(pid, 0)
    os.write(1, b"reaped\n")
""".replace("%(subjects)d", str(SUBJECTS))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_at_random_points_loses_no_returned_decision(
    store_url: str, keyring_path: Path
) -> None:
    frame, schema = german_credit()
    frame = frame.iloc[:150].reset_index(drop=True)
    db = store_url
    with Personalizer.open(db, keyring=keyring_path) as p:
        for i in range(SUBJECTS):
            p.consent.grant(f"subject-{i}", "profiling")
        signed_classifier(p, frame, schema, band=(0.4, 0.6))
    row = feature_row(frame, schema, 3)
    helper = subprocess.Popen(
        [sys.executable, "-c", _HELPER, db, str(keyring_path), json.dumps(row)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    assert helper.stdin is not None and helper.stdout is not None
    rng = random.Random(20261123)
    returned: list[str] = []
    per_trial: list[int] = []
    try:
        assert helper.stdout.readline() == b"ready\n"
        for trial in range(TRIALS):
            helper.stdin.write(f"{trial * 1000}\n".encode())
            line = helper.stdout.readline()
            assert line.startswith(b"pid "), line
            pid = int(line.split()[1])
            os.set_blocking(helper.stdout.fileno(), False)
            buffer = b""
            if trial % 2:
                # odd trials: kill while deciding and committing, whatever the machine's load
                # makes opening cost; wait for a first id, then a random delay
                waited = time.monotonic() + 60
                while b"dec_" not in buffer and time.monotonic() < waited:
                    buffer += helper.stdout.read() or b""
                    time.sleep(0.002)
            # even trials: a random delay from the fork, so the kill may land while opening;
            # odd trials: a short one, so that the database (reopened every trial) stays small
            deadline = time.monotonic() + rng.uniform(0.0, 0.05 if trial % 2 else 0.35)
            while time.monotonic() < deadline:
                buffer += helper.stdout.read() or b""
                time.sleep(0.002)
            os.kill(pid, signal.SIGKILL)
            os.set_blocking(helper.stdout.fileno(), True)
            while not buffer.endswith(b"reaped\n"):
                chunk = helper.stdout.read(65536)
                assert chunk, "helper exited"
                buffer += chunk
            ids = [x.decode() for x in buffer.split(b"\n") if x.startswith(b"dec_")]
            returned.extend(ids)
            per_trial.append(len(ids))
    finally:
        helper.kill()
        helper.wait()
    # not vacuous: every odd trial was killed after decisions had been returned
    assert all(n > 0 for n in per_trial[1::2]), per_trial
    assert len(returned) > TRIALS // 2
    with Personalizer.open(db, keyring=keyring_path) as p:
        report = p.audit.verify()
        assert report.ok, report.problem
        missing = [d for d in returned if d not in set(p.audit.decisions())]
        assert missing == []
        assert p.ledger.entry_count("audit") >= len(returned)
