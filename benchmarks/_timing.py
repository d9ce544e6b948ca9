"""Timing helpers shared by the benchmarks: warm up, repeat, take the best or the median; and the
issue goals each bench records with :func:`goal`, printed together by ``run.py`` at the end."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


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


# -- goals: one summary table at the end of `make bench` ------------------------------------------


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal of an issue, measured in this run: ``value`` against ``target``.

    ``at_least``: the goal is ``value >= target`` (a floor: rates, speed-ups); otherwise
    ``value <= target`` (a ceiling: cost ratios). ``unit`` is printed after both numbers.
    """

    name: str
    value: float
    target: float
    at_least: bool = True
    unit: str = "x"

    @property
    def margin(self) -> float:
        """How far past the goal, as a ratio that passes at >= 1.0 for either direction."""
        if self.at_least:
            return self.value / self.target if self.target else float("inf")
        return self.target / self.value if self.value else float("inf")

    @property
    def passed(self) -> bool:
        """Whether the goal is met (a NaN measurement, a skipped baseline, never passes)."""
        return self.value >= self.target if self.at_least else self.value <= self.target


GOALS: list[Goal] = []
"""Every goal recorded in this process, in order; ``run.py`` prints them after the last bench."""


def goal(name: str, value: float, target: float, *, at_least: bool = True, unit: str = "x") -> Goal:
    """Record one goal for the summary table (and return it, for a bench's own line)."""
    recorded = Goal(name, value, target, at_least, unit)
    GOALS.append(recorded)
    return recorded


def _number(value: float, unit: str) -> str:
    if value != value:  # NaN: not measured in this run
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f}{unit}"


def summary(goals: Sequence[Goal] | None = None) -> str:
    """The goals as one table: measured, goal, margin (>= 1.00 passes) and pass/FAIL."""
    goals = GOALS if goals is None else goals
    width = max([44, *(len(g.name) for g in goals)])
    lines = [f"{'goal':<{width}} {'measured':>12} {'goal':>14} {'margin':>7}  result"]
    for g in goals:
        bound = (">= " if g.at_least else "<= ") + _number(g.target, g.unit)
        result = "pass" if g.passed else ("skip" if g.value != g.value else "FAIL")
        lines.append(
            f"{g.name:<{width}} {_number(g.value, g.unit):>12} {bound:>14} "
            + (f"{g.margin:>6.2f}x" if g.margin == g.margin else f"{'-':>7}")
            + f"  {result}"
        )
    met = sum(g.passed for g in goals)
    lines.append(f"{met} of {len(goals)} goals met (margin = measured / goal, or goal / measured "
                 "for a ceiling)")
    return "\n".join(lines)
