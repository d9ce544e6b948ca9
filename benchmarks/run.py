"""Run every benchmark module (``benchmarks/bench_*.py``) in one process, in name order.

Each module defines ``main() -> None`` that prints its own table: raw-library baselines measured in
the same run, and the ratio of whylens to them. ``make bench`` calls this file; pass module names
(``python benchmarks/run.py bench_decide``) to run only some.

Benches record their issue goals with ``_timing.goal(name, value, target, at_least=...)``; after
the last one this prints every recorded goal in one table (measured, goal, margin, pass/FAIL),
with the load average, so one run answers "are the goals met".
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = argv or sorted(p.stem for p in HERE.glob("bench_*.py"))
    import _timing

    begun = time.perf_counter()
    for name in names:
        module = importlib.import_module(name)
        print(f"\n=== {name} " + "=" * max(0, 70 - len(name)))
        started = time.perf_counter()
        module.main()
        print(f"({name} took {time.perf_counter() - started:.1f}s)")
    if _timing.GOALS:
        print("\n=== goals " + "=" * 70)
        print(_timing.summary())
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"(all benches took {time.perf_counter() - begun:.0f}s; load average {load} on "
          f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
