"""The ``batch.row`` records of a job: one row's result, its personal numbers sealed.

What a row says about the person is theirs, and must go when they are erased while the job's
root, the row records and the proofs keep verifying. So a row's Merkle leaf commits to its
numbers with an HMAC under the subject's *row key* for the job (:func:`row_key`, derived from
their data key like the keyed hashes of :mod:`sdk.audit.sealing`), and a ``batch.row`` record of
version 2 (:data:`ROW_VERSION`) seals the exact scores, probability and contributions under the
subject's data key (:func:`~sdk.audit.sealing.seal_part`), keeping in clear only the leaf hash,
the base value (the model's, not the person's), the outcome and the masked features. Version 1
rows (written before) hold them in clear and read as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..audit.sealing import keyed_hash, record_mac_key, seal_part
from ..ledger import Ledger, PendingEntry
from ..types import Frozen
from .scoring import JobPayload

if TYPE_CHECKING:
    import pandas as pd

    from ..crypto.keyset import SubjectCipher
    from ..keys import SubjectKeys

__all__ = ["ROW_VERSION", "BatchRowRecord", "RowValues", "record_rows", "row_id", "row_key"]

ROW_VERSION = 2
"""The version of the ``batch.row`` records this whylens writes (2: personal numbers sealed)."""
ROW_CHUNK = 2000
"""Per-row records per ledger transaction."""
_ROW_KEY_INFO = "whylens.batch-row-key.v1/"
_HEX64 = r"^[0-9a-f]{64}$"
_STREAM, _KIND = "batch", "batch.row"


class BatchRowRecord(Frozen):
    """A ``batch.row`` record: one row's result (subject: the pseudonym on the ledger entry).

    Version 2 keeps ``score``, ``model_score``, ``probability`` and ``contributions`` only in
    ``sealed`` (under the subject's data key; read them with ``p.batch_jobs.row_values``); they
    are ``None`` here. Version 1 records carry them in clear.
    """

    job_id: str
    index: int
    part: int
    offset: int
    leaf_hash: str = Field(pattern=_HEX64)
    base_value: float
    masked: tuple[str, ...]
    outcome: str | None = None
    version: int = 1
    key_version: int | None = None
    sealed: str | None = None
    score: float | None = None
    model_score: float | None = None
    probability: float | None = None
    contributions: tuple[float, ...] | None = None


class RowValues(Frozen):
    """The personal numbers of one recorded row, opened with the subject's key."""

    score: float
    model_score: float
    probability: float | None
    contributions: tuple[float, ...]


def row_key(cipher: SubjectCipher, job_id: str, *, version: int | None = None) -> bytes:
    """The subject's key for the leaf commitments of job ``job_id``'s rows: derived from their
    data key of ``version`` (the current one by default), so it goes when they are erased."""
    mac_key = record_mac_key(cipher, version=version)
    return bytes.fromhex(keyed_hash(mac_key, (_ROW_KEY_INFO + job_id).encode()))


def record_rows(
    ledger: Ledger, keys: SubjectKeys, payload: JobPayload, rows: pd.DataFrame
) -> None:
    from ..models.schema import FeatureSchema
    from .scoring import _loads

    names = FeatureSchema.from_json(_loads(payload.feature_schema)).names
    phi = rows[[f"phi.{n}" for n in names]].to_numpy(dtype="float64")
    records = rows.to_dict("records")
    ciphers: dict[str, SubjectCipher] = {}
    for start in range(0, len(records), ROW_CHUNK):
        chunk = []
        for i in range(start, min(start + ROW_CHUNK, len(records))):
            row = records[i]
            pseudo = str(row["pseudonym"])
            cipher = ciphers.get(pseudo)
            if cipher is None:
                cipher = ciphers[pseudo] = keys.cipher(pseudo, create=True)
            outcome = row.get("outcome")
            probability = row.get("probability")
            values = {
                "score": float(row["score"]),
                "model_score": float(row["model_score"]),
                "probability": None if probability != probability else float(probability),
                "contributions": phi[i].tolist(),
            }
            record = BatchRowRecord(
                job_id=payload.job_id,
                index=i,
                part=int(row["batch_part"]),
                offset=int(row["batch_offset"]),
                leaf_hash=str(row["leaf_hash"]),
                base_value=float(row["base_value"]),
                outcome=None if outcome is None or outcome != outcome else str(outcome),
                masked=tuple(m for m in str(row["masked"] or "").split(",") if m),
                version=ROW_VERSION,
                key_version=int(row["key_version"]),
                sealed=seal_part(cipher, pseudo, row_id(payload.job_id, i), "row", values),
            )
            chunk.append(
                PendingEntry(
                    _STREAM,
                    _KIND,
                    record.model_dump(mode="json", exclude_none=True),
                    subject=pseudo,
                )
            )
        ledger.append_many(chunk)


def row_id(job_id: str, index: int) -> str:
    return f"{job_id}/{index}"
