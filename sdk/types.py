"""Pydantic v2 models for the data that crosses whylens's boundary.

Every model is strict, frozen and closed (``extra="forbid"``) and exports a JSON Schema
(``Model.model_json_schema()``) for compliance tooling. Subjects appear here only as pseudonyms
(keyed HMAC of the application's subject id), never as the raw id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Audience",
    "ConsentEvent",
    "ConsentReceipt",
    "ConsentState",
    "Decision",
    "DecisionStatus",
    "ErasureReceipt",
    "Explanation",
    "ExportManifest",
    "Frozen",
    "ItemSource",
    "ModelCard",
    "Notice",
    "PurposeStatus",
    "Reason",
    "Recommendations",
    "RecommendedItem",
    "ReviewAction",
    "ReviewPolicy",
    "SubjectExport",
    "VerifyReport",
]

Audience = Literal["end_user", "reviewer", "auditor"]
DecisionStatus = Literal["automated", "pending_review", "approved", "overridden"]
ItemSource = Literal["personal", "popular"]
PurposeStatus = Literal["given", "withdrawn", "expired", "not_given", "not_required"]


class Frozen(BaseModel):
    """Base of every boundary model: strict, immutable, no unknown fields."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class VerifyReport(Frozen):
    """The result of checking a hash chain (the ledger, or an export).

    ``ok`` is true only if every check passed. ``first_bad`` is the sequence number of the first
    record that failed (``None`` when the problem is not one record, e.g. a missing tail);
    ``problem`` says in words what failed.
    """

    ok: bool
    checked: int
    first_bad: int | None = None
    problem: str | None = None
    head_hash: str | None = None


# -- consent -----------------------------------------------------------------------------------


class Notice(Frozen):
    """The privacy notice a person was shown when they gave consent."""

    notice_id: str = Field(min_length=1, max_length=128)
    version: str = Field(default="1", min_length=1, max_length=32)
    language: str = Field(default="en", min_length=2, max_length=16)
    text_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ConsentEvent(Frozen):
    """One grant or withdrawal as recorded in the ledger."""

    seq: int
    subject: str
    purpose: str
    action: Literal["grant", "withdraw"]
    at: datetime
    notice: Notice | None = None
    source: str | None = None
    expires_at: datetime | None = None
    entry_hash: str


class ConsentReceipt(Frozen):
    """What a grant or withdrawal returns: proof of what was recorded, and where in the ledger."""

    receipt_id: str
    subject: str
    action: Literal["grant", "withdraw"]
    purposes: tuple[str, ...]
    at: datetime
    notice: Notice | None = None
    source: str | None = None
    expires_at: datetime | None = None
    ledger_seqs: tuple[int, ...]
    entry_hashes: tuple[str, ...]


class ConsentState(Frozen):
    """A subject's consent to every known purpose at one moment, derived from the ledger."""

    subject: str
    as_of: datetime
    purposes: dict[str, PurposeStatus]
    based_on: tuple[int, ...] = ()
    """Ledger sequence numbers of the events that decide this state."""
    state_hash: str
    """SHA-256 of the canonical state; goes on every decision record."""

    def allows(self, purpose: str) -> bool:
        """True if processing for ``purpose`` is authorised at ``as_of``."""
        return self.purposes.get(purpose) in ("given", "not_required")


# -- models ------------------------------------------------------------------------------------


class ReviewPolicy(Frozen):
    """When a classifier's decision is held for a person to review.

    ``uncertainty_band`` is a closed interval of predicted probability: a decision whose
    probability falls inside it goes to ``pending_review``. ``provisional_outcome`` is what the
    person is told meanwhile (``None``: the model's own outcome, marked provisional).
    """

    uncertainty_band: tuple[float, float] | None = (0.4, 0.6)
    provisional_outcome: str | None = None


class ModelCard(Frozen):
    """What the registry knows about one trained model version."""

    name: str
    version: int
    kind: Literal["ranker", "classifier"]
    content_hash: str
    features: tuple[str, ...]
    purposes: tuple[str, ...]
    rows_used: int
    rows_left_out: int
    left_out_by_purpose: dict[str, int]
    trained_at: datetime
    metrics: dict[str, float]
    params: dict[str, str | int | float | bool]
    outcomes: tuple[str, str] | None = None
    threshold: float | None = None
    review_policy: ReviewPolicy | None = None


# -- explanations ------------------------------------------------------------------------------


class Reason(Frozen):
    """One concept's part in a score: the sum of its features' exact SHAP contributions."""

    concept: str
    label: str
    contribution: float
    features: tuple[str, ...]


class Explanation(Frozen):
    """Why a model produced a score, for one audience.

    ``contributions`` are exact TreeSHAP values in raw-margin space:
    ``sum(contributions.values()) + base_value == score`` (checked when the decision was made).
    For end users, ``contributions`` and ``reasons`` hold only features they may be shown;
    ``other_share`` is the share of the total absolute attribution not shown as a reason.
    """

    decision_id: str
    item_id: str | None = None
    audience: Audience
    locale: str
    text: str
    reasons: tuple[Reason, ...]
    contributions: dict[str, float]
    base_value: float
    score: float
    other_share: float
    suppressed: tuple[str, ...] = ()
    """Features kept out of the end-user text (sensitive or not consented); not for end users."""
    model: str
    model_version: int
    model_hash: str | None = None
    additivity_residual: float | None = None


# -- decisions ---------------------------------------------------------------------------------


class RecommendedItem(Frozen):
    """One served item with its score, where it came from and a one-line why."""

    item_id: str
    rank: int
    score: float
    source: ItemSource
    why: str


class Recommendations(Frozen):
    """The answer to ``recommend``: items in order, and whether they were personalized."""

    decision_id: str
    model: str
    model_version: int
    personalized: bool
    notice: str
    """A sentence for the person about how the list was made (e.g. why it is not personalized)."""
    items: tuple[RecommendedItem, ...]


class ReviewAction(Frozen):
    """An approval, override or contest appended to a decision's history."""

    seq: int
    action: Literal["decided", "approved", "overridden", "contested"]
    at: datetime
    actor: str
    outcome: str | None = None
    reason: str | None = None


class Decision(Frozen):
    """An automated decision and its effective state, derived from the audit chain."""

    decision_id: str
    subject: str
    model: str
    model_version: int
    outcome: str
    """The effective outcome: the reviewer's, if overridden; else the model's."""
    automated_outcome: str
    score: float
    probability: float
    status: DecisionStatus
    contested: bool = False
    review_trigger: str | None = None
    why: str
    created_at: datetime
    history: tuple[ReviewAction, ...] = ()


# -- audit and subject rights ------------------------------------------------------------------


class ExportManifest(Frozen):
    """The signed table of contents of an audit export."""

    format: Literal["jsonl"]
    created_at: datetime
    records: int
    first_seq: int | None
    last_seq: int | None
    first_prev: str
    """Hash of the entry before the first exported one (all zeros from the start)."""
    last_hash: str
    files: dict[str, str]
    """file name -> SHA-256 of its bytes"""
    ledger_size: int
    ledger_head: str
    public_key: str
    key_fingerprint: str
    signature: str


class SubjectExport(Frozen):
    """Everything whylens holds about one subject (GDPR Art. 15 / 20), in the clear for them."""

    subject: str
    exported_at: datetime
    consent: tuple[ConsentEvent, ...]
    profile: dict[str, object]
    decisions: tuple[Decision, ...]


class ErasureReceipt(Frozen):
    """Proof that a subject's data key was destroyed (crypto-shredding)."""

    subject: str
    erased_at: datetime
    ledger_seq: int
    entry_hash: str
    fields_destroyed: int
