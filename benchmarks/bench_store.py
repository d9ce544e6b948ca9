"""The store backends side by side (issue 10): durable appends/s from 1 and 4 processes, on
SQLite and on PostgreSQL, each next to its raw driver doing one INSERT + COMMIT per row.

* raw: the same row shape, one INSERT and one durable COMMIT per row, one process (what
  "durable" costs without batching: the disk's flush rate);
* ``decide`` from 4 processes x ``DECIDE_THREADS`` threads on one store (a 60-tree German-credit
  classifier, consent granted): each decision reads consent, scores, explains and appends its
  audit record durably; next to the same processes calling ``booster.predict(pred_contrib=True)``;
* ``Ledger.append`` from 1 process x 1 thread (one commit per append), from 1 process x T threads
  and from 4 processes x T threads (real processes, spawned): every call returns only once its
  transaction is durable (SQLite ``synchronous=FULL``; PostgreSQL ``synchronous_commit=on``);
  across processes the chain is one, serialized by the file lock (SQLite) or an advisory
  transaction lock (PostgreSQL), and within a process group commit batches the threads.

* ``profiles.put`` of one field on SQLite with a witness (the default file witness), three ways
  taking turns in one run: the per-subject integrity state on the ledger with its flush and
  witness anchor shared (deferred, what whylens does: one fsync per put, as the seal alone), the
  state on the ledger flushed and anchored per write (before: three fsyncs per put), and no
  ledger anchor at all (the seal alone, as before per-subject integrity): the ratios are the
  cost of the anchor. ``python benchmarks/bench_store.py puts`` runs only this.

Each figure runs for ``WHYLENS_BENCH_SECONDS`` (default 2) seconds. PostgreSQL is
``WHYLENS_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``: the benchmark makes
and drops databases of its own there); without a server its rows are skipped, saying so.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECONDS = float(os.environ.get("WHYLENS_BENCH_SECONDS", "2"))
PG_SERVER = os.environ.get("WHYLENS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
THREADS = 128
DECIDE_THREADS = 8
SUBJECTS = 200
SUBJECT = "0123456789abcdef0123456789abcdef"
DATA = {"purposes": ["personalization", "analytics"], "notice": None, "source": "web"}
ROW = ("consent", "consent.grant", SUBJECT, "2026-01-01T00:00:00.000000Z", b"x" * 300)


@dataclass(frozen=True)
class Target:
    """Where a run's ledger lives: a SQLite path or a PostgreSQL URL, and its keyring."""

    store: str
    keyring: str

    @property
    def postgres(self) -> bool:
        return self.store.startswith("postgresql://")


def open_ledger(target: Target) -> tuple[Any, Any]:
    """The ledger of ``target`` and the database handle to close."""
    from sdk._store import Durability, open_store
    from sdk.crypto.keyring import Keyring
    from sdk.ledger import Ledger

    ring = Keyring.load(Path(target.keyring))
    db = open_store(target.store, durability=Durability.FULL)
    return Ledger(db, mac_key=ring.mac_key, signer=ring, origin="bench/store"), db


class Gate:
    """Start every process's timed loop together, once all of them are warmed up: each says
    ``ready``, then waits; the parent sets the common deadline and opens the gate."""

    def __init__(self, ctx: Any) -> None:
        self.ready, self.go, self.until = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)

    def wait(self) -> float:
        """In a worker: report ready, wait for the start; the deadline."""
        self.ready.put(1)
        self.go.wait()
        return float(self.until.value)

    def open(self, processes: int) -> None:
        """In the parent: once every worker is ready, start the clock."""
        for _ in range(processes):
            self.ready.get(timeout=600)
        self.until.value = time.time() + SECONDS
        self.go.set()


def _appender(target: Target, threads: int, gate: Gate, out: Any) -> None:
    try:
        _append_until(target, threads, gate, out)
    except BaseException as exc:
        out.put(exc)
        gate.ready.put(1)  # never leave the parent waiting for a dead worker
        raise


def _append_until(target: Target, threads: int, gate: Gate, out: Any) -> None:
    ledger, db = open_ledger(target)
    ledger.append("bench", "warmup", DATA)  # connections and the tree are ready before timing
    counts = [0] * threads

    until = 0.0

    def work(i: int) -> None:
        while time.time() < until:
            ledger.append("consent", "consent.grant", DATA, subject=SUBJECT)
            counts[i] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    until = gate.wait()
    commits = ledger.stats.commits
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    out.put((sum(counts), ledger.stats.commits - commits))
    db.close()


def appends_per_s(target: Target, processes: int, threads: int) -> tuple[float, str]:
    """Durable appends per second of ``processes`` spawned processes x ``threads`` threads."""
    _, db = open_ledger(target)  # created once, before the processes race to open it
    db.close()
    ctx = mp.get_context("spawn")
    gate, out = Gate(ctx), ctx.Queue()
    procs = [
        ctx.Process(target=_appender, args=(target, threads, gate, out)) for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    gate.open(processes)
    results = [out.get(timeout=120 + SECONDS) for _ in procs]
    for r in results:
        if isinstance(r, BaseException):
            raise RuntimeError("an appending process failed") from r
    for proc in procs:
        proc.join()
    ledger, db = open_ledger(target)
    report = ledger.verify()
    db.close()
    assert report.ok, report.problem
    total, commits = sum(r[0] for r in results), sum(r[1] for r in results)
    return total / SECONDS, f"{commits} commits, {total / max(commits, 1):.1f} per commit"


def _decider(target: Target, threads: int, gate: Gate, out: Any, raw: bool) -> None:
    try:
        out.put(_decide_until(target, threads, gate, raw))
    except BaseException as exc:
        out.put(exc)
        gate.ready.put(1)  # never leave the parent waiting for a dead worker
        raise


def _decide_until(target: Target, threads: int, gate: Gate, raw: bool) -> int:
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import feature_row, german_credit

    from sdk import Personalizer

    frame, schema = german_credit()
    features = feature_row(frame, schema, 7)
    counts = [0] * threads
    with Personalizer.open(target.store, keyring=target.keyring) as p:
        booster = p.models.get("credit").booster
        x = np.array([[features[n] for n in schema.names]])
        p.decide(frame["subject"].iloc[0], features, model="credit")  # warm: JIT, connections

        until = 0.0

        def work(i: int) -> None:
            n = i
            while time.time() < until:
                if raw:
                    booster.predict(x, pred_contrib=True, num_threads=1)
                else:
                    p.decide(frame["subject"].iloc[n % SUBJECTS], features, model="credit")
                counts[i] += 1
                n += threads

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        until = gate.wait()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    return sum(counts)


def decisions_per_s(target: Target, processes: int, raw: bool) -> float:
    """Decisions (or raw predictions) per second of ``processes`` spawned processes."""
    ctx = mp.get_context("spawn")
    gate, out = Gate(ctx), ctx.Queue()
    procs = [
        ctx.Process(target=_decider, args=(target, DECIDE_THREADS, gate, out, raw))
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    gate.open(processes)
    results = [out.get(timeout=120 + SECONDS) for _ in procs]
    for proc in procs:
        proc.join()
    for r in results:
        if isinstance(r, BaseException):
            raise RuntimeError("a deciding process failed") from r
    return sum(results) / SECONDS


def prepare_decisions(target: Target) -> None:
    """A signed-off classifier and consenting subjects in ``target``'s store."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import german_credit

    from sdk import Personalizer, ReviewPolicy

    frame, schema = german_credit()
    with Personalizer.open(target.store, keyring=target.keyring) as p:
        for subject in frame["subject"].iloc[:SUBJECTS]:
            p.consent.grant(subject, "profiling")
        p.models.train_classifier(
            "credit", frame, schema, target="good", num_boost_round=60,
            review_policy=ReviewPolicy(uncertainty_band=None),
        )
        p.models.sign_off("credit", 1, reviewer="bench")


def raw_sqlite(path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, stream, kind, subject, ts, body)")
    n, until = 0, time.perf_counter() + SECONDS
    while time.perf_counter() < until:
        n += 1
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", (n, *ROW))
        conn.execute("COMMIT")
    conn.close()
    return n / SECONDS


def raw_postgres(url: str) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE t (seq BIGINT PRIMARY KEY, stream TEXT, kind TEXT, subject TEXT, "
            "ts TEXT, body BYTEA)"
        )
        n, until = 0, time.perf_counter() + SECONDS
        while time.perf_counter() < until:
            n += 1
            with conn.transaction():
                conn.execute("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s)", (n, *ROW))
        conn.execute("DROP TABLE t")
    return n / SECONDS


class PgDatabases:
    """Databases of the benchmark's own on the server, dropped at the end."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.made: list[str] = []

    def available(self) -> bool:
        try:
            import psycopg

            psycopg.connect(self.server, connect_timeout=3).close()
        except Exception:
            return False
        return True

    def new(self) -> str:
        import psycopg

        from sdk._store._postgres.connect import parse_url
        from sdk._store._postgres.schema_setup import bring_up

        name = "wl_bench_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        url = self.server.rpartition("/")[0] + "/" + name
        bring_up(parse_url(url))
        return url

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.server, autocommit=True) as admin:
            for name in self.made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _put_ms(ways: dict[str, Any], subjects: int = 20, rounds: int = 8) -> dict[str, float]:
    """Median milliseconds of each way's ``put(subject, fields)``: the ways take turns in short
    rounds (``SECONDS`` each in all), so a disk that slows down mid-run slows all of them."""
    import statistics

    for put in ways.values():
        for i in range(subjects):
            put(f"person-{i}", {"tier": "warmup"})
    samples: dict[str, list[float]] = {label: [] for label in ways}
    done = 0
    for _ in range(rounds):
        for label, put in ways.items():
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < SECONDS / rounds:
                put(f"person-{done % subjects}", {"tier": f"t{done}"})
                done += 1
                n += 1
            samples[label].append((time.perf_counter() - start) / n * 1e3)
    return {label: statistics.median(v) for label, v in samples.items()}


def profile_puts() -> None:
    """``profiles.put`` with the integrity anchor deferred / anchored per write / absent."""
    from sdk import Personalizer
    from sdk.subjects.integrity import Pending, SubjectIntegrity
    from sdk.subjects.profiles import Profiles

    class AnchorEachWrite(SubjectIntegrity):
        """The anchor as it was: its own witness anchor on every write."""

        def publish(self, pending: Pending) -> None:
            assert self._ledger is not None
            self._ledger.append(
                "integrity", "subject.state",
                {"locator": pending.locator, "version": pending.version, "tag": pending.tag},
            )

    with tempfile.TemporaryDirectory() as tmp, Personalizer.open(Path(tmp) / "p.db") as p:
        key = p.keyring.mac_key
        ways = {
            "anchor on the ledger, witness anchor shared (now)": p.profiles.put,
            "anchor on the ledger, witness anchor per write (before)": Profiles(
                p._db, p.keys, mac_key=key, integrity=AnchorEachWrite(p.ledger)
            ).put,
            "no ledger anchor (the seal alone)": Profiles(
                p._db, p.keys, mac_key=key, integrity=SubjectIntegrity(None)
            ).put,
        }
        ms = _put_ms(ways)
    base = ms["no ledger anchor (the seal alone)"]
    print(f"profiles.put, SQLite with a file witness ({SECONDS:g} s each, median of rounds)")
    for label, value in ms.items():
        print(f"  {label:<58} {value:7.2f} ms  {value / base:5.2f}x the seal alone")
    now, before = ms[next(iter(ms))], ms["anchor on the ledger, witness anchor per write (before)"]
    print(f"  before / now: {before / now:.2f}x")


def main() -> None:
    import sys

    from sdk.crypto.keyring import Keyring

    if sys.argv[1:] == ["puts"]:
        profile_puts()
        return

    pg = PgDatabases(PG_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ring = folder / "ring.json"
        Keyring.create(ring)
        rows: list[tuple[str, str, float, float, str]] = []
        backends = [("SQLite", lambda: str(folder / f"{uuid.uuid4().hex}.db"))]
        raws = {"SQLite": raw_sqlite(folder / "raw.db")}
        if pg.available():
            backends.append(("PostgreSQL", pg.new))
            raws["PostgreSQL"] = raw_postgres(pg.new())
        else:
            print(f"PostgreSQL rows skipped: no server answers at {PG_SERVER.split('@')[-1]}")
        try:
            for name, make in backends:
                raw = raws[name]
                rows.append((name, "raw driver: INSERT+COMMIT per row, 1 process", raw, 1.0, ""))
                for procs, threads in ((1, 1), (1, THREADS), (4, THREADS)):
                    rate, info = appends_per_s(Target(make(), str(ring)), procs, threads)
                    label = f"Ledger.append, {procs} process(es) x {threads} thread(s)"
                    rows.append((name, label, rate, rate / raw, info))
                target = Target(make(), str(folder / f"{name}.keyring.json"))
                prepare_decisions(target)
                decided = decisions_per_s(target, 4, raw=False)
                predicted = decisions_per_s(target, 4, raw=True)
                label = f"decide, 4 processes x {DECIDE_THREADS} threads"
                rows.append((name, label, decided, decided / predicted, "vs raw = vs pred_contrib"))
        finally:
            if pg.made:
                pg.drop_all()
    print(f"durable appends and decisions ({SECONDS:g} s each)")
    print(f"{'backend':<11} {'what':<52} {'per s':>9} {'vs raw':>8}  notes")
    for name, label, rate, ratio, info in rows:
        print(f"{name:<11} {label:<52} {rate:>9,.0f} {ratio:>7.2f}x  {info}")
    by = {(n, lbl): r for n, lbl, r, _, _ in rows}
    four = f"Ledger.append, 4 process(es) x {THREADS} thread(s)"
    if ("PostgreSQL", four) in by:
        pg4, lite4 = by[("PostgreSQL", four)], by[("SQLite", four)]
        print(
            f"PostgreSQL / SQLite, 4 processes: {pg4 / lite4:.2f}x "
            f"(goal: PostgreSQL >= 5,000/s: {pg4:,.0f}/s)"
        )
        decide = f"decide, 4 processes x {DECIDE_THREADS} threads"
        print(
            "PostgreSQL / SQLite, decisions from 4 processes: "
            f"{by[('PostgreSQL', decide)] / by[('SQLite', decide)]:.2f}x"
        )
    profile_puts()


if __name__ == "__main__":
    main()
