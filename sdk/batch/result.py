"""What a batch job returns: the engine's result frame and the job's audit record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from .jobs import BatchJobRecord

__all__ = ["BatchResult"]

F = TypeVar("F")


@dataclass(frozen=True)
class BatchResult(Generic[F]):
    """``frame``: the results on the engine (a Dask or Spark DataFrame, or pandas in process),
    one row per scored input row; ``job``: the ``batch.job`` record appended for them."""

    frame: F
    job: BatchJobRecord
