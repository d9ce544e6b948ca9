"""Helpers of the recommend path: preference-weighted scores, promotions, per-request seeds,
shadow agreement and staff-pick placement. Pure functions; no storage."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FeatureError
from ..explain.treeshap import Attributions, tree_shap
from ..models.curation import RequestCuration
from ..models.metrics import midranks
from ..models.registry import Model
from ..models.rerank import Pick
from ..types import StaffPick

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Scored",
    "curation_record",
    "numeric_column",
    "place_promotions",
    "place_staff",
    "promoted_top",
    "request_seed",
    "shadow_agreement",
    "spearman",
    "staff_rows",
    "text_column",
    "vector_columns",
    "weighted_scores",
]


@dataclass(frozen=True)
class Scored:
    """Served scores and, when preferences changed them, the exact attributions of every row."""

    scores: np.ndarray
    model_scores: np.ndarray
    attributions: Attributions | None
    factors: np.ndarray | None


def weighted_scores(model: Model, matrix: np.ndarray, factors: np.ndarray | None) -> Scored:
    """The model's scores; with concept factors, ``score - sum((1 - w) * phi)`` per row.

    A concept with weight 0 then contributes exactly nothing to the served score, and its
    attributions are 0: ``sum(w * phi) + base == served score`` still holds.
    """
    raw = model.raw_scores(matrix)
    if factors is None or np.all(factors == 1.0):
        return Scored(raw, raw, None, None)
    attributions = tree_shap(model.booster, matrix, raw=raw, content_hash=model.content_hash)
    adjusted = attributions.base + (attributions.phi * factors).sum(axis=1)
    return Scored(adjusted, raw, attributions, factors)


def promoted_top(
    promoted_rows: Sequence[int] | np.ndarray, scores: np.ndarray, slots: int, k: int
) -> list[int]:
    """The promoted rows that take the top slots: best scored first, at most ``slots`` and ``k``."""
    ranked = sorted((int(r) for r in promoted_rows), key=lambda r: (-scores[r], r))
    return ranked[: min(slots, k)]


def place_promotions(promoted: list[int], picks: list[Pick]) -> list[tuple[int, str, float]]:
    """Promoted rows on top (propensity 1: placed, not drawn), then the policy's picks.

    Returns ``(row, tag, propensity)``.
    """
    out: list[tuple[int, str, float]] = [(r, "promoted", 1.0) for r in promoted]
    return out + [(pick.row, pick.tag, pick.propensity) for pick in picks]


def request_seed(decision_id: str) -> int:
    """A per-request seed derived from the decision id (recorded, so draws can be replayed)."""
    return int.from_bytes(hashlib.sha256(decision_id.encode()).digest()[:6], "big")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (mid-ranks for ties); ``nan`` for fewer than 2 items."""
    if len(a) < 2:
        return float("nan")
    ra, rb = midranks(np.asarray(a, dtype=np.float64)), midranks(np.asarray(b, dtype=np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def shadow_agreement(serving: np.ndarray, candidate: np.ndarray, k: int) -> dict[str, float]:
    """How far a shadow candidate agrees with the serving model on one request's candidates."""
    k = min(k, len(serving))
    top_a = set(np.argsort(-serving, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-candidate, kind="stable")[:k].tolist())
    return {
        "spearman": spearman(serving, candidate),
        "top_k_overlap": len(top_a & top_b) / k if k else float("nan"),
    }

def text_column(frame: pd.DataFrame, name: str | None) -> list[str] | None:
    """A candidate column as strings (``None`` when no column is named)."""
    if name is None:
        return None
    if name not in frame.columns:
        raise FeatureError(f"the re-ranking policy names a column the candidates lack: {name!r}")
    return [str(v) for v in frame[name].tolist()]


def numeric_column(frame: pd.DataFrame, name: str | None) -> np.ndarray | None:
    """A candidate column as float64 (``None`` when no column is named)."""
    if name is None:
        return None
    if name not in frame.columns:
        raise FeatureError(f"the re-ranking policy names a column the candidates lack: {name!r}")
    return np.asarray(frame[name].to_numpy(dtype=np.float64, na_value=np.nan))


def vector_columns(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray | None:
    """Several candidate columns as one float64 matrix (``None`` when none are named)."""
    if not names:
        return None
    return np.column_stack([numeric_column(frame, n) for n in names])  # type: ignore[misc]


def place_staff(
    served: list[tuple[int, str, float]], staff_rows: Sequence[int], slots: Sequence[int]
) -> list[tuple[int, str, float]]:
    """Insert staff-picked rows at their slots (in order; a slot past the end appends)."""
    out = list(served)
    for slot, row in zip(sorted(slots), staff_rows, strict=False):
        out.insert(min(slot, len(out)), (row, "staff", 1.0))
    return out


def staff_rows(
    items: list[str], curated: RequestCuration, k: int
) -> tuple[list[int], list[StaffPick]]:
    """Rows of the person's staff picks among the remaining candidates (one per slot, oldest
    pick first), and those picks."""
    position = {item: i for i, item in enumerate(items)}
    rows: list[int] = []
    picks: list[StaffPick] = []
    for pick in curated.picks:
        row = position.get(pick.item_id)
        if row is not None and row not in rows:
            rows.append(row)
            picks.append(pick)
    limit = min(len(curated.settings.staff_slots), k)
    return rows[:limit], picks[:limit]


def curation_record(pick: StaffPick | None, featured: bool) -> dict[str, Any]:
    """What a staff pick or a featured item adds to an item's record (the why can be rebuilt)."""
    if pick is not None:
        return {
            "pick": {
                "pick_id": pick.pick_id,
                "staff": pick.staff,
                "name": pick.staff_name or None,
                "after_note": bool(pick.note_id),
            }
        }
    return {"featured": True} if featured else {}
