"""Batch scoring on a Dask cluster: ``sdk.batch.dask.score(ddf, p, model="credit")``.

Needs the ``dask`` extra: ``pip install 'whylens[dask]'`` (dask[dataframe] and distributed).
The job's payload (model text, schema, consent and preferences snapshots) is scattered to every
worker once (``broadcast=True``); each partition runs :func:`sdk.batch.scoring.score_frame`
through ``map_partitions``. The result stays on the cluster (persisted); only the rows' leaf
hashes come back to the driver, for the job's Merkle root.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .jobs import finish_job, prepare_job
from .result import BatchResult
from .scoring import JobPayload, score_frame

if TYPE_CHECKING:
    import pandas as pd

    from ..models.registry import Model
    from .driver import Driver

__all__ = ["PIP_HINT", "score"]

PIP_HINT = "pip install 'whylens[dask]'"


def _engine() -> tuple[Any, Any]:
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:
        raise ConfigurationError(
            f"batch scoring on Dask needs dask[dataframe] and distributed: {PIP_HINT}"
        ) from None
    return dd, distributed


def score(
    ddf: Any,
    p: Driver,
    *,
    model: str | Model,
    client: Any = None,
    subject_column: str = "subject",
    item_column: str | None = None,
    profiling: bool | None = None,
    pseudonymous: bool = False,
    record_rows: bool = False,
) -> BatchResult[Any]:
    """Score and explain every row of the Dask DataFrame ``ddf`` for its subject, as serving
    would, on the cluster of ``client`` (default: the current ``distributed`` client).

    ``subject_column`` holds subject ids (pseudonyms with ``pseudonymous=True``). Returns the
    persisted result frame (columns of :func:`~sdk.batch.scoring.score_frame`) and the job
    record; ``record_rows=True`` also records every row's result on the ledger (brings the
    results to the driver).
    """
    _, distributed = _engine()
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            raise ConfigurationError(
                "no Dask client: start one (distributed.Client(cluster)) or pass client="
            ) from None
    started = datetime.now(UTC)
    # distinct per partition, merged here: no shuffle
    subjects = client.compute(
        ddf[subject_column].map_partitions(_distinct, meta=(subject_column, "object"))
    ).result()
    payload = prepare_job(
        p,
        model,
        subjects.tolist(),
        subject_column=subject_column,
        item_column=item_column,
        profiling=profiling,
        pseudonymous=pseudonymous,
    )
    shipped = client.scatter(payload, broadcast=True, hash=False)
    meta = score_frame(ddf._meta, payload, part=0)
    out = ddf.map_partitions(_partition, shipped, meta=meta, enforce_metadata=False)
    out = client.persist(out)
    if record_rows:
        rows = client.compute(out).result()
        record = finish_job(
            p, payload, rows, engine="dask", started_at=started, rows=rows
        )
    else:
        leaves = client.compute(out[["batch_part", "batch_offset", "leaf_hash"]]).result()
        record = finish_job(p, payload, leaves, engine="dask", started_at=started)
    return BatchResult(frame=out, job=record)


def _partition(
    frame: pd.DataFrame, payload: JobPayload, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    part = int(partition_info["number"]) if partition_info else 0
    return score_frame(frame, payload, part=part)


def _distinct(column: pd.Series) -> pd.Series:
    return column.astype(str).drop_duplicates()
