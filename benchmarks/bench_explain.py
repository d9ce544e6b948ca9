"""Exact explanations: whylens's explainer against raw LightGBM ``pred_contrib``, plain ``predict``,
shap and, when it is installed, ``fasttreeshap-fixed`` v2 (issues 7 and 17).

``fasttreeshap-fixed`` is not a dependency: ``pip install fasttreeshap-fixed`` to see its figures
(the bench says so and skips them when it is missing). Issue 17's goals are printed as ratios with
pass/fail: at least 5x fasttreeshap v2 throughput on every shape, at most 40x a plain ``predict``
of the same rows at 255 leaves. Timings are CPU time of this one-threaded process
(``time.process_time``), which other processes on a shared machine disturb less than wall time;
the load average is printed beside them.

One thread everywhere (``num_threads=1``; shap's LightGBM path is held to one OpenMP thread with
threadpoolctl). Models of 100 and 500 trees with 31 and 255 leaves on 40 synthetic features (the
100-tree models are the first 100 trees of the 500-tree ones). whylens's figure is the full
``tree_shap`` call: explanation, LightGBM's raw score and the additivity check. The one-off
per-model-version precomputation (parsing, Fast TreeSHAP v2 tables) is reported separately.

Batch: 10,000 rows for the 100 x 31 model; fewer rows for the bigger models so that the bench
stays within about a minute (the table says how many). Single row: p50 and p99 over repeated
calls on cycling rows; with few repetitions p99 is close to the maximum.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import lightgbm as lgb
import numpy as np
from _timing import goal

from sdk.explain import tree_shap
from sdk.explain.fast import Explainer

FEATURES = 40
TRAIN_ROWS = 4000
# (trees, leaves) -> (batch rows, single-row repetitions)
CASES = {
    (100, 31): (10_000, 400),
    (500, 31): (1_000, 200),
    (100, 255): (500, 100),
    (500, 255): (100, 40),
}


@contextlib.contextmanager
def _one_openmp_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the figures then say shap used LightGBM's default threads
        yield
        return
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    x[rng.random(x.shape) < 0.03] = np.nan
    signal = np.nansum(x[:, :8] * x[:, 8:16], axis=1) + np.nan_to_num(x[:, 16]) ** 2
    y = (signal + rng.normal(scale=2.0, size=rows) > 1.0).astype(int)
    return x, y


def _models() -> dict[tuple[int, int], lgb.Booster]:
    x, y = _data(TRAIN_ROWS, seed=1)
    models = {}
    for leaves in (31, 255):
        params = {
            "objective": "binary", "num_leaves": leaves, "learning_rate": 0.05,
            "min_data_in_leaf": 5, "max_bin": 63, "verbose": -1, "num_threads": 2, "seed": 3,
            "bagging_fraction": 0.7, "bagging_freq": 1, "feature_fraction": 0.7,
        }  # fmt: skip
        trained = lgb.train(params, lgb.Dataset(x, y), 100)
        text = trained.model_to_string()
        models[(100, leaves)] = lgb.Booster(model_str=text)
        models[(500, leaves)] = lgb.Booster(model_str=_repeat_trees(text, 5))
    return models


def _repeat_trees(text: str, times: int) -> str:
    """The model text with its trees repeated: the same work per tree as distinct trees."""
    head, _, rest = text.partition("\nTree=0\n")
    body, end, tail = ("Tree=0\n" + rest).partition("end of trees")
    blocks = ["Tree=" + b for b in body.split("Tree=")[1:]]
    count = len(blocks)
    out = []
    for copy in range(times):
        for index, block in enumerate(blocks):
            out.append(block.replace(f"Tree={index}\n", f"Tree={copy * count + index}\n", 1))
    header = "\n".join(line for line in head.splitlines() if not line.startswith("tree_sizes="))
    return header + "\n\n" + "".join(out) + end + tail


def _seconds(fn: Callable[[], object], rounds: int = 1) -> float:
    """CPU seconds of the fastest of ``rounds`` calls (one thread: CPU time is its time)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _fasttreeshap() -> Any | None:
    try:
        return importlib.import_module("fasttreeshap_fixed")
    except ImportError:
        return None


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _latencies(fn: Callable[[np.ndarray], object], rows: np.ndarray, reps: int) -> np.ndarray:
    for i in range(min(5, reps)):
        fn(rows[i : i + 1])
    times = np.empty(reps)
    for i in range(reps):
        row = rows[i % len(rows) : i % len(rows) + 1]
        start = time.perf_counter()
        fn(row)
        times[i] = time.perf_counter() - start
    return times


def main() -> None:
    import shap

    started = time.perf_counter()
    models = _models()
    print(
        f"(training took {time.perf_counter() - started:.1f}s, not measured; 500-tree models are "
        "the 100 trained trees repeated 5 times)"
    )
    test, _ = _data(10_000, seed=2)
    fts = _fasttreeshap()
    if fts is None:
        print(
            "fasttreeshap-fixed is not installed: its columns are skipped "
            "(pip install fasttreeshap-fixed to measure it; it is not a dependency)"
        )
    print(
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on "
        f"{os.cpu_count()} cores"
    )
    batch_rows: list[str] = []
    single_rows: list[str] = []
    goal_rows: list[str] = []
    for (trees, leaves), (rows, reps) in CASES.items():
        booster = models[(trees, leaves)]
        x = test[:rows]
        setup = _seconds(lambda b=booster: Explainer.for_booster(b))
        explainer = Explainer.for_booster(booster)
        tree_shap(booster, x[:10])  # first call of this input shape
        ours = _seconds(lambda b=booster, x=x: tree_shap(b, x))
        engine = _seconds(lambda e=explainer, x=x: e.explain(x), 3)
        plain = _seconds(lambda b=booster, x=x: b.predict(x, raw_score=True, num_threads=1), 3)
        raw = _seconds(lambda b=booster, x=x: b.predict(x, pred_contrib=True, num_threads=1))
        v2 = v2_err = float("nan")
        exact = booster.predict(x, pred_contrib=True, num_threads=1)[:, :-1]
        if fts is not None:
            peer = fts.TreeExplainer(booster, algorithm="v2", n_jobs=1)
            peer.shap_values(x[:10], check_additivity=False)
            v2 = _seconds(lambda p=peer, x=x: p.shap_values(x, check_additivity=False))
            # its own additivity check fails on these rows (NaN), so say how far it is
            v2_err = float(np.abs(peer.shap_values(x, check_additivity=False) - exact).max())
        versus = v2 / engine
        ours_err = float(np.abs(explainer.explain(x)[0][:, 0, :-1] - exact).max())
        cost = engine / plain
        goal(f"explain vs fasttreeshap v2, {trees} trees x {leaves} leaves", versus, 5)
        if leaves == 255:
            goal(f"explain / predict, {trees} trees x {leaves} leaves", cost, 40, at_least=False)
        goal_rows.append(
            f"{trees:>5} {leaves:>6} {rows:>6} {rows / engine:>9,.0f} "
            + (
                f"{rows / v2:>9,.0f} {versus:>6.1f}x {_verdict(versus >= 5):>5}"
                if fts
                else f"{'-':>9} {'-':>7} {'skip':>5}"
            )
            + f" {rows / plain:>10,.0f} {cost:>7.1f}x "
            + (f"{_verdict(cost <= 40):>5}" if leaves == 255 else f"{'-':>5}")
            + f" {ours_err:>8.1e} {v2_err:>8.1e}"
        )
        with _one_openmp_thread():
            reference = shap.TreeExplainer(booster)
            via_shap = _seconds(lambda r=reference, x=x: r.shap_values(x))
        batch_rows.append(
            f"{trees:>5} {leaves:>6} {rows:>6} {rows / ours:>10,.0f} {rows / raw:>12,.0f} "
            f"{rows / via_shap:>9,.0f} {raw / ours:>8.1f}x {via_shap / ours:>8.1f}x "
            f"{setup:>7.2f}s {explainer.table_bytes / 2**20:>6.1f}MB "
            f"{explainer.linear_bytes / 2**20:>6.1f}MB "
            f"{explainer.linear_trees / trees:>6.0%}"
        )
        ours_t = _latencies(lambda r, b=booster: tree_shap(b, r), test, reps)
        raw_t = _latencies(
            lambda r, b=booster: b.predict(r, pred_contrib=True, num_threads=1), test, reps
        )
        o50, o99 = np.percentile(ours_t, [50, 99]) * 1e3
        r50, r99 = np.percentile(raw_t, [50, 99]) * 1e3
        single_rows.append(
            f"{trees:>5} {leaves:>6} {reps:>5} {o50:>9.3f} {o99:>9.3f} {r50:>11.3f} "
            f"{r99:>11.3f} {o50 / r50:>8.2f}x"
        )
    print("\nbatch explanation, rows/s on one thread (ratio: whylens throughput / baseline)")
    print(
        f"{'trees':>5} {'leaves':>6} {'rows':>6} {'whylens':>10} {'pred_contrib':>12} "
        f"{'shap':>9} {'vs lgbm':>9} {'vs shap':>9} {'setup':>8} {'tables':>8} {'linear':>8} "
        f"{'lin.trees':>9}"
    )
    print("\n".join(batch_rows))
    print("setup = one-off per model version (parse, v2 tables, Linear TreeSHAP edge factors);")
    print("tables / linear = their memory; lin.trees = share of trees on Linear TreeSHAP (their v2")
    print("tables would not fit the budget). Goal: >= 2x pred_contrib and shap.")
    print("\nissue 17 goals, rows/s on one thread (whylens = Explainer.explain: attributions and")
    print("raw margin; v2 = fasttreeshap-fixed TreeExplainer(algorithm='v2', n_jobs=1))")
    print(
        f"{'trees':>5} {'leaves':>6} {'rows':>6} {'whylens':>9} {'v2':>9} {'ratio':>7} {'>=5x':>5} "
        f"{'predict':>10} {'cost':>8} {'<=40x':>5} {'err':>8} {'v2 err':>8}"
    )
    print("\n".join(goal_rows))
    print("ratio = whylens throughput / fasttreeshap v2 throughput (goal >= 5x on every shape);")
    print("cost = explain time / plain predict(raw_score) time of the same rows (goal <= 40x at")
    print("255 leaves); err = largest |attribution - pred_contrib| over the rows, ours and v2's.")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("\nsingle-row explanation latency, ms (ratio: whylens p50 / pred_contrib p50)")
    print(
        f"{'trees':>5} {'leaves':>6} {'reps':>5} {'p50':>9} {'p99':>9} {'lgbm p50':>11} "
        f"{'lgbm p99':>11} {'ratio':>9}"
    )
    print("\n".join(single_rows))
    print(
        "whylens = tree_shap(booster, row): attributions + LightGBM raw score + additivity check;"
    )
    print("lgbm = booster.predict(row, pred_contrib=True, num_threads=1). Goal: ratio <= 0.5x.")


if __name__ == "__main__":
    main()
