"""Audit trail (issue 5): decisions/s with the audit on and off, verification and export speed.

* decide, audit on: the whole ``p.decide`` path, one durable ledger append per decision.
* decide, audit off: the same path, the record built, but the ledger append skipped (no canonical
  encoding, hashing, Merkle leaf, commit or index update): what the audit itself costs.
* baseline: raw ``booster.predict(x, pred_contrib=True)`` on the same row.
* verification over 100,000 decision records (real decision bodies, ids varied, appended in
  batches): the ledger's own ``verify()`` (hash chain, head, Merkle checkpoint), and the offline
  ``verify_export`` of a JSON Lines export (chain segment + every record's columns re-derived);
  baseline: bare ``hashlib.sha256`` over the same bodies.
* export of those 100,000 records as jsonl, csv and parquet.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _timing import goal
from conftest import feature_row, german_credit

from sdk import Personalizer, ReviewPolicy
from sdk.audit import verify_export
from sdk.audit.export_check import _check_chain
from sdk.audit.records import new_decision_id
from sdk.ledger import LedgerEntry, PendingEntry
from sdk.models.matrix import encode_mapping
from sdk.types import VerifyReport

DECISIONS = 300
ON_OFF_GOAL = 0.6
RECORDS = 100_000
BATCH = 2_000


class _NoLedgerTrail:
    """The trail with the ledger append taken out: returns an entry without writing anything."""

    def __init__(self, protected: Any) -> None:
        self.seq = 0
        self.protected = protected  # the check that no feature is a protected attribute stays

    def append(self, kind: str, subject: str, data: dict[str, Any]) -> LedgerEntry:
        self.seq += 1
        now = datetime.now(UTC)
        return LedgerEntry(self.seq, "audit", kind, subject, now, data, "0" * 64, "0" * 64)


def _rate(fn, n: int) -> float:
    for _ in range(10):
        fn()
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n // 3):
            fn()
        runs.append((n // 3) / (time.perf_counter() - start))
    return statistics.median(runs)


def _decisions(folder: Path) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    frame, schema = german_credit()
    rows: list[tuple[str, float]] = []
    with Personalizer.open(folder / "d.db") as p:
        for subject in frame["subject"].iloc[:50]:
            p.consent.grant(subject, "profiling")
        card = p.models.train_classifier(
            "credit", frame.iloc[:400], schema, target="good", num_boost_round=100,
            review_policy=ReviewPolicy(uncertainty_band=None),
        )
        p.models.sign_off(card.name, card.version, reviewer="bench")
        features = feature_row(frame, schema, 7)
        subject = frame["subject"].iloc[7]
        x = encode_mapping(schema, features).matrix  # categories as the model's codes
        booster = p.models.get("credit").booster
        rows.append(("raw pred_contrib", _rate(lambda: booster.predict(x, pred_contrib=True),
                                               DECISIONS)))
        on = _rate(lambda: p.decide(subject, features, model="credit"), DECISIONS)
        engine = p._engine
        trail = engine.trail
        object.__setattr__(engine, "trail", _NoLedgerTrail(trail.protected))
        try:
            off = _rate(lambda: p.decide(subject, features, model="credit"), DECISIONS)
        finally:
            object.__setattr__(engine, "trail", trail)
        rows += [("decide, audit off", off), ("decide, audit on", on)]
        template = p.ledger.get(p.audit.state(next(iter(p.audit.decisions()))).seq)
    with Personalizer.open(folder / "d.db", durability="normal") as p:
        normal = _rate(lambda: p.decide(subject, features, model="credit"), DECISIONS)
    rows.append(("decide, audit on, normal", normal))
    return rows, {"data": template.data, "subject": template.subject}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows, template = _decisions(folder)
        print(f"{'decisions per second':<28} {'per s':>10} {'ms each':>9}")
        for name, rate in rows:
            print(f"{name:<28} {rate:>10,.0f} {1e3 / rate:>9.3f}")
        off, on = rows[1][1], rows[2][1]
        print(f"audit cost: on/off = {on / off:.2f} (off = same path without the ledger append; "
              "on = one durable commit per decision, durability=full unless 'normal')")
        on_off = goal("decide audit on / audit off", on / off, ON_OFF_GOAL)
        verdict = "PASS" if on_off.passed else "FAIL"
        print(f"goal: audit-on >= {ON_OFF_GOAL:.1f}x audit-off throughput: {on / off:.2f}x "
              f"{verdict}")
        # the decide-vs-pred_contrib goal is bench_decide's (against the faster of LightGBM's
        # default threads and one thread); rows[0] here is default threads only

        with Personalizer.open(folder / "v.db", durability="normal") as p:
            started = time.perf_counter()
            for start in range(0, RECORDS, BATCH):
                batch = []
                for _ in range(min(BATCH, RECORDS - start)):
                    data = dict(template["data"], decision_id=new_decision_id())
                    batch.append(PendingEntry("audit", "decision", data, template["subject"]))
                p.ledger.append_many(batch)
            fill = time.perf_counter() - started
            bodies = [e.body for e in p.ledger.raw_entries()]
            size = len(bodies)
            started = time.perf_counter()
            for body in bodies:
                hashlib.sha256(body).digest()
            raw = size / (time.perf_counter() - started)
            # append_many above went around the views; a serving process folds each entry as
            # it commits. Fold them first (timed apart), so verify() is timed alone
            started = time.perf_counter()
            p.views.catch_up()
            fold = time.perf_counter() - started
            started = time.perf_counter()
            report = p.ledger.verify()
            ledger_rate = size / (time.perf_counter() - started)
            assert report.ok, report.problem
            exports = []
            for fmt in ("jsonl", "csv", "parquet"):
                started = time.perf_counter()
                manifest = p.audit.export(folder / f"x-{fmt}", format=fmt)
                exports.append((fmt, time.perf_counter() - started, manifest))
        print(f"\n{size:,} ledger entries ({RECORDS:,} decision records, bodies "
              f"{statistics.mean(len(b) for b in bodies):,.0f} bytes on average), "
              f"filled in {fill:.1f}s by append_many")
        print(f"(the in-memory views folded them in {fold:.1f}s: {size / fold:,.0f} entries/s)")
        print(f"{'verification':<40} {'records/s':>12} {'vs sha256':>10}")
        print(f"{'raw hashlib.sha256 of each body':<40} {raw:>12,.0f} {1.0:>9.2f}x")
        print(f"{'ledger.verify() (chain+head+Merkle)':<40} {ledger_rate:>12,.0f} "
              f"{ledger_rate / raw:>9.2f}x")
        for fmt, _, manifest in exports:
            started = time.perf_counter()
            report = verify_export(folder / f"x-{fmt}", public_key=manifest.public_key)
            rate = size / (time.perf_counter() - started)
            assert report.ok, report.problem
            label = f"verify_export ({fmt}, chain+records)"
            print(f"{label:<40} {rate:>12,.0f} {rate / raw:>9.2f}x")
        # the chain part alone: hash, sequence and link of every entry of the segment
        manifest = exports[0][2].model_dump(mode="json")
        started = time.perf_counter()
        chain = _check_chain(folder / "x-jsonl" / "ledger.jsonl", manifest, None)
        rate = size / (time.perf_counter() - started)
        assert not isinstance(chain, VerifyReport)
        print(f"{'verify_export, chain part only':<40} {rate:>12,.0f} {rate / raw:>9.2f}x")
        print("goal: >= 200,000 records/s")
        print(f"\n{'export of ' + format(RECORDS, ',') + ' records':<28} {'seconds':>8} "
              f"{'records/s':>10} {'MB':>7}")
        for fmt, seconds, manifest in exports:
            mb = sum(f.stat().st_size for f in (folder / f"x-{fmt}").iterdir()) / 1e6
            print(f"{fmt:<28} {seconds:>8.2f} {manifest.selected / seconds:>10,.0f} {mb:>7.1f}")


if __name__ == "__main__":
    main()
