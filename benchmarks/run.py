"""Run every benchmark module (``benchmarks/bench_*.py``) in one process, in name order.

Each module defines ``main() -> None`` that prints its own table: raw-library baselines measured in
the same run, and the ratio of whylens to them. ``make bench`` calls this file; pass module names
(``python benchmarks/run.py bench_decide``) to run only some.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = argv or sorted(p.stem for p in HERE.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(name)
        print(f"\n=== {name} " + "=" * max(0, 70 - len(name)))
        started = time.perf_counter()
        module.main()
        print(f"({name} took {time.perf_counter() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
