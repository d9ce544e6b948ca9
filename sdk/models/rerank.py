"""Re-ranking for the fat tail: MMR, calibration (Steck 2018), a long-tail floor and exploration.

One greedy slot-by-slot selector does all of it, so every served item has a well-defined
propensity (the probability that the policy picks it at its slot given the items above it):

- relevance: the model's scores, min-max scaled to [0, 1] over the candidates;
- MMR (Carbonell & Goldstein 1998): minus ``mmr`` times the item's largest similarity to an item
  already chosen (same category = 1, or cosine of ``vector_columns``);
- calibration (Steck, "Calibrated recommendations", RecSys 2018): minus ``calibration`` times
  ``KL(p || q~)``, ``p`` the person's category distribution, ``q~ = (1 - a) q + a p`` the list's
  (with the chosen item) smoothed by ``a = 0.01``;
- long-tail floor: once the slots left are as many as the tail items still owed, only items
  outside the popular head may be chosen (they are tagged ``long_tail``);
- exploration: epsilon-greedy; with probability ``exploration`` a slot takes a uniformly random
  remaining item (tagged ``exploration`` when it is not the greedy one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field, model_validator

from ..types import Frozen

__all__ = ["Pick", "RerankPolicy", "calibration_kl", "popular_head", "rerank"]

SMOOTHING = 0.01


class RerankPolicy(Frozen):
    """How ``recommend`` re-ranks the model's order. The default changes nothing."""

    mmr: float = Field(default=0.0, ge=0.0, le=1.0)
    """Weight of the diversity penalty (0: off)."""
    calibration: float = Field(default=0.0, ge=0.0, le=1.0)
    """Weight of the calibration penalty (0: off); needs ``category_column``."""
    category_column: str | None = None
    """Candidate column naming each item's category (similarity and calibration)."""
    vector_columns: tuple[str, ...] = ()
    """Candidate columns whose cosine similarity MMR uses when there is no category column."""
    long_tail_floor: int = Field(default=0, ge=0)
    """At least this many served items come from outside the popular head."""
    popularity_column: str | None = None
    """Candidate column with each item's popularity (needed for the long-tail floor)."""
    head_share: float = Field(default=0.5, gt=0.0, lt=1.0)
    """The popular head: the most popular candidates that together hold this share of all
    popularity among the candidates."""
    exploration: float = Field(default=0.0, ge=0.0, le=1.0)
    """Epsilon of the epsilon-greedy exploration per slot (0: off)."""
    seed: int | None = None
    """Fixes the exploration draws (tests); by default each request draws its own seed."""

    @model_validator(mode="after")
    def _check(self) -> RerankPolicy:
        if self.mmr + self.calibration > 1.0:
            raise ValueError("mmr + calibration must be at most 1")
        if self.calibration > 0 and self.category_column is None:
            raise ValueError("calibration needs category_column")
        if self.long_tail_floor > 0 and self.popularity_column is None:
            raise ValueError("long_tail_floor needs popularity_column")
        return self

    @property
    def active(self) -> bool:
        """True when the policy changes anything at all."""
        return bool(self.mmr or self.calibration or self.long_tail_floor or self.exploration)


@dataclass(frozen=True)
class Pick:
    """One chosen candidate: its row, its tag and the probability the policy chose it there."""

    row: int
    tag: str  # "ranked", "long_tail" or "exploration"
    propensity: float


def popular_head(popularity: np.ndarray, share: float) -> np.ndarray:
    """Mask of the smallest set of most popular items holding ``share`` of all popularity."""
    pop = np.clip(np.nan_to_num(np.asarray(popularity, dtype=np.float64)), 0.0, None)
    total = pop.sum()
    head = np.zeros(len(pop), dtype=bool)
    if total <= 0:
        return head
    order = np.argsort(-pop, kind="stable")
    cumulative = np.cumsum(pop[order])
    count = int(np.searchsorted(cumulative, share * total, side="left")) + 1
    head[order[:count]] = True
    return head


def category_distribution(
    categories: Sequence[str], weights: np.ndarray | None = None
) -> dict[str, float]:
    """Share of each category among ``categories`` (optionally weighted)."""
    w = np.ones(len(categories)) if weights is None else np.asarray(weights, dtype=np.float64)
    out: dict[str, float] = {}
    for c, x in zip(categories, w, strict=True):
        out[c] = out.get(c, 0.0) + float(x)
    total = sum(out.values())
    return {c: v / total for c, v in out.items()} if total > 0 else {}


def calibration_kl(target: Mapping[str, float], served: Sequence[str]) -> float:
    """Steck's miscalibration ``KL(p || q~)`` of a list's categories against ``target``."""
    p = _normalise(target)
    if not p or not served:
        return float("nan")
    q = category_distribution(served)
    return float(
        sum(pv * np.log(pv / ((1 - SMOOTHING) * q.get(c, 0.0) + SMOOTHING * pv))
            for c, pv in p.items() if pv > 0)
    )


def _normalise(target: Mapping[str, float]) -> dict[str, float]:
    clean = {str(c): float(v) for c, v in target.items() if float(v) > 0}
    total = sum(clean.values())
    return {c: v / total for c, v in clean.items()} if total > 0 else {}


def rerank(
    scores: np.ndarray,
    k: int,
    policy: RerankPolicy,
    *,
    categories: Sequence[str] | None = None,
    vectors: np.ndarray | None = None,
    popularity: np.ndarray | None = None,
    target: Mapping[str, float] | None = None,
    rng: np.random.Generator | None = None,
    placed: Sequence[int] = (),
) -> list[Pick]:
    """Choose up to ``k`` candidates slot by slot under ``policy``.

    ``placed`` rows (promotions) already hold the top slots: they count for similarity and
    calibration and are never chosen again. Without an active policy this is the model's order
    (stable for ties), every propensity 1.
    """
    n = len(scores)
    scores = np.asarray(scores, dtype=np.float64)
    remaining = np.ones(n, dtype=bool)
    remaining[list(placed)] = False
    k = min(k, int(remaining.sum()))
    if not policy.active:
        order = [i for i in np.argsort(-scores, kind="stable") if remaining[i]][:k]
        return [Pick(int(i), "ranked", 1.0) for i in order]
    span = scores.max() - scores.min()
    relevance = (scores - scores.min()) / span if span > 0 else np.zeros(n)
    similarity = _similarity(n, categories, vectors) if policy.mmr > 0 else None
    cats = np.asarray(categories) if categories is not None else None
    p = _normalise(target or {}) if policy.calibration > 0 else {}
    if policy.calibration > 0 and not p and cats is not None:
        p = category_distribution([str(c) for c in cats])  # no profile: the candidates' own mix
    tail = None
    if policy.long_tail_floor > 0 and popularity is not None:
        tail = ~popular_head(popularity, policy.head_share)
    generator = rng or np.random.default_rng()
    chosen: list[int] = [int(r) for r in placed]
    counts: dict[str, float] = {}
    for row in chosen:
        if cats is not None:
            counts[str(cats[row])] = counts.get(str(cats[row]), 0.0) + 1.0
    owed = min(policy.long_tail_floor, int(tail.sum())) if tail is not None else 0
    if tail is not None:
        owed = max(0, owed - sum(1 for r in chosen if tail[r]))
    picks: list[Pick] = []
    weight = 1.0 - policy.mmr - policy.calibration
    for slot in range(k):
        allowed = remaining.copy()
        forced = tail is not None and owed > 0 and k - slot <= owed
        if forced:
            assert tail is not None
            allowed &= tail
        gain = weight * relevance
        if similarity is not None and chosen:
            gain = gain - policy.mmr * similarity[:, chosen].max(axis=1)
        if p and cats is not None:
            gain = gain - policy.calibration * _kl_with_each(p, counts, len(chosen), cats)
        candidates = np.flatnonzero(allowed)
        greedy = int(candidates[np.argmax(gain[candidates])])
        free = np.flatnonzero(remaining)
        unforced_greedy = int(free[np.argmax(gain[free])])
        epsilon = policy.exploration
        if epsilon > 0 and generator.random() < epsilon:
            row = int(generator.choice(candidates))
        else:
            row = greedy
        propensity = (1.0 - epsilon) * (row == greedy) + epsilon / len(candidates)
        if row != greedy:
            tag = "exploration"
        elif forced and row != unforced_greedy:
            tag = "long_tail"
        else:
            tag = "ranked"
        picks.append(Pick(row, tag, float(propensity)))
        chosen.append(row)
        remaining[row] = False
        if tail is not None and tail[row]:
            owed = max(0, owed - 1)
        if cats is not None:
            c = str(cats[row])
            counts[c] = counts.get(c, 0.0) + 1.0
    return picks


def _kl_with_each(
    p: Mapping[str, float], counts: Mapping[str, float], size: int, cats: np.ndarray
) -> np.ndarray:
    """KL(p || q~) of the list if each candidate were added next (one value per candidate)."""
    out = np.empty(len(cats))
    cache: dict[str, float] = {}
    for i, c in enumerate(cats):
        key = str(c)
        value = cache.get(key)
        if value is None:
            total = size + 1
            value = 0.0
            for cat, pv in p.items():
                q = (counts.get(cat, 0.0) + (1.0 if cat == key else 0.0)) / total
                value += pv * np.log(pv / ((1 - SMOOTHING) * q + SMOOTHING * pv))
            cache[key] = value
        out[i] = value
    return out


def _similarity(
    n: int, categories: Sequence[str] | None, vectors: np.ndarray | None
) -> np.ndarray:
    if categories is not None:
        cats = np.asarray([str(c) for c in categories])
        return np.asarray(cats[:, None] == cats[None, :], dtype=np.float64)
    if vectors is None:
        raise ValueError("MMR needs category_column or vector_columns")
    return cosine_similarity(vectors)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of z-scored rows, mapped to [0, 1] (missing values as 0)."""
    x = np.nan_to_num(np.asarray(vectors, dtype=np.float64))
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    norm = np.linalg.norm(x, axis=1)
    x = x / np.where(norm > 0, norm, 1.0)[:, None]
    return np.asarray(np.clip((x @ x.T + 1.0) / 2.0, 0.0, 1.0), dtype=np.float64)
