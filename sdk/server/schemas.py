"""Request and response bodies of the JSON API that ``sdk.types`` does not already define."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from ..access.tokens import Role
from ..consent.tcf.apply import TcfOutcome
from ..keys import MAX_SUBJECT_ID_LENGTH
from ..types import ConsentReceipt, ConsentState, ExportManifest, Frozen, VerifyReport

__all__ = [
    "ApproveRequest",
    "ConsentChange",
    "ConsentResult",
    "ContestRequest",
    "DecideRequest",
    "ExportResult",
    "LinkRequest",
    "LinkResult",
    "OutcomeRequest",
    "OutcomeResult",
    "OverrideRequest",
    "ProtectedRequest",
    "ProtectedResult",
    "RecommendRequest",
    "VerifyResult",
]

Locale = Literal["en", "de"]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Value = float | int | str | bool | None
# One rule for a subject id wherever it arrives (body, path or form): the SDK's, with its
# invalid_subject_id error. The schema only documents the limit, so a body never fails with a
# different limit and code than a path does.
SubjectId = Annotated[str, Field(json_schema_extra={"minLength": 1,
                                                    "maxLength": MAX_SUBJECT_ID_LENGTH})]


class ConsentChange(Frozen):
    """A grant or withdrawal: purposes by id, or an IAB TCF TC string for a GVL vendor."""

    purposes: Annotated[list[Name], Field(max_length=64, default_factory=list)]
    notice: Name | None = None
    source: Annotated[str, Field(max_length=40)] | None = None
    tc_string: Annotated[str, Field(min_length=1, max_length=20000)] | None = None
    vendor_id: Annotated[int, Field(ge=1, le=65535)] | None = None
    acknowledge_gpc_conflict: bool = False
    """The person confirmed this opt-in although a Global Privacy Control signal opted them out
    (without it such a grant is ``409 gpc_conflict``)."""


class ConsentResult(Frozen):
    """What a consent route recorded, and the state after it."""

    receipts: tuple[ConsentReceipt, ...]
    tcf: TcfOutcome | None = None
    state: ConsentState


class RecommendRequest(Frozen):
    subject: SubjectId
    model: Name
    candidates: Annotated[list[dict[str, Value]], Field(min_length=1, max_length=10000)]
    k: Annotated[int, Field(ge=1, le=1000)] = 10
    locale: Locale = "en"
    item_column: Name = "item_id"


class DecideRequest(Frozen):
    subject: SubjectId
    model: Name
    features: Annotated[dict[str, float | int | str | None], Field(max_length=1000)]
    """Numbers, ``null`` for missing, and a categorical feature's category code as a string."""
    locale: Locale = "en"


class ContestRequest(Frozen):
    message: Text


class ApproveRequest(Frozen):
    note: Text | None = None


class OverrideRequest(Frozen):
    outcome: Name
    reason: Text


class LinkRequest(Frozen):
    subject: SubjectId
    decision_id: Name | None = None
    ttl_seconds: Annotated[int, Field(ge=60, le=90 * 86400)] | None = None


class LinkResult(Frozen):
    path: str
    expires_at: datetime


class FeatureInfo(Frozen):
    """One model input as a client sends it."""

    name: str
    kind: Literal["numeric", "categorical"]
    purpose: str
    categories: tuple[str, ...] | None = None
    """A categorical feature's codes, sent as strings."""


class ModelInfo(Frozen):
    """A model version: what it is and what ``/v1/decide`` or ``/v1/recommend`` take."""

    name: str
    version: int
    kind: Literal["ranker", "classifier"]
    signed_off: bool
    serving: bool
    outcomes: tuple[str, ...] | None = None
    features: tuple[FeatureInfo, ...]


class ExportRequest(Frozen):
    """Which stretch of the ledger to export, and how (all optional: everything, as JSONL)."""

    format: Literal["jsonl", "csv", "parquet"] = "jsonl"
    # not strict: JSON has no datetime type, so an RFC 3339 string is the only way to send one
    since: Annotated[AwareDatetime, Field(strict=False)] | None = None
    until: Annotated[AwareDatetime, Field(strict=False)] | None = None
    model: Name | None = None
    """Only this model's decisions and recommendations (consent entries stay, for the chain)."""

    @model_validator(mode="after")
    def _ordered(self) -> ExportRequest:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError("since is after until: the stretch to export would be empty")
        return self


class ExportResult(Frozen):
    export_id: str
    download: str
    manifest: ExportManifest


class VerifyResult(Frozen):
    audit: VerifyReport


class ProtectedRequest(Frozen):
    """A subject's protected attributes (group labels or numbers), for the fairness audit only."""

    attributes: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=64)], str | bool | int | float],
        Field(min_length=1, max_length=64),
    ]


class ProtectedResult(Frozen):
    names: tuple[str, ...]
    """The attribute names stored (their values are kept encrypted under the subject's key)."""


class OutcomeRequest(Frozen):
    actual: Name
    """What really happened, as one of the classifier's outcomes (e.g. the loan was repaid)."""


class OutcomeResult(Frozen):
    decision_id: str
    actual: str
    seq: int
    """The ledger entry that holds it."""


class TokenInfo(Frozen):
    role: Role
    name: str
