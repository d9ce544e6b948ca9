"""Batch jobs on the ledger: the driver's side of a job, its audit records, and row proofs.

A job is prepared on the driver (:func:`prepare_job`: snapshots of the job's subjects, the
model's text and schema, in one :class:`~sdk.batch.scoring.JobPayload`), run on any engine, and
finished on the driver (:func:`finish_job`): the RFC 9162 Merkle root over every row's leaf hash,
in (partition, offset) order, goes on one ``batch.job`` record with the model, the snapshots'
positions and hashes and the row count. If asked, every row's result is recorded too, as
``batch.row`` records appended in bulk (one transaction per chunk).

``p.batch_jobs.prove(job_id, index)`` proves later that a row is part of the job: an inclusion
proof that :func:`verify_row_proof` checks offline against the root on the job record.

A row's personal numbers are sealed under the subject's key and its leaf is keyed by them
(:mod:`.rows`), so an erasure leaves the root and the proofs verifying and nothing to read.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from .._canonical import canonical_json
from ..audit.sealing import open_part
from ..errors import BatchError, BatchJobNotFound, UnknownSubject
from ..ledger import Ledger, LedgerEntry
from ..ledger.merkle import MerkleTree, verify_inclusion
from ..types import Frozen
from .rows import BatchRowRecord, RowValues, record_rows, row_id, row_key
from .scoring import LEAF_FORMAT, JobPayload

if TYPE_CHECKING:
    import pandas as pd

    from ..crypto.keyset import SubjectCipher
    from ..keys import SubjectKeys
    from ..models.registry import Model
    from .driver import Driver

__all__ = [
    "JOB_KIND",
    "ROW_KIND",
    "STREAM",
    "BatchJobRecord",
    "BatchJobs",
    "BatchRowRecord",
    "ModelRef",
    "RowProof",
    "RowValues",
    "finish_job",
    "prepare_job",
    "row_key",
    "verify_row_proof",
]

STREAM = "batch"
JOB_KIND = "batch.job"
ROW_KIND = "batch.row"

_HEX64 = r"^[0-9a-f]{64}$"


class ModelRef(Frozen):
    """The model version a job ran."""

    name: str
    version: int
    content_hash: str = Field(pattern=_HEX64)
    kind: Literal["ranker", "classifier"]


class BatchJobRecord(Frozen):
    """The ``batch.job`` ledger record of one finished job."""

    job_id: str
    engine: str
    model: ModelRef
    consent_position: int
    consent_hash: str = Field(pattern=_HEX64)
    preferences_position: int
    preferences_hash: str = Field(pattern=_HEX64)
    profiling: bool | None
    rows: int
    partitions: int
    merkle_root: str = Field(pattern=_HEX64)
    """RFC 9162 root over the rows' leaf hashes in (partition, offset) order."""
    leaf_format: str = LEAF_FORMAT
    explanation_method: str
    rows_recorded: bool
    started_at: datetime
    finished_at: datetime


class RowProof(Frozen):
    """That row ``index`` (its leaf hash) is in job ``job_id``: an RFC 9162 inclusion proof."""

    job_id: str
    index: int
    tree_size: int
    leaf_hash: str = Field(pattern=_HEX64)
    path: tuple[str, ...]
    """Base64 audit path, leaf side first."""
    merkle_root: str = Field(pattern=_HEX64)


def verify_row_proof(proof: RowProof, *, merkle_root: str, leaf_hash: str | None = None) -> bool:
    """Offline: does ``proof`` lead to ``merkle_root`` (from the job record)? With ``leaf_hash``
    (recomputed from the row with :func:`sdk.batch.scoring.result_leaf`), also that it is the
    proved leaf."""
    if leaf_hash is not None and leaf_hash != proof.leaf_hash:
        return False
    try:
        path = [base64.b64decode(p, validate=True) for p in proof.path]
        leaf, root = bytes.fromhex(proof.leaf_hash), bytes.fromhex(merkle_root)
    except ValueError:
        return False
    return verify_inclusion(leaf, proof.index, proof.tree_size, path, root)


# -- the driver ---------------------------------------------------------------------------------


def prepare_job(
    p: Driver,
    model: str | Model,
    subjects: Iterable[str],
    *,
    subject_column: str = "subject",
    item_column: str | None = None,
    profiling: bool | None = None,
    pseudonymous: bool = False,
) -> JobPayload:
    """The payload of a new job over ``subjects`` (subject ids, or pseudonyms when
    ``pseudonymous``): the model that may serve, and the snapshots as of the ledger's end."""
    from ..models.registry import Model
    from .snapshot import take_snapshots

    if profiling not in (None, True, False):
        raise BatchError("profiling must be True, False or None")
    m = model if isinstance(model, Model) else p.models.serving(model)
    p.models.check_signed(m)
    text = m.text if m.text is not None else m.booster.model_to_string()
    ids = sorted({str(s) for s in subjects})
    pairs = None if pseudonymous else tuple((s, p.keys.pseudonym(s)) for s in ids)
    pseudonyms = ids if pairs is None else [pseudo for _, pseudo in pairs]
    consent, preferences = take_snapshots(p, pseudonyms)
    job_id = f"job_{os.urandom(16).hex()}"
    keys = []
    for pseudo in pseudonyms:
        cipher = p.keys.cipher(pseudo, create=True)
        version = p.keys.current_version(pseudo)
        keys.append((pseudo, version, row_key(cipher, job_id, version=version).hex()))
    personal = tuple(
        sorted({f.purpose for f in m.schema if p.consent.purposes.get(f.purpose).needs_consent})
    )
    return JobPayload(
        job_id=job_id,
        model_text=text,
        card=m.card,
        feature_schema=canonical_json(m.schema.to_json()).decode(),
        consent=consent,
        preferences=preferences,
        personal_purposes=personal,
        pseudonyms=pairs,
        row_keys=tuple(keys),
        profiling=profiling,
        subject_column=subject_column,
        item_column=item_column,
    )


def finish_job(
    p: Driver,
    payload: JobPayload,
    leaves: pd.DataFrame,
    *,
    engine: str,
    started_at: datetime,
    rows: pd.DataFrame | None = None,
) -> BatchJobRecord:
    """Append the job record for the result rows' ``leaves`` (columns ``batch_part``,
    ``batch_offset``, ``leaf_hash``, any order) and, with ``rows`` (the whole result frame), one
    ``batch.row`` record per row."""
    from ..explain.treeshap import EXPLAINER

    ordered = _ordered(leaves)
    tree = MerkleTree(bytes.fromhex(h) for h in ordered["leaf_hash"].tolist())
    card = payload.card
    record = BatchJobRecord(
        job_id=payload.job_id,
        engine=engine,
        model=ModelRef(
            name=card.name, version=card.version, content_hash=card.content_hash, kind=card.kind
        ),
        consent_position=payload.consent.position,
        consent_hash=payload.consent.snapshot_hash,
        preferences_position=payload.preferences.position,
        preferences_hash=payload.preferences.snapshot_hash,
        profiling=payload.profiling,
        rows=tree.size,
        partitions=int(ordered["batch_part"].nunique()),
        merkle_root=tree.root().hex(),
        explanation_method=EXPLAINER,
        rows_recorded=rows is not None,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
    if rows is not None:
        record_rows(p.ledger, p.keys, payload, _ordered(rows))
    p.ledger.append(STREAM, JOB_KIND, record.model_dump(mode="json"))
    return record


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["batch_part", "batch_offset"], kind="stable").reset_index(drop=True)


# -- the view -----------------------------------------------------------------------------------


class BatchJobs:
    """``p.batch_jobs``: the finished batch jobs (folded from the ledger) and row proofs."""

    def __init__(self, ledger: Ledger, keys: SubjectKeys | None = None) -> None:
        self._ledger = ledger
        self._keys = keys
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[int, BatchJobRecord]] = {}
        self._last_seq = 0

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ledger entry of the ``batch`` stream."""
        if entry.kind == JOB_KIND:
            record = BatchJobRecord.model_validate(entry.data, strict=False)
            self._jobs[record.job_id] = (entry.seq, record)
        self._last_seq = max(self._last_seq, entry.seq)

    def _catch_up(self) -> None:
        with self._lock:
            for entry in self._ledger.entries(
                stream=STREAM, after_seq=self._last_seq, kinds=(JOB_KIND,)
            ):
                self.apply(entry)

    def get(self, job_id: str) -> BatchJobRecord:
        """The record of job ``job_id``."""
        self._catch_up()
        found = self._jobs.get(job_id)
        if found is None:
            raise BatchJobNotFound(f"no batch job {job_id!r} on the ledger")
        return found[1]

    def all(self) -> list[BatchJobRecord]:
        """Every finished job, oldest first."""
        self._catch_up()
        return [record for _, record in sorted(self._jobs.values(), key=lambda x: x[0])]

    def prove(
        self, job_id: str, index: int, *, leaves: pd.DataFrame | Sequence[str] | None = None
    ) -> RowProof:
        """Prove that row ``index`` (in (partition, offset) order) is part of job ``job_id``.

        The job's leaf hashes come from its ``batch.row`` records when they were recorded, else
        from ``leaves``: the result frame (or its ``leaf_hash`` column in order) kept by the
        caller. Raises :class:`~sdk.errors.BatchError` if those leaves do not lead to the root on
        the job record.
        """
        record = self.get(job_id)
        hashes = self._leaves(record, leaves)
        if not 0 <= index < len(hashes):
            raise BatchError(f"job {job_id!r} has no row {index} (it has {record.rows})")
        tree = MerkleTree(bytes.fromhex(h) for h in hashes)
        if tree.size != record.rows or tree.root().hex() != record.merkle_root:
            raise BatchError(f"the leaves given are not the rows of job {job_id!r}")
        return RowProof(
            job_id=job_id,
            index=index,
            tree_size=tree.size,
            leaf_hash=hashes[index],
            path=tuple(base64.b64encode(n).decode() for n in tree.inclusion_path(index)),
            merkle_root=record.merkle_root,
        )

    def rows(self, job_id: str) -> list[BatchRowRecord]:
        """The ``batch.row`` records of a job that recorded them, in row order."""
        return [record for _, record in self._row_entries(job_id)]

    def _row_entries(self, job_id: str) -> list[tuple[str | None, BatchRowRecord]]:
        found = [
            (e.subject, BatchRowRecord.model_validate(e.data, strict=False))
            for e in self._ledger.entries(stream=STREAM, kinds=(ROW_KIND,))
            if e.data.get("job_id") == job_id
        ]
        return sorted(found, key=lambda r: r[1].index)

    def row_values(self, job_id: str) -> list[RowValues | None]:
        """The exact scores and contributions of a job's recorded rows, in row order, opened
        with each subject's key: ``None`` for a row whose subject was erased."""
        out: list[RowValues | None] = []
        for pseudo, record in self._row_entries(job_id):
            if record.sealed is None:
                assert record.score is not None and record.model_score is not None
                out.append(
                    RowValues(
                        score=record.score,
                        model_score=record.model_score,
                        probability=record.probability,
                        contributions=record.contributions or (),
                    )
                )
                continue
            cipher = self._cipher(pseudo)
            body = open_part(
                cipher, str(pseudo), row_id(job_id, record.index), "row", record.sealed
            )
            out.append(None if body is None else RowValues.model_validate(body, strict=False))
        return out

    def row_key(self, job_id: str, pseudonym: str, *, version: int) -> bytes:
        """The row key of subject ``pseudonym`` in job ``job_id`` (data-key ``version``: the
        row's ``key_version``), to recompute a row's leaf with
        :func:`~sdk.batch.scoring.result_leaf`. Raises :class:`~sdk.errors.SubjectErased` once
        the subject was erased: then nobody can."""
        if self._keys is None:
            raise BatchError("row keys need the store's subject keys")
        return row_key(self._keys.cipher(pseudonym, create=False), job_id, version=version)

    def _cipher(self, pseudo: str | None) -> SubjectCipher | None:
        from ..errors import SubjectErased

        if self._keys is None:
            raise BatchError("opening rows needs the store's subject keys")
        if pseudo is None:
            return None
        try:
            return self._keys.cipher(pseudo, create=False)
        except (SubjectErased, UnknownSubject):
            return None

    def _leaves(
        self, record: BatchJobRecord, leaves: pd.DataFrame | Sequence[str] | None
    ) -> list[str]:
        if leaves is None:
            if not record.rows_recorded:
                raise BatchError(
                    f"job {record.job_id!r} did not record its rows; pass the result frame as "
                    "leaves="
                )
            return [r.leaf_hash for r in self.rows(record.job_id)]
        if hasattr(leaves, "columns"):
            return [str(h) for h in _ordered(leaves)["leaf_hash"].tolist()]
        return [str(h) for h in leaves]
