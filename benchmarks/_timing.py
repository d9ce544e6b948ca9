"""Timing helpers shared by the benchmarks: warm up, repeat, take the best or the median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timings(fn: Callable[[], object], repeats: int, *, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def best(fn: Callable[[], object], rounds: int) -> float:
    """The fastest of ``rounds`` calls: the one least disturbed by the rest of the machine."""
    return min(timings(fn, rounds))


def median(fn: Callable[[], object], repeats: int, *, warmup: int = 5) -> float:
    """The median of ``repeats`` calls."""
    return statistics.median(timings(fn, repeats, warmup=warmup))
