"""A pending erasure completes exactly once, however many processes finish it at the same time.

The attack (or plain accident): an erasure is ``pending`` (another reader pinned the deleted
bytes), and later several app instances run ``finish_erasures`` together (each does on its next
write and on close). Each saw the erasure pending, purged, and appended its own
``subject.erasure_completed``: two "complete" receipts citing different completion entries for
one erasure, and a ledger that says the person was erased-and-completed twice. Completion is
now a conditional append checked under the ledger's cross-process write lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from test_erasure_keys import _reading

from sdk import Personalizer
from sdk.subjects.erasure_state import COMPLETED

ROOT = Path(__file__).resolve().parents[2]

_FINISHER = textwrap.dedent(
    """
    import json, sys, time
    from sdk import Personalizer
    keyring = sys.argv[3] if len(sys.argv) > 3 else None
    with Personalizer.open(sys.argv[1], keyring=keyring) as p:
        while time.time() < float(sys.argv[2]):
            time.sleep(0.0005)
        receipts = p.subjects.finish_erasures(patience=5.0)
        print(json.dumps([[r.ledger_seq, r.status, r.completed_seq] for r in receipts]),
              flush=True)
    """
)


def _pending_erasures(db_path: Path, subjects: list[str]) -> list[int]:
    """Erase ``subjects`` while another process pins the WAL, and close: all stay pending."""
    with Personalizer.open(db_path) as p:
        for s in subjects:
            p.profiles.put(s, {"name": f"Person {s}"})
        with _reading(db_path):
            receipts = [p.subjects.erase(s) for s in subjects]
            assert {r.status for r in receipts} == {"pending"}
            p.close()  # still pinned: they stay pending (opening the store again would finish them)
    return [r.ledger_seq for r in receipts]


def _pending_on_postgres(url: str, keyring: Path, subjects: list[str]) -> list[int]:
    """The same on PostgreSQL: an open snapshot keeps VACUUM from removing the key rows."""
    import psycopg

    with Personalizer.open(url, keyring=keyring) as p:
        for s in subjects:
            p.profiles.put(s, {"name": f"Person {s}"})
        with psycopg.connect(url) as reader:
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            reader.execute("SELECT count(*) FROM subject_keys").fetchone()
            receipts = [p.subjects.erase(s) for s in subjects]
            assert {r.status for r in receipts} == {"pending"}
            p.close()
            reader.rollback()
    return [r.ledger_seq for r in receipts]


def test_two_processes_finishing_one_erasure_complete_it_once(db_path: Path) -> None:
    subjects = [f"racer-{i}@example.org" for i in range(2)]
    erased = _pending_erasures(db_path, subjects)
    _race(str(db_path), None, erased)


def test_two_processes_finishing_one_erasure_complete_it_once_on_postgres(
    pg_url: str, keyring_path: Path
) -> None:
    """Deterministic: a third session holds the ledger's write lock (a slow writer) until every
    finisher has purged, seen the erasures pending, and queued its completion behind it."""
    import psycopg

    from sdk._store._postgres.ledger import LEDGER_LOCK_KEY

    subjects = [f"racer-{i}@example.org" for i in range(3)]
    erased = _pending_on_postgres(pg_url, keyring_path, subjects)
    with psycopg.connect(pg_url, autocommit=True) as holder, psycopg.connect(
        pg_url, autocommit=True
    ) as watcher:
        holder.execute("BEGIN")
        holder.execute(f"SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY})")

        def queued() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            return row is not None and int(row[0]) >= 2

        def release() -> None:
            deadline = time.monotonic() + 60
            while not queued() and time.monotonic() < deadline:
                time.sleep(0.05)
            holder.execute("COMMIT")

        _race(pg_url, keyring_path, erased, while_running=release, finishers=2)


def _race(
    url: str,
    keyring: Path | None,
    erased: list[int],
    *,
    while_running: Callable[[], None] | None = None,
    finishers: int = 3,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = str(time.time() + 2.0)  # both open the store first, then finish at once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FINISHER, url, start, *([str(keyring)] if keyring else [])],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        for _ in range(finishers)
    ]
    if while_running is not None:
        while_running()
    said = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    with Personalizer.open(url, keyring=keyring) as p:
        completions: dict[int, list[int]] = {}
        for entry in p.ledger.entries(stream="subjects", kinds=(COMPLETED,)):
            completions.setdefault(int(entry.data["erased_seq"]), []).append(entry.seq)
        assert p.subjects.pending_erasures() == []
        assert p.ledger.verify().ok
    assert set(completions) == set(erased)
    assert all(len(c) == 1 for c in completions.values()), (
        f"an erasure was completed more than once: {completions}"
    )
    # every complete receipt any process issued cites the one completion entry
    for answer in said:
        for ledger_seq, status, completed_seq in answer:
            if status == "complete":
                assert completions[ledger_seq] == [completed_seq]
