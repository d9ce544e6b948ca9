"""Batch scoring on Spark: ``sdk.batch.spark.score(sdf, p, model="credit")``.

Needs the ``spark`` extra: ``pip install 'whylens[spark]'`` (pyspark; Java 17). The job's
payload is a Spark broadcast variable, sent to each executor once; every partition runs
:func:`sdk.batch.scoring.explain_batches` through ``mapInPandas`` on Arrow record batches
(``spark.sql.execution.arrow.maxRecordsPerBatch`` rows each). The result is cached on the
cluster; only the rows' leaf hashes come back to the driver, for the job's Merkle root.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .jobs import finish_job, prepare_job
from .result import BatchResult
from .scoring import RESULT_COLUMNS, JobPayload, explain_batches

if TYPE_CHECKING:
    import pandas as pd

    from ..models.registry import Model
    from .driver import Driver

__all__ = ["PIP_HINT", "result_schema", "score"]

PIP_HINT = "pip install 'whylens[spark]'"

_STRINGS = {"pseudonym", "outcome", "masked"}
_BOOLS = {"personalized", "non_profiling"}
_LONGS = {"key_version"}


def _engine() -> Any:
    try:
        import pyspark.sql.types as T
    except ImportError:
        raise ConfigurationError(f"batch scoring on Spark needs pyspark: {PIP_HINT}") from None
    return T


def result_schema(input_schema: Any, payload: JobPayload) -> Any:
    """The Spark schema of the result: the input's non-feature columns, then the result's."""
    from ..models.schema import FeatureSchema
    from .scoring import _loads

    T = _engine()
    names = FeatureSchema.from_json(_loads(payload.feature_schema)).names
    fields = [f for f in input_schema.fields if f.name not in names]
    for column in RESULT_COLUMNS:
        kind = (
            T.StringType() if column in _STRINGS else
            T.BooleanType() if column in _BOOLS else
            T.LongType() if column in _LONGS else T.DoubleType()
        )
        fields.append(T.StructField(column, kind, True))
    fields += [T.StructField(f"phi.{n}", T.DoubleType(), True) for n in names]
    fields += [
        T.StructField("batch_part", T.LongType(), False),
        T.StructField("batch_offset", T.LongType(), False),
        T.StructField("leaf_hash", T.StringType(), False),
    ]
    return T.StructType(fields)


def _distinct(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    import pandas as pd

    seen: set[str] = set()
    for batch in batches:
        seen.update(batch["subject"].tolist())
    yield pd.DataFrame({"subject": sorted(seen)})


def score(
    sdf: Any,
    p: Driver,
    *,
    model: str | Model,
    subject_column: str = "subject",
    item_column: str | None = None,
    profiling: bool | None = None,
    pseudonymous: bool = False,
    record_rows: bool = False,
) -> BatchResult[Any]:
    """Score and explain every row of the Spark DataFrame ``sdf`` for its subject, as serving
    would. Same arguments and result as :func:`sdk.batch.dask.score`; the result frame is
    cached."""
    T = _engine()
    from pyspark.sql import functions as F

    started = datetime.now(UTC)
    # distinct per partition, merged here: no shuffle (and no spark.sql.shuffle.partitions tasks)
    column = sdf.select(F.col(subject_column).cast("string").alias("subject"))
    subjects = column.mapInPandas(
        _distinct, schema=T.StructType([T.StructField("subject", T.StringType(), True)])
    ).toPandas()["subject"].unique().tolist()
    payload = prepare_job(
        p,
        model,
        subjects,
        subject_column=subject_column,
        item_column=item_column,
        profiling=profiling,
        pseudonymous=pseudonymous,
    )
    shipped = sdf.sparkSession.sparkContext.broadcast(payload)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        context = TaskContext.get()
        part = context.partitionId() if context is not None else 0
        yield from explain_batches(batches, shipped.value, part=part)

    out = sdf.mapInPandas(run, schema=result_schema(sdf.schema, payload)).cache()
    try:
        if record_rows:
            rows = out.toPandas()
            record = finish_job(p, payload, rows, engine="spark", started_at=started, rows=rows)
        else:
            leaves = out.select("batch_part", "batch_offset", "leaf_hash").toPandas()
            record = finish_job(p, payload, leaves, engine="spark", started_at=started)
    finally:
        shipped.unpersist()
    return BatchResult(frame=out, job=record)
