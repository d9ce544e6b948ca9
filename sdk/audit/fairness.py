"""Bias audit: outcome rates per group of a protected attribute, from the audit trail alone.

For each group: the selection rate (share of decisions whose *effective* outcome is the
favourable one, i.e. after human review) and its ratio to a reference group, flagged below
four fifths (the US EEOC rule of thumb); false positive and false negative rates over the
decisions whose true outcome was recorded later (:meth:`AuditTrail.record_outcome`); the share
held for review or contested, and the share overridden. Confidence intervals are percentile
bootstrap intervals, resampling decisions within each group with a seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from pydantic import Field

from ..types import Frozen

__all__ = ["FairnessReport", "GroupRates", "Interval", "fairness_report"]

FOUR_FIFTHS = 0.8


class Interval(Frozen):
    """A two-sided percentile bootstrap confidence interval."""

    low: float
    high: float


class GroupRates(Frozen):
    """The figures for one group."""

    group: str
    decisions: int
    selected: int
    selection_rate: float
    selection_rate_ci: Interval | None
    ratio_to_reference: float | None
    """Selection rate divided by the reference group's; ``None`` when the reference's is 0."""
    ratio_ci: Interval | None
    below_four_fifths: bool
    known_outcomes: int
    false_positive_rate: float | None
    false_positive_rate_ci: Interval | None
    false_negative_rate: float | None
    false_negative_rate_ci: Interval | None
    review_rate: float
    """Share held for review by the policy or contested by the person."""
    override_rate: float


class FairnessReport(Frozen):
    """``audit.fairness(...)``: rates per group, the reference group and the flagged groups."""

    model: str
    group_by: str
    favourable_outcome: str
    reference: str
    since: datetime | None
    until: datetime | None
    decisions: int
    confidence: float
    bootstrap: int
    seed: int
    groups: tuple[GroupRates, ...]
    flagged: tuple[str, ...] = Field(default=())
    """Groups whose selection rate is below four fifths of the reference group's."""


def _ci(samples: np.ndarray, confidence: float) -> Interval | None:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return Interval(low=float(low), high=float(high))


def _boot_means(x: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    if x.size == 0:
        return np.full(n_boot, np.nan)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    return np.asarray(x[idx].mean(axis=1), dtype=np.float64)


def _rate(x: np.ndarray) -> float | None:
    return float(x.mean()) if x.size else None


def fairness_report(
    *,
    model: str,
    group_by: str,
    favourable: str,
    groups: Sequence[str],
    predicted: Sequence[bool],
    actual: Sequence[bool | None],
    reviewed: Sequence[bool],
    overridden: Sequence[bool],
    reference: str | None,
    since: datetime | None,
    until: datetime | None,
    n_boot: int,
    confidence: float,
    seed: int,
) -> FairnessReport:
    """Compute the report from one row per decision (already filtered by model and time).

    ``predicted`` is whether the effective outcome is the favourable one; ``actual`` whether the
    true outcome was favourable (``None``: not known).
    """
    g = np.asarray(groups, dtype=object)
    pred = np.asarray(predicted, dtype=bool)
    known = np.asarray([a is not None for a in actual], dtype=bool)
    act = np.asarray([bool(a) for a in actual], dtype=bool)
    rev = np.asarray(reviewed, dtype=bool)
    ovr = np.asarray(overridden, dtype=bool)
    names = sorted({str(x) for x in g.tolist()})
    rng = np.random.default_rng(seed)
    rates: dict[str, float] = {}
    boots: dict[str, np.ndarray] = {}
    for name in names:
        sel = pred[g == name].astype(np.float64)
        rates[name] = float(sel.mean())
        boots[name] = _boot_means(sel, rng, n_boot) if n_boot else np.empty(0)
    ref = reference if reference is not None else max(names, key=lambda n: (rates[n], n))
    out: list[GroupRates] = []
    for name in names:
        mask = g == name
        p, k = pred[mask], known[mask]
        negatives = ~act[mask] & k
        positives = act[mask] & k
        fp = p[negatives].astype(np.float64)
        fn = (~p[positives]).astype(np.float64)
        ratio = rates[name] / rates[ref] if rates.get(ref) else None
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_boot = boots[name] / boots[ref] if n_boot else np.empty(0)
        out.append(
            GroupRates(
                group=name,
                decisions=int(mask.sum()),
                selected=int(p.sum()),
                selection_rate=rates[name],
                selection_rate_ci=_ci(boots[name], confidence) if n_boot else None,
                ratio_to_reference=ratio,
                ratio_ci=_ci(ratio_boot, confidence) if n_boot and ratio is not None else None,
                below_four_fifths=ratio is not None and ratio < FOUR_FIFTHS,
                known_outcomes=int(k.sum()),
                false_positive_rate=_rate(fp),
                false_positive_rate_ci=_ci(_boot_means(fp, rng, n_boot), confidence)
                if n_boot and fp.size
                else None,
                false_negative_rate=_rate(fn),
                false_negative_rate_ci=_ci(_boot_means(fn, rng, n_boot), confidence)
                if n_boot and fn.size
                else None,
                review_rate=float(rev[mask].mean()),
                override_rate=float(ovr[mask].mean()),
            )
        )
    return FairnessReport(
        model=model,
        group_by=group_by,
        favourable_outcome=favourable,
        reference=ref,
        since=since,
        until=until,
        decisions=int(g.size),
        confidence=confidence,
        bootstrap=n_boot,
        seed=seed,
        groups=tuple(out),
        flagged=tuple(r.group for r in out if r.below_four_fifths),
    )
