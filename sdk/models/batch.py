"""Batch scoring and explanation over an iterator of pandas DataFrames, with consent applied.

:func:`explain_batches` has the shape every engine's pandas hook expects — an iterator of frames
in, an iterator of frames out — so the same function runs in a plain loop, in Spark's
``df.mapInPandas``, Dask's ``map_partitions`` (one frame) or Ray Data's ``map_batches``. It does
for every row what ``recommend`` does for one request before re-ranking: mask the features whose
purpose the row's subject has not granted (and every personal feature when they chose
non-profiling), score, explain with exact TreeSHAP, and apply their concept preferences. The
scores and contributions equal the single-request path's, row for row.

Consent and preferences come in as plain callables (subject -> state), so a caller can pass a
snapshot that travels to workers; :func:`score_batches` builds them from a Personalizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FeatureError
from ..explain.treeshap import tree_shap
from .matrix import frame_matrix
from .preferences import PreferenceState
from .registry import Model

if TYPE_CHECKING:
    import pandas as pd

    from ..personalizer import Personalizer
    from ..types import ConsentState

__all__ = ["explain_batches", "score_batches"]


def explain_batches(
    batches: Iterable[pd.DataFrame],
    *,
    model: Model,
    consent_of: Callable[[str], ConsentState],
    personal_purposes: Iterable[str],
    preferences_of: Callable[[str], PreferenceState] | None = None,
    subject_column: str = "subject",
    profiling: bool | None = None,
) -> Iterator[pd.DataFrame]:
    """Score and explain each frame of ``batches``; yields one frame per input frame.

    Output columns: every input column that is not a model feature, then ``score`` (the served
    score), ``model_score`` (the model's raw margin), ``base_value``, ``personalized``,
    ``masked`` (comma-separated masked features) and one ``phi.<feature>`` column per feature;
    ``base_value + sum(phi) == score`` for every row.
    """
    import pandas as pd

    schema = model.schema
    personal = set(personal_purposes)
    for frame in batches:
        if subject_column not in frame.columns:
            raise FeatureError(f"batch frames need a subject column {subject_column!r}")
        matrix = frame_matrix(schema, frame)
        subjects = [str(s) for s in frame[subject_column].tolist()]
        factors = np.ones_like(matrix)
        masked_text: list[str] = []
        personalized = np.zeros(len(frame), dtype=bool)
        plan: dict[str, tuple[np.ndarray, np.ndarray, str, bool]] = {}
        for i, subject in enumerate(subjects):
            if subject not in plan:
                plan[subject] = _plan(
                    model, consent_of(subject), preferences_of, subject, personal, profiling
                )
            drop, weights, text, is_personal = plan[subject]
            matrix[i, drop] = np.nan
            factors[i] = weights
            masked_text.append(text)
            personalized[i] = is_personal
        attributions = tree_shap(model.booster, matrix, content_hash=model.content_hash)
        weighted = attributions.phi * factors
        plain = np.all(factors == 1.0, axis=1)
        score = np.where(plain, attributions.raw, attributions.base + weighted.sum(axis=1))
        keep = [c for c in frame.columns if c not in schema.names]
        out = frame[keep].reset_index(drop=True).copy()
        out["score"] = score
        out["model_score"] = attributions.raw
        out["base_value"] = attributions.base
        out["personalized"] = personalized
        out["masked"] = masked_text
        phi = pd.DataFrame(weighted, columns=[f"phi.{n}" for n in schema.names])
        yield pd.concat([out, phi], axis=1)


def _plan(
    model: Model,
    state: ConsentState,
    preferences_of: Callable[[str], PreferenceState] | None,
    subject: str,
    personal: set[str],
    profiling: bool | None,
) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """Per subject: which columns to mask, the concept factors, and whether it is personalized
    (the same rules as ``recommend``)."""
    schema = model.schema
    prefs = preferences_of(subject) if preferences_of is not None else PreferenceState()
    non_profiling = profiling is False or (profiling is None and not prefs.profiling)
    masked = [f.name for f in schema if not state.allows(f.purpose)]
    if non_profiling:
        masked += [f.name for f in schema if f.purpose in personal and f.name not in masked]
    is_personal = not masked and any(f.purpose in personal for f in schema)
    weights = prefs.concept_weights if is_personal else {}
    factors = np.asarray([float(weights.get(f.concept, 1.0)) for f in schema])
    drop = np.asarray([schema.index(n) for n in masked], dtype=np.intp)
    return drop, factors, ",".join(masked), is_personal


def score_batches(
    p: Personalizer,
    batches: Iterable[pd.DataFrame],
    *,
    model: str | Model,
    subject_column: str = "subject",
    profiling: bool | None = None,
) -> Iterator[pd.DataFrame]:
    """:func:`explain_batches` with consent and preferences read from ``p`` (current state).

    The model must be one that may serve (signed off, unless sign-off is not required).
    """
    m = model if isinstance(model, Model) else p.models.serving(model)
    p.models.check_signed(m)
    personal = {f.purpose for f in m.schema if p.consent.purposes.get(f.purpose).needs_consent}
    return explain_batches(
        batches,
        model=m,
        consent_of=p.consent.state,
        personal_purposes=personal,
        preferences_of=p.preferences.state,
        subject_column=subject_column,
        profiling=profiling,
    )
