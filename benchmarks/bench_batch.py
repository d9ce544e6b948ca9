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
two cores are shared with other work, so besides wall-clock rows/s each line gives the CPU
seconds its whole process tree used and rows per CPU-second ("vs raw": that, over pred_contrib's
rows per CPU-second): the per-core figure that does not depend on how busy the machine is.
"""

from __future__ import annotations

import os
import pickle
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


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of_tree() -> float:
    """CPU seconds used so far by this process and every process it started (engine workers,
    the JVM, Spark's Python workers): a job's cost however busy the shared machine is."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def _measure(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock seconds and CPU seconds (this process tree) of one call."""
    cpu, started = _cpu_of_tree(), time.perf_counter()
    fn()
    return time.perf_counter() - started, _cpu_of_tree() - cpu


def _line(
    name: str, rows: int, measured: tuple[float, float], base: float | None
) -> tuple[float, float]:
    seconds, cpu = measured
    per_cpu = rows / cpu
    versus = f"{per_cpu / base:>7.2f}x" if base else f"{'':>8}"
    print(f"{name:<40} {rows:>9,} {seconds:>8.1f}s {rows / seconds:>10,.0f} {cpu:>8.1f}s "
          f"{per_cpu:>10,.0f} {versus}")
    return rows / seconds, per_cpu


def _dask(p: Personalizer, rows: pd.DataFrame, workers: int) -> tuple[float, float] | None:
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
        measured = _measure(lambda: on_dask.score(ddf, p, model="adult"))
    return measured


def _spark(p: Personalizer, rows: pd.DataFrame, workers: int) -> tuple[float, float] | None:
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
        measured = _measure(lambda: on_spark.score(sdf, p, model="adult").frame.unpersist())
    finally:
        spark.stop()
    return measured


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        p, rows, schema = _world(Path(folder))
        model = p.models.get("adult")
        sample = rows.iloc[: min(ROWS, BASELINE_ROWS)]
        x = np.ascontiguousarray(sample[list(schema.names)].to_numpy(dtype=np.float64))
        print(f"UCI Adult x{ROWS / 32561:.1f} = {ROWS:,} rows, {len(schema)} features, "
              f"{model.booster.num_trees()} trees; 2 cores shared with other work")
        print(f"\n{'path':<40} {'rows':>9} {'wall':>9} {'rows/s':>10} {'CPU':>9} "
              f"{'rows/CPU-s':>10} {'vs raw':>8}")
        raw = _measure(lambda: model.booster.predict(x, pred_contrib=True, num_threads=1))
        _line("LightGBM pred_contrib, 1 thread", len(sample), raw, None)
        base = len(sample) / raw[1]
        payload = prepare_job(p, "adult", rows["subject"].tolist())
        chunks = [sample.iloc[i : i + 10_000] for i in range(0, len(sample), 10_000)]
        score_frame(chunks[0].iloc[:100], payload, part=0)
        inproc = _measure(lambda: [score_frame(c, payload, part=0) for c in chunks])
        _line("sdk.batch.score_frame, this process", len(sample), inproc, base)
        rates: dict[str, list[tuple[float, float]]] = {}
        for engine, run in (("dask", _dask), ("spark", _spark)):
            for workers in (1, 2):
                measured = run(p, rows, workers)
                if measured is None:
                    break
                label = f"{engine} job, {workers} worker{'s' if workers > 1 else ''}"
                rates.setdefault(engine, []).append(_line(label, ROWS, measured, base))
        print(f"(the payload broadcast to the workers: {len(pickle.dumps(payload)):,} bytes; "
              "rows/CPU-s counts every process of the job: driver, scheduler, workers, JVM)")
        print()
        for engine, (one, *two) in rates.items():
            if two:
                print(f"{engine}: 2 workers / 1 worker = {two[0][0] / one[0]:.2f}x wall-clock "
                      f"rows/s (goal >= 1.7x); rows per CPU-second {two[0][1] / one[1]:.2f}x "
                      "(1.0 = no work lost to the second worker)")
        p.close()


if __name__ == "__main__":
    main()
