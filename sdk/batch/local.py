"""Batch scoring in this process: the same per-batch function and job record, no engine.

``sdk.batch.local.score(frames, p, model="credit")`` treats each frame as one partition. It is
what the engine adapters are checked against, and a way to run a small nightly job without a
cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .jobs import finish_job, prepare_job
from .result import BatchResult
from .scoring import score_frame

if TYPE_CHECKING:
    import pandas as pd

    from ..models.registry import Model
    from .driver import Driver

__all__ = ["score"]


def score(
    frames: pd.DataFrame | Iterable[pd.DataFrame],
    p: Driver,
    *,
    model: str | Model,
    subject_column: str = "subject",
    item_column: str | None = None,
    profiling: bool | None = None,
    pseudonymous: bool = False,
    record_rows: bool = False,
) -> BatchResult[pd.DataFrame]:
    """Score and explain every row of ``frames`` (one frame, or several: one partition each)
    for its subject, as serving would; the result as one pandas frame, and the job record."""
    import pandas as pd

    parts = [frames] if isinstance(frames, pd.DataFrame) else list(frames)
    started = datetime.now(UTC)
    subjects = {str(s) for frame in parts for s in frame[subject_column].tolist()}
    payload = prepare_job(
        p,
        model,
        subjects,
        subject_column=subject_column,
        item_column=item_column,
        profiling=profiling,
        pseudonymous=pseudonymous,
    )
    scored = [score_frame(frame, payload, part=i) for i, frame in enumerate(parts)]
    out = pd.concat(scored, ignore_index=True)
    record = finish_job(
        p, payload, out, engine="local", started_at=started, rows=out if record_rows else None
    )
    return BatchResult(frame=out, job=record)
