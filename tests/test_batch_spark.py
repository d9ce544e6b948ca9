"""Batch scoring on Spark in local mode (local[2], one session for the module): mapInPandas on
Arrow batches gives the in-process batch function's and the single-request path's results row
for row, the job is recorded and its rows provable, and no Spark process holds the store open."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_world import (
    assert_no_worker_opened,
    assert_rows_equal_decide,
    assert_same_results,
    build,
    descendants,
)

from sdk import Personalizer
from sdk.batch import local, verify_row_proof

pyspark_sql = pytest.importorskip("pyspark.sql")

# one backend: what is checked here is the engine, and that no worker holds the SQLite file open
pytestmark = [
    pytest.mark.engine,
    pytest.mark.sqlite_only,
    # pyspark 4 warns that pandas 3 is new to it; what it does with it is what these tests check
    pytest.mark.filterwarnings("ignore::FutureWarning:pyspark.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning:pyspark.*"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    # the Python workers must run this interpreter (the one with whylens installed)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("whylens-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _partitions(sdf: object) -> list[object]:
    """The rows of each Spark partition, in order, as pandas frames."""
    import pandas as pd

    rows = sdf.rdd.glom().collect()  # type: ignore[attr-defined]
    columns = sdf.columns  # type: ignore[attr-defined]
    return [pd.DataFrame([r.asDict() for r in part], columns=columns) for part in rows]


def test_spark_equals_single_requests(
    spark: object, store_url: str, keyring_path: Path
) -> None:
    import sdk.batch.spark as on_spark

    with Personalizer.open(store_url, keyring=keyring_path) as p:
        world = build(p)
        names = world.credit_schema.names
        sdf = spark.createDataFrame(world.credit).coalesce(2).cache()  # type: ignore[attr-defined]
        result = on_spark.score(sdf, p, model="credit")
        got = result.frame.toPandas()
        want = local.score(_partitions(sdf), p, model="credit").frame
        # several Arrow batches per partition (64 rows each) number their rows on
        assert got.groupby("batch_part")["batch_offset"].max().tolist() == [119, 119]
        assert_same_results(got, want, names)
        assert result.job.rows == len(world.credit) and result.job.engine == "spark"
        assert p.batch_jobs.get(result.job.job_id) == result.job
        # the single-request path, for rows in every consent state
        assert_rows_equal_decide(p, world, got, (0, 1, 2, 3, 77, 238))
        proof = p.batch_jobs.prove(result.job.job_id, 131, leaves=got)
        assert verify_row_proof(proof, merkle_root=result.job.merkle_root)

        shop = spark.createDataFrame(world.shop_rows).coalesce(2).cache()  # type: ignore[attr-defined]
        ranked = on_spark.score(shop, p, model="shop", item_column="item_id", record_rows=True)
        got = ranked.frame.toPandas()
        want = local.score(_partitions(shop), p, model="shop", item_column="item_id").frame
        assert_same_results(got, want, p.models.get("shop").schema.names)
        assert len(got) == len(world.shop_rows) - 1
        for subject, frame in zip(world.shop_subjects, world.shop_frames, strict=True):
            recs = p.recommend(subject, frame.drop(columns="subject"), model="shop", k=5)
            mine = got[got["subject"] == subject].set_index("item_id")
            assert bool(mine["personalized"].iloc[0]) == recs.personalized
            for item in recs.items:
                assert mine.loc[item.item_id, "score"] == pytest.approx(
                    item.score, rel=0, abs=1e-12
                )
        proof = p.batch_jobs.prove(ranked.job.job_id, 0)
        assert verify_row_proof(proof, merkle_root=ranked.job.merkle_root)
        python_workers = [
            pid for pid in descendants(os.getpid())
            if b"pyspark" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert python_workers
        assert_no_worker_opened(Path(store_url).parent)
