"""Coherent views (issue 10): what catching up with other processes costs each serving call.

Every call that serves or decides first asks the shared follower (``p.views``) whether the ledger
moved (``ledger.size``: one indexed read of the head) and folds only the new entries.

* nothing changed: ``p.views.catch_up()`` against the same head read on a raw ``sqlite3``
  connection (the floor for "has anything changed?" on SQLite), and the hot path of one call
  (one catch-up, then ``state_of_pseudonym``) against a plain ``dict.get``;
* after one foreign write: a second process withdraws or grants (one durable entry) and answers;
  this process then catches up (reads and folds that one entry);
* a whole ``decide`` right after a foreign write, against one when nothing changed.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _timing import best

from sdk import Feature, FeatureSchema, Personalizer

SUBJECTS = 2_000
LOOKUPS = 1_000_000
ROUNDS = 150

_PEER = r"""
import sys
from sdk import Personalizer
p = Personalizer.open(sys.argv[1], keyring=sys.argv[2])
for line in sys.stdin:
    action, subject = line.split()
    getattr(p.consent, action)(subject, "profiling")
    sys.stdout.write("ok\n")
    sys.stdout.flush()
"""


def _per_call(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    def loop() -> None:
        for _ in range(n):
            fn()

    return best(loop, 5) / n


class Raw:
    """The raw driver on the same store (sqlite3 or psycopg): the floor for each read."""

    def __init__(self, store: str) -> None:
        if store.startswith("postgresql://"):
            import psycopg

            self._conn: Any = psycopg.connect(store, autocommit=True)
            self._mark = "%s"
        else:
            self._conn = sqlite3.connect(store)
            self._mark = "?"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(self._conn.execute(sql.replace("?", self._mark), params).fetchall())

    def close(self) -> None:
        self._conn.close()


def nothing_changed(p: Personalizer, store: str) -> None:
    raw = Raw(store)
    tail = "SELECT seq, hash, ts FROM ledger ORDER BY seq DESC LIMIT 1"
    raw_read = _per_call(lambda: raw.query(tail), 5_000)
    ours = _per_call(p.views.catch_up, 5_000)
    raw.close()
    c = p.consent
    pseudos = [p._keys.pseudonym(f"cust-{i:05d}") for i in range(SUBJECTS)]
    for pseudo in pseudos:
        c.state_of_pseudonym(pseudo)
    keys = (pseudos * (LOOKUPS // SUBJECTS + 1))[:LOOKUPS]
    table = {k: object() for k in pseudos}
    get = table.get
    state = c.state_of_pseudonym

    def dict_loop() -> None:
        for k in keys:
            get(k)

    def view_loop() -> None:
        for k in keys:
            state(k)

    dict_rate = LOOKUPS / best(dict_loop, 3)
    view_rate = LOOKUPS / best(view_loop, 3)

    def call_loop() -> None:
        for k in keys[:100_000]:
            with p.views.call():
                state(k)

    call_rate = 100_000 / best(call_loop, 3)
    print(f"{'nothing changed':<52} {'per call':>10} {'vs raw':>8}")
    print(f"{'raw driver: read the ledger head':<52} {raw_read * 1e6:>8.2f}us {1.0:>7.2f}x")
    print(f"{'p.views.catch_up() (one head read, no lock)':<52} {ours * 1e6:>8.2f}us "
          f"{ours / raw_read:>7.2f}x")
    print(f"{'look-ups':<52} {'per s':>10} {'vs dict':>8}")
    print(f"{'raw dict.get':<52} {dict_rate:>10,.0f} {1.0:>7.2f}x")
    print(f"{'state_of_pseudonym after the call caught up':<52} {view_rate:>10,.0f} "
          f"{view_rate / dict_rate:>7.2f}x")
    print(f"{'one call: catch_up + state_of_pseudonym':<52} {call_rate:>10,.0f} "
          f"{call_rate / dict_rate:>7.2f}x")
    print(f"(goal: >= 1,000,000 look-ups/s when nothing changed: {view_rate >= 1e6})")


def foreign_writes(p: Personalizer, store: str, keyring: Path) -> None:
    peer = subprocess.Popen(
        [sys.executable, "-c", _PEER, store, str(keyring)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )
    assert peer.stdin is not None and peer.stdout is not None
    subject = "cust-00001"
    features = {"x": 1.0, "y": 2.0}
    catch, raw_read, decide_after, decide_idle = [], [], [], []
    raw = Raw(store)
    new = "SELECT seq, stream, kind, subject, ts, body, hash FROM ledger WHERE seq > ? ORDER BY seq"
    try:
        for i in range(ROUNDS):
            peer.stdin.write(f"{'withdraw' if i % 2 == 0 else 'grant'} {subject}\n")
            peer.stdin.flush()
            assert peer.stdout.readline() == "ok\n"
            if i % 2 == 0:
                t0 = time.perf_counter()
                raw.query(new, (p.views.position,))
                raw_read.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                p.views.catch_up()
                catch.append(time.perf_counter() - t0)
                assert not p.consent.state_of_pseudonym(p._keys.pseudonym(subject)).allows(
                    "profiling"
                )
            else:
                t0 = time.perf_counter()
                p.decide(subject, features, model="bench")
                decide_after.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                p.decide(subject, features, model="bench")
                decide_idle.append(time.perf_counter() - t0)
    finally:
        raw.close()
        peer.stdin.close()
        peer.wait(timeout=60)
    med = statistics.median
    title = f"after one foreign write (median of {ROUNDS // 2})"
    print(f"{title:<52} {'per call':>10}")
    print(f"{'raw driver: read the new entry':<52} {med(raw_read) * 1e6:>8.1f}us")
    print(f"{'p.views.catch_up(): read + fold 1 consent entry':<52} {med(catch) * 1e6:>8.1f}us "
          f"({med(catch) / med(raw_read):.2f}x)")
    print(f"{'decide, nothing changed':<52} {med(decide_idle) * 1e6:>8.1f}us")
    print(f"{'decide right after a foreign write':<52} {med(decide_after) * 1e6:>8.1f}us "
          f"({med(decide_after) / med(decide_idle):.2f}x)")


def _classifier(p: Personalizer) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "subject": [f"cust-{i % SUBJECTS:05d}" for i in range(n)],
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
        }
    )
    frame["t"] = (frame["x"] + frame["y"] > 0).astype("int64")
    schema = FeatureSchema(
        [
            Feature("x", purpose="profiling", label="x"),
            Feature("y", purpose="service", label="y"),
        ]
    )
    p.models.train_classifier("bench", frame, schema, target="t", num_boost_round=20)
    p.models.sign_off("bench", 1, reviewer="bench.reviewer")


def run(name: str, store: str, keyring: Path) -> None:
    with Personalizer.open(store, keyring=keyring, durability="normal") as p:
        for i in range(SUBJECTS):
            p.consent.grant(f"cust-{i:05d}", ["personalization", "profiling"])
        _classifier(p)
        print(f"--- {name} (set-up: {SUBJECTS:,} subjects, {p.ledger.size:,} ledger entries)")
        nothing_changed(p, store)
        foreign_writes(p, store, keyring)


def main() -> None:
    from bench_store import PG_SERVER, PgDatabases

    pg = PgDatabases(PG_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", str(Path(tmp) / "views.db"), Path(tmp) / "views.keyring.json")
        if not pg.available():
            print(f"PostgreSQL rows skipped: no server answers at {PG_SERVER.split('@')[-1]}")
            return
        try:
            run("PostgreSQL", pg.new(), Path(tmp) / "pg.keyring.json")
        finally:
            pg.drop_all()


if __name__ == "__main__":
    main()
