"""Counterfactuals: the smallest change to actionable features that flips a decision's outcome.

A tree ensemble's output only changes where an input crosses a split threshold, so the candidate
values of a feature are one "nice" value per interval between its thresholds (within the
direction and range the schema allows). The search tries one feature, then two, then three
(fewest features first); within a number of features it takes the smallest change, measured as
the sum of each change divided by the feature's range. The winner is shrunk feature by feature
while it still flips, then verified by re-scoring the changed input with the model itself.

Only features the schema marks ``actionable`` are ever changed, and never one that is sensitive
(itself or through its concept) or whose purpose was not granted. A categorical feature has no
order: its candidates are the other categories its schema allows (``targets``, else all), each
move costing :data:`CATEGORY_COST`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, product
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ExplanationError
from ..types import Change, Counterfactual
from .concepts import suppression
from .narrative import counterfactual_text

if TYPE_CHECKING:
    from ..models.registry import Model

__all__ = ["CATEGORY_COST", "actionable_features", "find_counterfactual", "split_thresholds"]

CATEGORY_COST = 0.5
"""Cost of moving a categorical feature to another category: half a full-range numeric move."""
MAX_FEATURES = 3
_GRID = {1: 10_000, 2: 24, 3: 10}  # candidate values per feature when trying k features at once
_REFINE_ROUNDS = 6

_cache: dict[str, tuple[dict[int, np.ndarray], frozenset[int]]] = {}
_cache_lock = threading.Lock()


def split_thresholds(model: Model) -> dict[int, np.ndarray]:
    """Column -> sorted unique thresholds of its numerical splits (once per model version).

    Columns with any categorical split are left out: moving along them has no order.
    """
    return _splits(model)[0]


def _categorical_splits(model: Model) -> frozenset[int]:
    """Columns the model splits on by category."""
    return _splits(model)[1]


def _splits(model: Model) -> tuple[dict[int, np.ndarray], frozenset[int]]:
    with _cache_lock:
        cached = _cache.get(model.content_hash)
    if cached is not None:
        return cached
    found: dict[int, set[float]] = {}
    categorical: set[int] = set()
    trees = model.booster.dump_model()["tree_info"]
    stack: list[dict[str, Any]] = [t["tree_structure"] for t in trees]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        column = int(node["split_feature"])
        if node.get("decision_type", "<=") == "<=":
            found.setdefault(column, set()).add(float(node["threshold"]))
        else:
            categorical.add(column)
        stack.append(node["left_child"])
        stack.append(node["right_child"])
    out = {c: np.array(sorted(v)) for c, v in found.items() if c not in categorical}
    with _cache_lock:
        _cache[model.content_hash] = (out, frozenset(categorical))
    return out, frozenset(categorical)


def actionable_features(model: Model, masked: Sequence[str]) -> tuple[str, ...]:
    """Features a counterfactual may change: actionable, not sensitive, purpose granted."""
    held_back = suppression(model.schema, masked)
    return tuple(f.name for f in model.schema if f.actionable and f.name not in held_back)


@dataclass(frozen=True)
class _Space:
    columns: tuple[int, ...]
    values: tuple[np.ndarray, ...]  # candidate values per column, nearest first
    scale: tuple[float, ...]
    categorical: tuple[bool, ...]

    def costs(self, i: int, values: np.ndarray, current: float) -> np.ndarray:
        """Cost of moving column ``i`` from ``current`` to each of ``values``."""
        if self.categorical[i]:
            return np.where(values != current, CATEGORY_COST, 0.0)
        out: np.ndarray = np.abs(values - current) / self.scale[i]
        return out


def find_counterfactual(
    model: Model,
    row: np.ndarray,
    *,
    masked: Sequence[str],
    decision_id: str,
    locale: str = "en",
    max_features: int = MAX_FEATURES,
) -> Counterfactual:
    """The smallest change to ``row`` (the decision's input, as scored) that flips its outcome."""
    card = model.card
    if model.kind != "classifier" or card.outcomes is None or card.threshold is None:
        raise ExplanationError("counterfactuals are for decisions by a classifier")
    x = np.asarray(row, dtype=np.float64).reshape(-1)
    score = float(model.raw_scores(x[None, :])[0])
    positive = _positive(np.array([score]), card.threshold)[0]
    outcome = card.outcomes[int(positive)]
    target = card.outcomes[int(not positive)]
    space = _space(model, x, masked)
    best = _search(model, x, space, positive, max_features)
    schema = model.schema
    if best is None:
        return Counterfactual(
            decision_id=decision_id,
            found=False,
            outcome=outcome,
            target_outcome=target,
            score=score,
            text=counterfactual_text((), target=target, locale=locale),
            locale=locale,
        )
    proposal = _refine(model, x, space, best, positive)
    changed = x.copy()
    for i, value in enumerate(proposal):
        changed[space.columns[i]] = value
    score_after = float(model.raw_scores(changed[None, :])[0])
    if _positive(np.array([score_after]), card.threshold)[0] == positive:
        raise ExplanationError("counterfactual did not verify on re-scoring")  # never expected
    changes = tuple(
        Change(
            feature=schema.names[c],
            label=schema[schema.names[c]].label_for(locale),
            current=float(x[c]),
            proposed=float(changed[c]),
            current_category=schema.features[c].category_of(float(x[c])),
            proposed_category=schema.features[c].category_of(float(changed[c])),
        )
        for c in space.columns
        if changed[c] != x[c]
    )
    return Counterfactual(
        decision_id=decision_id,
        found=True,
        outcome=outcome,
        target_outcome=target,
        changes=changes,
        score=score,
        score_after=score_after,
        cost=_cost(space, x, proposal),
        text=counterfactual_text(
            [(c.label, _show(schema, c.feature, c.proposed, locale),
              _show(schema, c.feature, c.current, locale)) for c in changes],
            target=target,
            locale=locale,
            categorical=[schema[c.feature].is_categorical for c in changes],
        ),
        locale=locale,
    )


def _positive(raw: np.ndarray, threshold: float) -> np.ndarray:
    """Which raw scores give the positive outcome, decided exactly as the decision itself is."""
    cut = math.log(threshold / (1.0 - threshold))
    out: np.ndarray = raw >= cut
    # near the cut, use the decision's own arithmetic (math.exp): a flip here is a flip there
    for i in np.flatnonzero(np.abs(raw - cut) < 1e-6).tolist():
        r = float(raw[i])
        out[i] = r > -700.0 and 1.0 / (1.0 + math.exp(-r)) >= threshold
    return out


def _space(model: Model, x: np.ndarray, masked: Sequence[str]) -> _Space:
    thresholds, by_category = _splits(model)
    columns, values, scales, kinds = [], [], [], []
    for name in actionable_features(model, masked):
        c = model.schema.index(name)
        feature = model.schema[name]
        if feature.is_categorical:
            # no order to move along: every other category the schema allows, in its order
            if not math.isfinite(x[c]) or c not in by_category:
                continue
            allowed = feature.targets if feature.targets is not None else feature.codes
            codes = np.array(
                [i for i, code in enumerate(feature.codes) if code in allowed and i != x[c]],
                dtype=np.float64,
            )
            if codes.size:
                columns.append(c)
                values.append(codes)
                scales.append(1.0)
                kinds.append(True)
            continue
        if not math.isfinite(x[c]) or c not in thresholds:
            continue
        cands = _candidates(
            float(x[c]), thresholds[c], feature.direction, feature.min_value,
            feature.max_value, feature.step,
        )
        if cands.size == 0:
            continue
        if feature.min_value is not None and feature.max_value is not None:
            scale = feature.max_value - feature.min_value
        else:
            t = thresholds[c]
            scale = float(t[-1] - t[0])
        columns.append(c)
        values.append(cands)
        scales.append(scale if scale > 0 else 1.0)
        kinds.append(False)
    return _Space(tuple(columns), tuple(values), tuple(scales), tuple(kinds))


def _candidates(
    x: float,
    t: np.ndarray,
    direction: str,
    lo: float | None,
    hi: float | None,
    step: float | None,
) -> np.ndarray:
    """One value inside each threshold interval reachable from ``x`` (LightGBM: left if <= t)."""
    out: set[float] = set()
    edges = [-math.inf, *t.tolist(), math.inf]
    if direction in ("increase", "either"):
        for i in range(1, len(edges) - 1):
            if edges[i] >= x:
                out.add(_above(edges[i], edges[i + 1], step))
        if hi is not None:
            out.add(_snap_down(hi, step))
    if direction in ("decrease", "either"):
        for i in range(1, len(edges) - 1):
            if edges[i] < x:
                out.add(_below(edges[i], edges[i - 1], step))
        if lo is not None:
            out.add(_snap_up(lo, step))
    keep = [
        v
        for v in out
        if math.isfinite(v)
        and v != x
        and (lo is None or v >= lo)
        and (hi is None or v <= hi)
        and (direction != "increase" or v > x)
        and (direction != "decrease" or v < x)
    ]
    return np.array(sorted(keep, key=lambda v: (abs(v - x), v)), dtype=np.float64)


def _above(t: float, nxt: float, step: float | None) -> float:
    """The roundest value > t (and, when possible, <= the next threshold)."""
    if step is not None:
        v = math.floor(t / step) * step + step
        return v if v > t else v + step
    for digits in range(0, 10):
        q = 10.0**digits
        v = math.ceil(t * q) / q
        if v <= t:
            v = (math.ceil(t * q) + 1) / q
        if v > t and v <= nxt:
            return v
    return float(np.nextafter(t, math.inf))


def _below(t: float, prev: float, step: float | None) -> float:
    """The roundest value <= t (and, when possible, > the previous threshold)."""
    if step is not None:
        return math.floor(t / step) * step
    for digits in range(0, 10):
        q = 10.0**digits
        v = math.floor(t * q) / q
        if v <= t and v > prev:
            return v
    return t


def _snap_down(v: float, step: float | None) -> float:
    return v if step is None else math.floor(v / step) * step


def _snap_up(v: float, step: float | None) -> float:
    return v if step is None else math.ceil(v / step) * step


def _cost(space: _Space, x: np.ndarray, proposal: Sequence[float]) -> float:
    return float(
        sum(
            float(space.costs(i, np.array([v]), float(x[c]))[0])
            for i, (c, v) in enumerate(zip(space.columns, proposal, strict=True))
        )
    )


def _grid(values: np.ndarray, size: int) -> np.ndarray:
    if values.size <= size:
        return values
    # keep the nearest values and reach out to the farthest: big moves are likeliest to flip
    picks = np.unique(np.round(np.geomspace(1, values.size, size)).astype(int) - 1)
    out: np.ndarray = values[picks]
    return out


def _search(
    model: Model, x: np.ndarray, space: _Space, positive: bool, max_features: int
) -> list[float] | None:
    n = len(space.columns)
    assert model.card.threshold is not None
    for k in range(1, min(max_features, n) + 1):
        best: tuple[float, list[float]] | None = None
        for combo in combinations(range(n), k):
            grids = [_grid(space.values[i], _GRID[k]) for i in combo]
            points = np.array(list(product(*grids)), dtype=np.float64)
            rows = np.repeat(x[None, :], len(points), axis=0)
            for j, i in enumerate(combo):
                rows[:, space.columns[i]] = points[:, j]
            flips = _positive(model.raw_scores(rows), model.card.threshold) != positive
            if not flips.any():
                continue
            costs = np.zeros(len(points))
            for j, i in enumerate(combo):
                costs += space.costs(i, points[:, j], float(x[space.columns[i]]))
            costs[~flips] = np.inf
            at = int(np.argmin(costs))
            if best is None or costs[at] < best[0]:
                proposal = [float(x[c]) for c in space.columns]
                for j, i in enumerate(combo):
                    proposal[i] = float(points[at, j])
                best = (float(costs[at]), proposal)
        if best is not None:
            return best[1]
    return None


def _refine(
    model: Model, x: np.ndarray, space: _Space, proposal: list[float], positive: bool
) -> list[float]:
    """Shrink each changed feature to its nearest candidate that still flips the outcome."""
    assert model.card.threshold is not None
    current = list(proposal)
    for _ in range(_REFINE_ROUNDS):
        improved = False
        for i, c in enumerate(space.columns):
            if current[i] == x[c]:
                continue
            # a category has no "nearer" one: shrinking it means putting it back
            gap = math.inf if space.categorical[i] else abs(current[i] - x[c])
            nearer = [] if space.categorical[i] else [
                v for v in space.values[i] if abs(v - x[c]) < gap
            ]
            options = np.array([x[c], *nearer], dtype=np.float64)
            rows = np.repeat(x[None, :], len(options), axis=0)
            for j, col in enumerate(space.columns):
                rows[:, col] = current[j]
            rows[:, c] = options
            flips = _positive(model.raw_scores(rows), model.card.threshold) != positive
            if flips.any():
                cost = space.costs(i, options[flips], float(x[c]))
                nearest = options[flips][np.argmin(cost)]
                if nearest != current[i]:
                    current[i] = float(nearest)
                    improved = True
        if not improved:
            break
    return current


def _show(schema: Any, feature: str, value: float, locale: str) -> str:
    code = schema[feature].category_of(value)
    if code is not None:
        return str(schema[feature].category_label(code, locale))
    step = schema[feature].step
    if step is not None and float(step).is_integer() and float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"
