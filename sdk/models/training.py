"""Consent-aware training of LightGBM rankers and classifiers.

A row is used only if its subject had granted every purpose the schema's features need — as of the
row's own time when a time column is given, else as of now. What was left out is counted per
purpose and goes on the model card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FeatureError, SchemaError, TrainingError
from .matrix import encode_frame, infer_categories, lightgbm_frame
from .metrics import midranks, ndcg_at
from .schema import FeatureSchema

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

    from ..consent import ConsentLedger

__all__ = ["ConsentFilter", "TrainedBooster", "consented_rows", "fit"]

_DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}


@dataclass(frozen=True)
class ConsentFilter:
    """Which rows may be trained on, and why the others may not."""

    keep: np.ndarray
    left_out_by_purpose: dict[str, int]
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    """Purpose -> rows (kept) whose features of that purpose are masked."""

    @property
    def masked_by_purpose(self) -> dict[str, int]:
        return {p: int(m.sum()) for p, m in self.masks.items()}

    def apply_masks(self, data: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
        """A copy of ``data`` with each masked purpose's features missing in its masked rows."""
        if not any(m.any() for m in self.masks.values()):
            return data
        out = data.copy()
        for purpose, rows in self.masks.items():
            columns = [f.name for f in schema if f.purpose == purpose]
            for name in columns:
                # where() keeps a category column a category column (masked values missing)
                out[name] = out[name].where(~rows)
        return out

    @property
    def rows_used(self) -> int:
        return int(self.keep.sum())

    @property
    def rows_left_out(self) -> int:
        return int((~self.keep).sum())


@dataclass(frozen=True)
class TrainedBooster:
    booster: lgb.Booster
    schema: FeatureSchema
    """The schema as trained: categorical features resolved against the data."""
    params: dict[str, Any]
    metrics: dict[str, float]


def consented_rows(
    data: pd.DataFrame,
    schema: FeatureSchema,
    consent: ConsentLedger,
    *,
    subject_column: str,
    time_column: str | None,
    target_purpose: str | None = None,
) -> ConsentFilter:
    """Mark the rows whose subject had granted every purpose the features need.

    With ``target_purpose``, a row needs only that purpose (its label is processed under it);
    the features of any other purpose not granted at the row's time are masked, as serving
    masks them, and counted per purpose.
    """
    if subject_column not in data.columns:
        raise SchemaError(f"subject column {subject_column!r} is not in the data")
    if time_column is not None and time_column not in data.columns:
        raise SchemaError(f"time column {time_column!r} is not in the data")
    needed = [p for p in schema.purposes if consent.purposes.get(p).needs_consent]
    if target_purpose is not None and target_purpose not in needed:
        needed.append(target_purpose)
    subjects = data[subject_column].to_numpy()
    times = _utc_times(data[time_column]) if time_column is not None else [None] * len(data)
    keep = np.ones(len(data), dtype=bool)
    left_out = {p: 0 for p in needed}
    masks: dict[str, np.ndarray] = {}
    now = datetime.now(UTC)
    cache: dict[tuple[Any, Any], tuple[bool, ...]] = {}
    for i, (subject, at) in enumerate(zip(subjects, times, strict=True)):
        key = (subject, at)
        allowed = cache.get(key)
        if allowed is None:
            state = consent.state(str(subject), as_of=at or now)
            allowed = tuple(state.allows(p) for p in needed)
            cache[key] = allowed
        granted = dict(zip(needed, allowed, strict=True))
        if target_purpose is None:
            for purpose, ok in granted.items():
                if not ok:
                    left_out[purpose] += 1
            keep[i] = all(allowed)
        elif not granted[target_purpose]:
            left_out[target_purpose] += 1
            keep[i] = False
        else:
            for purpose, ok in granted.items():
                if not ok:
                    masks.setdefault(purpose, np.zeros(len(data), dtype=bool))[i] = True
    if target_purpose is not None:
        left_out = {target_purpose: left_out[target_purpose]}
    kept = {p: m[keep] for p, m in masks.items()}
    return ConsentFilter(keep=keep, left_out_by_purpose=left_out, masks=kept)


def _utc_times(column: pd.Series) -> list[datetime]:
    import pandas as pd

    stamps = pd.to_datetime(column, utc=True)
    return [ts.to_pydatetime() for ts in stamps]


def fit(
    *,
    kind: str,
    data: pd.DataFrame,
    schema: FeatureSchema,
    target: str,
    group: str | None,
    params: dict[str, Any] | None,
    num_boost_round: int,
    seed: int,
    holdout_fraction: float,
) -> TrainedBooster:
    """Train on ``data`` (already consent-filtered), keeping a holdout for the card's metrics."""
    import lightgbm as lgb

    if target not in data.columns:
        raise SchemaError(f"target column {target!r} is not in the data")
    merged = {**_DEFAULT_PARAMS, **(params or {}), "seed": seed}
    if merged.get("linear_tree"):
        raise TrainingError(
            "linear trees cannot be explained exactly with TreeSHAP; train without linear_tree"
        )
    if kind == "ranker":
        merged.setdefault("objective", "lambdarank")
        merged.setdefault("metric", "ndcg")
        merged.setdefault("eval_at", [5])
    else:
        merged.setdefault("objective", "binary")
    schema = infer_categories(schema, data)
    encoded = encode_frame(schema, data)
    for name in encoded.unknown:
        # a training value the schema does not declare is a schema/data mismatch, not noise
        count = int(encoded.unknown_rows[name].sum())
        raise FeatureError(
            f"categorical feature {name!r} has {count} training values that are not among its "
            "declared categories; declare them, or set them missing"
        )
    x = encoded.matrix
    y = data[target].to_numpy(dtype=np.float64)
    if np.isnan(y).any():
        raise TrainingError(f"target column {target!r} has missing values")
    if kind == "classifier" and not set(np.unique(y)) <= {0.0, 1.0}:
        raise TrainingError(f"classifier target {target!r} must be 0/1")
    rng = np.random.default_rng(seed)
    if kind == "ranker":
        assert group is not None
        groups = data[group].to_numpy()
        ids = np.unique(groups)
        holdout_ids = set(rng.permutation(ids)[: int(len(ids) * holdout_fraction)].tolist())
        is_holdout = np.array([g in holdout_ids for g in groups])
    else:
        is_holdout = rng.random(len(data)) < holdout_fraction
    train, test = ~is_holdout, is_holdout
    if train.sum() < 2 * int(merged["min_data_in_leaf"]):
        raise TrainingError(
            f"only {int(train.sum())} consented training rows; at least "
            f"{2 * int(merged['min_data_in_leaf'])} are needed"
        )
    # a pandas frame with category columns: LightGBM's native categorical splits, and its own
    # pandas_categorical mapping in the model text
    dataset = lgb.Dataset(
        lightgbm_frame(schema, x[train]),
        y[train],
        feature_name=list(schema.names),
        categorical_feature=list(schema.categorical) or "auto",
        free_raw_data=True,
        group=_group_sizes(data[group].to_numpy()[train]) if kind == "ranker" else None,
        params={"verbosity": -1},
    )
    booster = lgb.train(merged, dataset, num_boost_round=num_boost_round)
    metrics: dict[str, float] = {}
    if test.any():
        scores = np.asarray(booster.predict(x[test], raw_score=True))
        if kind == "ranker":
            metrics["ndcg@5"] = _mean_ndcg(y[test], scores, data[group].to_numpy()[test], k=5)
        else:
            metrics["auc"] = _auc(y[test], scores)
        metrics["holdout_rows"] = float(test.sum())
    return TrainedBooster(booster=booster, schema=schema, params=merged, metrics=metrics)


def _group_sizes(groups: np.ndarray) -> list[int]:
    """Sizes of runs of equal group ids; rows of a query must be contiguous."""
    sizes: list[int] = []
    seen: set[Any] = set()
    previous = object()
    for g in groups:
        if g != previous:
            if g in seen:
                raise SchemaError("rows of each query group must be contiguous; sort by the group")
            seen.add(g)
            sizes.append(0)
            previous = g
        sizes[-1] += 1
    return sizes


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties)."""
    ranks = midranks(scores) + 1
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _mean_ndcg(y: np.ndarray, scores: np.ndarray, groups: np.ndarray, *, k: int) -> float:
    """Mean NDCG@k over the queries that have a relevant item."""
    values = []
    for g in np.unique(groups):
        idx = groups == g
        rel = y[idx]
        value = ndcg_at(rel[np.argsort(-scores[idx], kind="mergesort")], rel, k)
        if value == value:
            values.append(value)
    return float(np.mean(values)) if values else float("nan")
