"""Issue 15: batch scoring and exact explanations on Dask and Spark, against LightGBM pred_contrib.

UCI Adult (categoricals as integer codes) repeated to 200,000 rows (1,000,000 with
``WHYLENS_BENCH_FULL=1``), 32,561 distinct people, 1,000 of whom consented to profiling (the
others' profiling features are masked, as serving masks them). Reported, in one run:

* LightGBM ``predict(pred_contrib=True, num_threads=1)``: raw exact TreeSHAP on one core, and
* the per-batch function (:func:`sdk.batch.score_frame`) in this process, on one core, both on
  the first 20,000 rows;
* whole jobs (``sdk.batch.dask.score`` / ``sdk.batch.spark.score``: snapshot, broadcast, score,
  explain, leaf hashes, Merkle root and the job record) with 1 and 2 workers: a
  ``dask.distributed`` LocalCluster of worker processes, and Spark ``local[1]`` / ``local[2]``.

The input is placed on the cluster first (persisted / cached), as a nightly job reads its input
where it lives; each cluster runs one small warm-up job so workers have loaded the model.
Goals: 2 workers >= 1.7x the rows/s of 1; per-core rows/s >= 3x pred_contrib's. The machine's
two cores are shared with other work: figures vary from run to run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from sdk import Feature, FeatureSchema, Personalizer
from sdk.batch import score_frame
from sdk.batch.jobs import prepare_job

ADULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "adult" / "adult.csv"
FULL = os.environ.get("WHYLENS_BENCH_FULL") == "1"
ROWS = int(os.environ.get("WHYLENS_BENCH_ROWS", 1_000_000 if FULL else 200_000))
BASELINE_ROWS = 20_000
"""pred_contrib and the in-process function run on this many rows (their rows/s is linear)."""
CONSENTED = 1_000
SERVICE = ("age", "workclass", "education", "education_num", "marital_status", "relationship",
           "native_country")
PROFILING = ("occupation", "capital_gain", "capital_loss", "hours_per_week")


def _adult() -> tuple[pd.DataFrame, FeatureSchema]:
    raw = pd.read_csv(ADULT, skipinitialspace=True)
    raw.columns = [c.replace("-", "_") for c in raw.columns]
    frame = pd.DataFrame({"subject": [f"adult-{i:05d}" for i in range(len(raw))]})
    features = []
    for name in (*SERVICE, *PROFILING):
        column = raw[name]
        if not pd.api.types.is_numeric_dtype(column):
            # integer codes until native categoricals land
            column = pd.Series(pd.Categorical(column).codes, index=raw.index)
        frame[name] = column.astype("float64")
        purpose = "service" if name in SERVICE else "profiling"
        features.append(Feature(name, purpose=purpose, label=name.replace("_", " ")))
    frame["rich"] = raw["income_per_year"].astype(str).str.startswith(">").astype("int64")
    return frame, FeatureSchema(features)


def _world(folder: Path) -> tuple[Personalizer, pd.DataFrame, FeatureSchema]:
    people, schema = _adult()
    p = Personalizer.open(folder / "bench.db")
    for subject in people["subject"].iloc[:CONSENTED]:
        p.consent.grant(subject, "profiling")
    p.models.train_classifier(
        "adult", people, schema, target="rich", outcomes=("<=50K", ">50K"),
        target_purpose="service", num_boost_round=100,
    )
    p.models.sign_off("adult", 1, reviewer="bench")
    rows = people.iloc[np.arange(ROWS) % len(people)].reset_index(drop=True)
    return p, rows, schema


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _line(name: str, rows: int, seconds: float, base: float | None, cores: int) -> float:
    rate = rows / seconds
    versus = f"{rate / cores / base:>7.2f}x" if base else f"{'':>8}"
    print(f"{name:<46} {rows:>9,} {seconds:>8.2f}s {rate:>12,.0f} {rate / cores:>12,.0f} {versus}")
    return rate


def _dask(p: Personalizer, rows: pd.DataFrame, workers: int) -> float | None:
    try:
        import dask.dataframe as dd
        import distributed

        import sdk.batch.dask as on_dask
    except ImportError:
        print("dask not installed: pip install 'whylens[dask]'")
        return None
    with distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, worker_dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        warm = client.persist(dd.from_pandas(rows.iloc[:2000], npartitions=workers))
        on_dask.score(warm, p, model="adult")
        ddf = client.persist(dd.from_pandas(rows, npartitions=4 * workers))
        distributed.wait(ddf)
        seconds = _seconds(lambda: on_dask.score(ddf, p, model="adult"))
    return seconds


def _spark(p: Personalizer, rows: pd.DataFrame, workers: int) -> float | None:
    try:
        from pyspark.sql import SparkSession

        import sdk.batch.spark as on_spark
    except ImportError:
        print("pyspark not installed: pip install 'whylens[spark]'")
        return None
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master(f"local[{workers}]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        warm = spark.createDataFrame(rows.iloc[:2000]).repartition(workers).cache()
        on_spark.score(warm, p, model="adult")
        sdf = spark.createDataFrame(rows).repartition(4 * workers).cache()
        sdf.count()
        seconds = _seconds(lambda: on_spark.score(sdf, p, model="adult").frame.unpersist())
    finally:
        spark.stop()
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        p, rows, schema = _world(Path(folder))
        model = p.models.get("adult")
        sample = rows.iloc[: min(ROWS, BASELINE_ROWS)]
        x = np.ascontiguousarray(sample[list(schema.names)].to_numpy(dtype=np.float64))
        print(f"UCI Adult x{ROWS / 32561:.1f} = {ROWS:,} rows, {len(schema)} features, "
              f"{model.booster.num_trees()} trees; 2 cores shared with other work")
        print(f"\n{'path':<46} {'rows':>9} {'time':>9} {'rows/s':>12} {'per core':>12} "
              f"{'vs raw':>8}")
        raw = _seconds(lambda: model.booster.predict(x, pred_contrib=True, num_threads=1))
        base = _line("LightGBM pred_contrib, 1 thread", len(sample), raw, None, 1)
        payload = prepare_job(p, "adult", sample["subject"].tolist())
        chunks = [sample.iloc[i : i + 10_000] for i in range(0, len(sample), 10_000)]
        score_frame(chunks[0].iloc[:100], payload, part=0)
        inproc = _seconds(lambda: [score_frame(c, payload, part=0) for c in chunks])
        _line("sdk.batch.score_frame, this process", len(sample), inproc, base, 1)
        rates: dict[str, list[float]] = {}
        for engine, run in (("dask", _dask), ("spark", _spark)):
            for workers in (1, 2):
                seconds = run(p, rows, workers)
                if seconds is None:
                    break
                label = f"{engine} job, {workers} worker{'s' if workers > 1 else ''}"
                rates.setdefault(engine, []).append(_line(label, ROWS, seconds, base, workers))
        print()
        for engine, (one, *two) in rates.items():
            if two:
                print(f"{engine}: 2 workers / 1 worker = {two[0] / one:.2f}x (goal >= 1.7x); "
                      f"per core vs pred_contrib = {one / base:.2f}x (goal >= 3x)")
        p.close()


if __name__ == "__main__":
    main()
