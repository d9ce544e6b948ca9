"""Batch explanation throughput on UCI Adult with native categorical splits (issue 14).

The model is trained as whylens trains it: the raw Adult columns, the six string columns as
pandas categories (LightGBM's native categorical splits), 100 rounds of 31 leaves. One thread
everywhere. Rows are the raw frame as a user has it (category strings):

- whylens batch: the batch path's matrix building (category strings -> codes, via the schema)
  plus ``tree_shap`` (attributions, LightGBM's raw score and the additivity check);
- whylens on the frame: ``Explainer.explain`` on the pandas category frame (LightGBM's own
  mapping from the model text);
- pred_contrib: ``booster.predict(frame, pred_contrib=True, num_threads=1)``;
- shap: ``shap.TreeExplainer(booster).shap_values(frame)`` on one OpenMP thread.

``WHYLENS_BENCH_ROWS`` sets how many rows are explained (default 2,000; Adult has 32,561).
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from _timing import best
from bench_explain import _one_openmp_thread

from sdk import Feature, FeatureSchema
from sdk.explain import tree_shap
from sdk.explain.fast import Explainer
from sdk.models.matrix import frame_matrix, infer_categories, lightgbm_frame

ADULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "adult" / "adult.csv"
CATEGORICAL = ("workclass", "education", "marital_status", "occupation", "relationship",
               "native_country")
NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")


def _adult() -> tuple[pd.DataFrame, np.ndarray, FeatureSchema]:
    raw = pd.read_csv(ADULT, na_values="?", skipinitialspace=True)
    raw.columns = [c.replace("-", "_") for c in raw.columns]
    names = NUMERIC + CATEGORICAL
    schema = FeatureSchema(Feature(n, purpose="profiling", label=n) for n in names)
    frame = raw[list(names)]
    return frame, (raw["income_per_year"] == ">50K").to_numpy(int), infer_categories(schema, frame)


def main() -> None:
    import shap

    rows = int(os.environ.get("WHYLENS_BENCH_ROWS", "2000"))
    frame, y, schema = _adult()
    started = time.perf_counter()
    train = lightgbm_frame(schema, frame_matrix(schema, frame))
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "verbose": -1,
         "num_threads": 1, "seed": 3, "deterministic": True},
        lgb.Dataset(train, y), 100,
    )  # fmt: skip
    categorical_splits = int(np.count_nonzero(Explainer.for_booster(booster).model.flags & 1))
    print(
        f"(training on {len(frame):,} rows took {time.perf_counter() - started:.1f}s, not "
        f"measured; {categorical_splits} of the model's splits are native categorical)"
    )
    test = frame.sample(n=min(rows, len(frame)), random_state=5).reset_index(drop=True)
    as_categories = lightgbm_frame(schema, frame_matrix(schema, test))  # what a user passes lgb
    explainer = Explainer.for_booster(booster)
    tree_shap(booster, frame_matrix(schema, test.iloc[:10]))  # first call of this input shape

    def batch() -> object:
        return tree_shap(booster, frame_matrix(schema, test), explainer=explainer)

    ours = best(batch, 3)
    on_frame = best(lambda: explainer.explain(as_categories), 3)
    raw = best(lambda: booster.predict(as_categories, pred_contrib=True, num_threads=1), 2)
    with _one_openmp_thread(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # shap's note on its LightGBM output shape
        reference = shap.TreeExplainer(booster)
        via_shap = best(lambda: reference.shap_values(as_categories), 1)
    got = batch().values[:, 0, :]  # type: ignore[attr-defined]
    expected = booster.predict(as_categories, pred_contrib=True, num_threads=1)
    worst = float(np.abs(got - expected).max())
    n = len(test)
    print(f"\nAdult, {n:,} rows, 100 trees x 31 leaves, native categoricals: rows/s, one thread")
    print(f"{'path':<34} {'rows/s':>10} {'vs pred_contrib':>16}")
    for label, seconds in (
        ("whylens batch (strings -> explain)", ours),
        ("whylens Explainer on the frame", on_frame),
        ("lightgbm pred_contrib", raw),
        ("shap.TreeExplainer", via_shap),
    ):
        print(f"{label:<34} {n / seconds:>10,.0f} {raw / seconds:>15.2f}x")
    print(f"max |whylens - pred_contrib| = {worst:.2g} (must be <= 1e-9)")


if __name__ == "__main__":
    main()
