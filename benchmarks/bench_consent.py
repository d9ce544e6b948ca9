"""Consent (issue 3): state look-ups from the in-memory view next to a raw dict, the view checked
against the log, and durable grants (each with a signed receipt and its inclusion proof).

* look-ups: ``consent.state_of_pseudonym`` (what every decision calls) over 5,000 subjects,
  against a plain ``dict.get`` loop over the same keys — the floor for any in-memory view in
  Python; ``consent.state(subject)`` adds the keyed pseudonym (HMAC) of the raw id;
* consistency: after writes interleaved with reads, the view is dropped and rebuilt from the log
  alone, and every subject's state compared;
* grants: ``consent.grant`` from 1 and 64 threads, durability FULL (fsync per group commit),
  each returning a signed receipt with its RFC 9162 inclusion proof and checkpoint.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from _timing import goal

from sdk import Personalizer

SUBJECTS = 5_000
LOOKUPS = 2_000_000


def lookups(p: Personalizer) -> None:
    c = p.consent
    people = [f"cust-{i:05d}" for i in range(SUBJECTS)]
    pseudos = [p._keys.pseudonym(x) for x in people]
    for pseudo in pseudos:  # warm the view (one fold per subject)
        c.state_of_pseudonym(pseudo)
    keys = (pseudos * (LOOKUPS // SUBJECTS + 1))[:LOOKUPS]
    view = {k: object() for k in pseudos}
    get = view.get
    t0 = time.perf_counter()
    for k in keys:
        get(k)
    raw = LOOKUPS / (time.perf_counter() - t0)
    state = c.state_of_pseudonym
    t0 = time.perf_counter()
    for k in keys:
        state(k)
    ours = LOOKUPS / (time.perf_counter() - t0)
    n = 100_000
    t0 = time.perf_counter()
    for i in range(n):
        c.state(people[i % SUBJECTS])
    with_id = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    allowed = sum(state(k).allows("personalization") for k in keys[:n])
    allows = n / (time.perf_counter() - t0)
    print(f"{'consent look-ups (5,000 subjects)':<44} {'per s':>12} {'vs dict.get':>12}")
    print(f"{'raw dict.get loop':<44} {raw:>12,.0f} {1.0:>11.2f}x")
    print(f"{'state_of_pseudonym (decision hot path)':<44} {ours:>12,.0f} {ours / raw:>11.2f}x")
    for name, rate in (
        ("state_of_pseudonym(...).allows(purpose)", allows),
        ("state(raw subject id) (+ HMAC pseudonym)", with_id),
    ):
        print(f"{name:<44} {rate:>12,.0f} {rate / raw:>11.2f}x")
    print(f"(goal >= 1,000,000 look-ups/s; {allowed:,} of {n:,} allowed personalization)")


def consistency(p: Personalizer) -> None:
    c = p.consent
    people = [f"cust-{i:05d}" for i in range(0, SUBJECTS, 7)]
    for i, who in enumerate(people):
        if i % 3 == 0:
            c.withdraw(who, "personalization")
            assert not c.state(who).allows("personalization")  # the very next read sees it
        elif i % 3 == 1:
            c.grant(who, "marketing")
            assert c.state(who).allows("marketing")
    before = {s: c.state_of_pseudonym(s).purposes for s in c.subjects()}
    t0 = time.perf_counter()
    c.rebuild()
    took = time.perf_counter() - t0
    after = {s: c.state_of_pseudonym(s).purposes for s in c.subjects()}
    same = before == after
    print(
        f"view rebuilt from the log ({p.ledger.size:,} entries) in {took:.2f}s; "
        f"equal to the live view for all {len(after):,} subjects: {same}"
    )
    assert same


def grants(folder: Path) -> None:
    rows = []
    for threads, per_thread in ((1, 300), (64, 40)):
        with Personalizer.open(folder / f"g{threads}.db", durability="full") as p:
            barrier = threading.Barrier(threads + 1)

            def work(
                t: int,
                p: Personalizer = p,
                barrier: threading.Barrier = barrier,
                n: int = per_thread,
            ) -> None:
                barrier.wait()
                for i in range(n):
                    p.consent.grant(f"t{t}-s{i}", ["personalization", "analytics"], source="bench")

            pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            for th in pool:
                th.start()
            barrier.wait()
            t0 = time.perf_counter()
            for th in pool:
                th.join()
            rate = threads * per_thread / (time.perf_counter() - t0)
            rows.append((threads, rate, p.ledger.stats.largest_batch))
            assert p.consent.verify().ok
    print(f"{'consent.grant, durability FULL, + signed receipt':<50} {'per s':>8}")
    for threads, rate, batch in rows:
        print(f"{f'{threads} thread(s)':<50} {rate:>8,.0f}  (largest group commit {batch})")
    goal("consent.grant + signed receipt, 64 threads, /s", rows[-1][1], 5_000, unit="/s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Personalizer.open(folder / "c.db", durability="normal") as p:
            t0 = time.perf_counter()
            for i in range(SUBJECTS):
                p.consent.grant(f"cust-{i:05d}", ["personalization", "analytics"][: 1 + i % 2])
            print(
                f"(set-up: {SUBJECTS:,} grants in {time.perf_counter() - t0:.1f}s, "
                f"{datetime.now(UTC):%H:%M} UTC)"
            )
            lookups(p)
            consistency(p)
        grants(folder)


if __name__ == "__main__":
    main()
