"""Batch scoring and explanations: a nightly job over millions of people, on Dask or Spark.

* :mod:`sdk.batch.dask` — ``score(ddf, p, model=...)`` with ``map_partitions`` on a
  ``dask.distributed`` cluster (``pip install 'whylens[dask]'``);
* :mod:`sdk.batch.spark` — ``score(sdf, p, model=...)`` with ``mapInPandas`` on Arrow batches
  (``pip install 'whylens[spark]'``);
* :mod:`sdk.batch.local` — the same in this process.

Every engine runs one per-batch function (:func:`sdk.batch.scoring.score_frame`) that masks each
row with the serving path's own :func:`sdk.models.masking.masking_plan`, from snapshots that
travel (:mod:`sdk.batch.snapshot`); the driver records the job and the Merkle root of its rows
(:mod:`sdk.batch.jobs`). Engines are imported only when their module is.
"""

from __future__ import annotations

from .jobs import (
    BatchJobRecord,
    BatchJobs,
    BatchRowRecord,
    RowProof,
    RowValues,
    row_key,
    verify_row_proof,
)
from .result import BatchResult
from .scoring import JobPayload, explain_batches, result_leaf, score_frame
from .snapshot import ConsentProfile, ConsentSnapshot, PreferenceSnapshot, take_snapshots

__all__ = [
    "BatchJobRecord",
    "BatchJobs",
    "BatchResult",
    "BatchRowRecord",
    "ConsentProfile",
    "ConsentSnapshot",
    "JobPayload",
    "PreferenceSnapshot",
    "RowProof",
    "RowValues",
    "explain_batches",
    "result_leaf",
    "row_key",
    "score_frame",
    "take_snapshots",
    "verify_row_proof",
]
