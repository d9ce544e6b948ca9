"""The per-batch function every engine runs: a frame in, scores, outcomes and exact TreeSHAP out.

:func:`score_frame` is what Dask's ``map_partitions`` and Spark's ``mapInPandas`` call on a worker
(:func:`explain_batches` is its iterator form). All it needs travels in one :class:`JobPayload`:
the model's text and schema, the consent and preferences snapshots, the subjects' pseudonyms.
Per subject it asks :func:`sdk.models.masking.masking_plan` — the function ``recommend`` and
``decide`` use — what to mask and which concept weights apply, so a row scores exactly as a single
request would.

Every output row carries ``leaf_hash``: the RFC 9162 leaf hash of the row's result (see
:func:`result_leaf`), from which the driver builds the job's Merkle root.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from .._canonical import canonical_json
from ..errors import BatchError, FeatureError
from ..models.masking import MaskPlan, classify, masking_plan
from ..models.matrix import frame_matrix
from ..types import Frozen, ModelCard
from .snapshot import ConsentSnapshot, PreferenceSnapshot

if TYPE_CHECKING:
    import pandas as pd

    from ..models.registry import Model

__all__ = [
    "LEAF_FORMAT",
    "RESULT_COLUMNS",
    "JobPayload",
    "explain_batches",
    "result_leaf",
    "score_frame",
]

LEAF_FORMAT = "whylens.batch-row/2"
"""A row's Merkle leaf: the RFC 8785 JSON of ``job``, ``key_version``, ``masked``, ``offset``,
``outcome``, ``part``, ``subject`` (pseudonym) and ``values`` — the hex HMAC-SHA256, under the
subject's row key for the job (:func:`sdk.batch.jobs.row_key`, derived from their data key and
destroyed with it), of the float64 little-endian bytes of ``score, model_score, base_value,
phi...``. Keyed, because a plain hash of a row's numbers can be matched by anyone holding the
model who tries the person's likely inputs. (Format 1 hashed them unkeyed, with no
``key_version``.)"""

RESULT_COLUMNS = (
    "pseudonym",
    "score",
    "model_score",
    "base_value",
    "probability",
    "outcome",
    "personalized",
    "non_profiling",
    "masked",
    "key_version",
)
"""Columns every result frame has (``probability`` and ``outcome`` are empty for rankers), then
one ``phi.<feature>`` per feature, then ``batch_part``, ``batch_offset`` and ``leaf_hash``."""



class JobPayload(Frozen):
    """Everything a worker needs for one job, broadcast once: plain values, no store handles."""

    job_id: str = Field(pattern=r"^job_[0-9a-f]{32}$")
    model_text: str = Field(min_length=1)
    card: ModelCard
    feature_schema: str
    """The feature schema as canonical JSON (``FeatureSchema.to_json``)."""
    consent: ConsentSnapshot
    preferences: PreferenceSnapshot
    personal_purposes: tuple[str, ...]
    """Purposes that process a person's own data (masked under non-profiling)."""
    pseudonyms: tuple[tuple[str, str], ...] | None
    """(subject id, pseudonym) of every subject of the job; ``None`` when the subject column
    already holds pseudonyms."""
    row_keys: tuple[tuple[str, int, str], ...] = ()
    """(pseudonym, data-key version, hex row key) of every subject: the keys of the rows' leaf
    commitments (secret: the payload is for the job's workers only)."""
    profiling: bool | None = None
    subject_column: str = "subject"
    item_column: str | None = None
    """For rankers: rows whose item the person said they are not interested in are dropped."""

    @property
    def content_hash(self) -> str:
        """The model version's SHA-256 (of :attr:`model_text`)."""
        return self.card.content_hash


# -- the worker's per-process state: one model and one set of plans per job --------------------

_lock = threading.Lock()
_models: dict[str, Model] = {}
_jobs: dict[str, _JobState] = {}
_KEEP = 4


class _JobState:
    def __init__(self, payload: JobPayload) -> None:
        payload.consent.verify()
        payload.preferences.verify()
        self.lookup = dict(payload.pseudonyms) if payload.pseudonyms is not None else None
        self.consent_of = dict(payload.consent.subjects)
        self.preferences_of = dict(payload.preferences.subjects)
        self.personal = frozenset(payload.personal_purposes)
        self.plans: dict[tuple[int, int], tuple[MaskPlan, str]] = {}
        self.row_keys = {
            pseudo: (version, hmac.new(bytes.fromhex(key), digestmod=hashlib.sha256))
            for pseudo, version, key in payload.row_keys
        }
        self.job_json = canonical_json(payload.job_id).decode()


def _model(payload: JobPayload) -> Model:
    from ..explain.fast import Explainer
    from ..models.registry import Model
    from ..models.schema import FeatureSchema

    with _lock:
        cached = _models.get(payload.content_hash)
    if cached is not None:
        return cached
    import lightgbm as lgb

    text = payload.model_text
    if hashlib.sha256(text.encode()).hexdigest() != payload.content_hash:
        raise BatchError("the model text does not match the model's content hash")
    schema = FeatureSchema.from_json(_loads(payload.feature_schema))
    Explainer.from_model_string(text, content_hash=payload.content_hash)
    model = Model(
        card=payload.card, schema=schema, booster=lgb.Booster(model_str=text), text=text
    )
    with _lock:
        if len(_models) >= _KEEP:
            _models.pop(next(iter(_models)))
        _models[payload.content_hash] = model
    return model


def _job(payload: JobPayload) -> _JobState:
    with _lock:
        state = _jobs.get(payload.job_id)
    if state is None:
        state = _JobState(payload)
        with _lock:
            if len(_jobs) >= _KEEP:
                _jobs.pop(next(iter(_jobs)))
            _jobs[payload.job_id] = state
    return state


def _loads(text: str) -> Any:
    from .._canonical import loads

    return loads(text)


# -- the per-batch function ---------------------------------------------------------------------


def score_frame(
    frame: pd.DataFrame, payload: JobPayload, *, part: int, offset: int = 0
) -> pd.DataFrame:
    """Score and explain one frame of the job; rows are numbered ``offset, offset+1, ...`` in
    partition ``part``.

    Output: every input column that is not a model feature, then :data:`RESULT_COLUMNS`, one
    ``phi.<feature>`` per feature and ``batch_part``, ``batch_offset``, ``leaf_hash``;
    ``base_value + sum(phi) == score`` for every row.
    """
    import pandas as pd

    from ..explain.treeshap import tree_shap

    model, job = _model(payload), _job(payload)
    schema = model.schema
    column = payload.subject_column
    if column not in frame.columns:
        raise FeatureError(f"batch frames need a subject column {column!r}")
    subjects = frame[column].astype(str)
    pseudo = subjects.map(job.lookup) if job.lookup is not None else subjects
    if len(frame) and pseudo.isna().any():
        raise BatchError("a row's subject is not in the job's snapshot; take the snapshot again")
    codes, uniques = pd.factorize(pseudo, sort=False)
    plan_of_subject = [_plan(payload, job, schema, str(u)) for u in uniques]
    keep = _kept(frame, payload, plan_of_subject, codes)
    if keep is not None:
        frame, codes, pseudo = frame[keep], codes[keep], pseudo[keep]
    n = len(frame)
    matrix = frame_matrix(schema, frame)
    distinct: dict[int, list[int]] = {}
    for index, (plan, _) in enumerate(plan_of_subject):
        distinct.setdefault(id(plan), []).append(index)
    factors: np.ndarray | None = None
    for members in distinct.values():
        plan = plan_of_subject[members[0]][0]
        rows = np.isin(codes, members)
        if plan.masked:
            matrix[np.ix_(rows, plan.columns)] = np.nan
        if plan.factors is not None:
            if factors is None:
                factors = np.ones_like(matrix)
            factors[rows] = plan.factors
    if n:
        attributions = tree_shap(model.booster, matrix, content_hash=model.content_hash)
        raw, base, phi = attributions.raw, attributions.base, attributions.phi
    else:
        raw, base = np.empty(0), np.empty(0)
        phi = np.empty((0, len(schema)))
    score = raw
    if factors is not None:
        phi = phi * factors
        plain = np.all(factors == 1.0, axis=1)
        score = np.where(plain, raw, base + phi.sum(axis=1))
    keep_cols = [c for c in frame.columns if c not in schema.names]
    out = frame[keep_cols].reset_index(drop=True)
    out["pseudonym"] = pseudo.to_numpy()
    out["score"] = score
    out["model_score"] = raw
    out["base_value"] = base
    if model.kind == "classifier":
        labelled = [classify(model.card, float(s)) for s in raw]
        out["probability"] = np.asarray([pr for pr, _ in labelled], dtype=np.float64)
        out["outcome"] = pd.array([o for _, o in labelled], dtype=object)
    else:
        out["probability"] = np.full(n, np.nan)
        out["outcome"] = pd.array([None] * n, dtype=object)
    row_plans = [plan_of_subject[c] for c in codes]
    out["personalized"] = np.asarray([p.personalized for p, _ in row_plans], dtype=bool)
    out["non_profiling"] = np.asarray([p.non_profiling for p, _ in row_plans], dtype=bool)
    out["masked"] = [",".join(p.masked) for p, _ in row_plans]
    keyed = [_row_key(job, str(u)) for u in uniques]
    out["key_version"] = np.asarray([keyed[c][0] for c in codes], dtype=np.int64)
    phi_frame = pd.DataFrame(phi, columns=[f"phi.{name}" for name in schema.names])
    out = pd.concat([out, phi_frame], axis=1)
    out["batch_part"] = np.full(n, part, dtype=np.int64)
    out["batch_offset"] = np.arange(offset, offset + n, dtype=np.int64)
    subject_json = [_pseudonym_json(str(u)) for u in uniques]
    out["leaf_hash"] = _leaves(
        job, part, offset, out, score, raw, base, phi, row_plans,
        [subject_json[c] for c in codes], [keyed[c] for c in codes],
    )
    return out


def _row_key(job: _JobState, pseudo: str) -> tuple[int, Any]:
    found = job.row_keys.get(pseudo)
    if found is None:
        raise BatchError("a row's subject has no row key in the job; take the snapshot again")
    return found


def _plan(
    payload: JobPayload, job: _JobState, schema: Any, pseudo: str
) -> tuple[MaskPlan, str]:
    key = (job.consent_of.get(pseudo, 0), job.preferences_of.get(pseudo, 0))
    cached = job.plans.get(key)
    if cached is None:
        plan = masking_plan(
            schema,
            payload.consent.profiles[key[0]],
            payload.preferences.profiles[key[1]],
            personal_purposes=job.personal,
            profiling=payload.profiling,
        )
        cached = job.plans[key] = (plan, canonical_json(list(plan.masked)).decode())
    return cached


def _kept(
    frame: pd.DataFrame,
    payload: JobPayload,
    plans: list[tuple[MaskPlan, str]],
    codes: np.ndarray,
) -> np.ndarray | None:
    """Rows to keep: those whose item the person did not say they are not interested in."""
    if payload.item_column is None or not any(p.excluded_items for p, _ in plans):
        return None
    if payload.item_column not in frame.columns:
        raise FeatureError(f"batch frames need an item column {payload.item_column!r}")
    items = frame[payload.item_column].astype(str).to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    for code, (plan, _) in enumerate(plans):
        if plan.excluded_items:
            keep &= ~((codes == code) & np.isin(items, list(plan.excluded_items)))
    return keep


def _leaves(
    job: _JobState,
    part: int,
    offset: int,
    out: pd.DataFrame,
    score: np.ndarray,
    raw: np.ndarray,
    base: np.ndarray,
    phi: np.ndarray,
    row_plans: list[tuple[MaskPlan, str]],
    subjects: list[str],
    keys: list[tuple[int, Any]],
) -> list[str]:
    values = np.ascontiguousarray(
        np.column_stack([score, raw, base, phi]), dtype="<f8"
    )
    width = values.shape[1] * 8
    buffer = values.tobytes()
    labels: dict[Any, str] = {}
    outcomes = [
        labels[o] if o in labels else labels.setdefault(o, _json_or_null(o))
        for o in out["outcome"].tolist()
    ]
    sha = hashlib.sha256
    hashes = []
    for i in range(len(out)):
        version, mac = keys[i]
        mac = mac.copy()
        mac.update(buffer[i * width : (i + 1) * width])
        text = _TEMPLATE % (
            job.job_json,
            version,
            row_plans[i][1],
            offset + i,
            outcomes[i],
            part,
            subjects[i],
            mac.hexdigest(),
        )
        hashes.append(sha(b"\x00" + text.encode()).hexdigest())
    return hashes


_HEX32 = re.compile(r"[0-9a-f]{32}")

# keys in RFC 8785 order (sorted); every value is already canonical JSON text
_TEMPLATE = (
    '{"job":%s,"key_version":%d,"masked":%s,"offset":%d,"outcome":%s,"part":%d,"subject":%s,'
    '"values":"%s"}'
)


def _json_or_null(value: Any) -> str:
    return "null" if value is None else canonical_json(str(value)).decode()


def _pseudonym_json(pseudo: str) -> str:
    # a pseudonym is 32 hex digits, which RFC 8785 only quotes; anything else goes the long way
    return f'"{pseudo}"' if _HEX32.fullmatch(pseudo) else canonical_json(pseudo).decode()


def result_leaf(
    job_id: str, row: Mapping[str, Any], names: Iterable[str], *, key: bytes
) -> tuple[bytes, bytes]:
    """The leaf of one result row (a mapping of the result frame's columns): its RFC 8785 JSON
    and RFC 9162 leaf hash. A verifier recomputes a row's leaf with this, offline, given the
    row's ``key`` (``p.batch_jobs.row_key(job_id, pseudonym, version=row["key_version"])``,
    from the store's holder; once the subject is erased nobody can give it)."""
    from ..ledger.merkle import leaf_hash

    values = np.asarray(
        [row["score"], row["model_score"], row["base_value"], *(row[f"phi.{n}"] for n in names)],
        dtype="<f8",
    )
    outcome = row.get("outcome")
    masked = [m for m in str(row.get("masked") or "").split(",") if m]
    text = canonical_json(
        {
            "job": job_id,
            "key_version": int(row["key_version"]),
            "masked": masked,
            "offset": int(row["batch_offset"]),
            "outcome": None if outcome is None or outcome != outcome else str(outcome),
            "part": int(row["batch_part"]),
            "subject": str(row["pseudonym"]),
            "values": hmac.new(key, values.tobytes(), hashlib.sha256).hexdigest(),
        }
    )
    return text, leaf_hash(text)


def explain_batches(
    batches: Iterable[pd.DataFrame], payload: JobPayload, *, part: int = 0
) -> Iterator[pd.DataFrame]:
    """:func:`score_frame` over an iterator of frames of one partition (Spark's ``mapInPandas``
    shape); rows are numbered on across the frames."""
    offset = 0
    for frame in batches:
        out = score_frame(frame, payload, part=part, offset=offset)
        offset += len(out)
        yield out
