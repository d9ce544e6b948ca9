"""Pydantic v2 models for the data that crosses whylens's boundary.

Every model is strict, frozen and closed (``extra="forbid"``) and exports a JSON Schema
(``Model.model_json_schema()``) for compliance tooling. Subjects appear here only as pseudonyms
(keyed HMAC of the application's subject id), never as the raw id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = [
    "Audience",
    "Change",
    "Comparison",
    "ConsentAction",
    "ConsentEvent",
    "ConsentReceipt",
    "ConsentState",
    "Counterfactual",
    "Decision",
    "DecisionStatus",
    "ErasureReceipt",
    "Explanation",
    "ExportManifest",
    "Frozen",
    "ItemSource",
    "ModelCard",
    "Notice",
    "PersonalEvent",
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
ItemSource = Literal["personal", "popular", "exploration", "long_tail", "promoted"]
PurposeStatus = Literal[
    "given",
    "withdrawn",
    "expired",
    "not_given",
    "not_required",
    "renewed",
    "refused",
    "invalidated",
    "stale",
    "objected",
]
"""Consent per purpose, after W3C DPV's ConsentStatus concepts (``given`` dpv:ConsentGiven,
``renewed`` dpv:RenewedConsentGiven, ``refused`` dpv:ConsentRefused, ``withdrawn``
dpv:ConsentWithdrawn, ``expired`` dpv:ConsentExpired, ``invalidated`` dpv:ConsentInvalidated,
``not_given`` dpv:ConsentUnknown). ``stale``: given under a notice version that has since been
replaced. ``objected``: the person objected (GDPR Art. 21) to a legitimate-interest purpose.
``not_required``: the purpose's legal basis is not consent."""

ConsentAction = Literal["grant", "withdraw", "refuse", "object", "invalidate"]


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
    """One grant, withdrawal, refusal, objection or invalidation as recorded in the ledger.

    ``at`` is when it took effect (the commit time, or the moment an imported historic event
    happened); ``recorded_at`` is when the ledger committed it.
    """

    seq: int
    subject: str
    purpose: str
    action: ConsentAction
    at: datetime
    notice: Notice | None = None
    source: str | None = None
    expires_at: datetime | None = None
    entry_hash: str
    recorded_at: datetime | None = None
    reason: str | None = None


class ConsentReceipt(Frozen):
    """What a grant or withdrawal returns: proof of what was recorded, and where in the ledger.

    Signed (Ed25519, by the keyring) and carrying the ledger entry's bytes, its RFC 9162 inclusion
    proof and the signed checkpoint it leads to, so :func:`sdk.consent.verify_receipt` checks it
    offline. ``record`` holds the ISO/IEC TS 27560 consent record fields as W3C DPV maps them;
    :func:`sdk.consent.kantara_receipt` gives the Kantara Consent Receipt v1.1 JSON view.
    ``recorded`` is false when the call changed nothing (an idempotent repeat): the receipt then
    re-issues the proof of the entry that already says so.
    """

    receipt_id: str
    subject: str
    action: ConsentAction
    purposes: tuple[str, ...]
    at: datetime
    notice: Notice | None = None
    source: str | None = None
    expires_at: datetime | None = None
    ledger_seqs: tuple[int, ...]
    entry_hashes: tuple[str, ...]
    recorded: bool = True
    record: dict[str, Any] | None = None
    entry_body: str | None = None
    inclusion_proof: tuple[str, ...] = ()
    """Base64 audit path of the entry (RFC 9162), leaf side first."""
    tree_size: int | None = None
    checkpoint: str | None = None
    """The C2SP signed note the inclusion proof leads to."""
    key_fingerprint: str | None = None
    signature: str | None = None
    """Base64 Ed25519 signature over the canonical JSON of every other field."""

    @field_serializer("at", "expires_at")
    def _fixed_time(self, ts: datetime | None) -> str | None:
        # one fixed text form (microseconds always shown), so the signed JSON round-trips
        return None if ts is None else ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ConsentState(Frozen):
    """A subject's consent to every known purpose at one moment, derived from the ledger."""

    subject: str
    as_of: datetime
    purposes: dict[str, PurposeStatus]
    based_on: tuple[int, ...] = ()
    """Ledger sequence numbers of the events that decide this state."""
    state_hash: str
    """SHA-256 of the canonical state; goes on every decision record."""
    stale_allowed: bool = False
    """The app opted in to processing on consent given under a superseded notice."""

    def allows(self, purpose: str) -> bool:
        """True if processing for ``purpose`` is authorised at ``as_of`` (unknown: False)."""
        status = self.purposes.get(purpose)
        return status in _AUTHORISING or (status == "stale" and self.stale_allowed)


_AUTHORISING = frozenset({"given", "renewed", "not_required"})


# -- models ------------------------------------------------------------------------------------


class ReviewPolicy(Frozen):
    """When a classifier's decision is held for a person to review.

    ``uncertainty_band`` is a closed interval of predicted probability: a decision whose
    probability falls inside it goes to ``pending_review``. ``provisional_outcome`` is what the
    person is told meanwhile (``None``: the model's own outcome, marked provisional).
    """

    uncertainty_band: tuple[float, float] | None = (0.4, 0.6)
    provisional_outcome: str | None = None
    adverse_outcome: str | None = None
    """Hold every decision whose automated outcome is this one (e.g. ``"declined"``)."""
    sensitive_segment: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Feature name -> closed value range: a decision whose input falls in any range is held."""
    sample_percent: float = Field(default=0.0, ge=0.0, le=100.0)
    """Share of the remaining automated decisions held at random, for quality control."""
    sample_seed: int = 0
    """Seed of the random sample: whether a decision is sampled is a keyed function of its id."""
    contest_window_days: int | None = Field(default=None, ge=1)
    """How long after a decision the person may contest it (``None``: no limit)."""
    assess_first: bool = False
    """Reviewers record their own view before the model's suggestion is shown to them."""


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
    masked_by_purpose: dict[str, int] = Field(default_factory=dict)
    """Rows kept with the features of a purpose masked (not granted at the row's time), when
    trained with ``target_purpose``."""


# -- explanations ------------------------------------------------------------------------------


class Reason(Frozen):
    """One concept's part in a score: the sum of its features' exact SHAP contributions."""

    concept: str
    label: str
    contribution: float
    features: tuple[str, ...]


class Change(Frozen):
    """One feature's value in a counterfactual: what it is, and what it would need to be."""

    feature: str
    label: str
    current: float
    proposed: float


class Counterfactual(Frozen):
    """"What would change this": the smallest change to actionable features that flips an outcome.

    Found against the model and verified by re-scoring the changed input (``score_after``).
    ``changes`` is empty and ``found`` false when no allowed change flips the outcome. Only
    features the schema marks actionable, and that are neither sensitive nor masked, are changed.
    ``cost`` is the sum of each change divided by its feature's range (fewest features first).
    """

    decision_id: str
    found: bool
    outcome: str
    """The model's outcome for the decision as made."""
    target_outcome: str
    changes: tuple[Change, ...] = ()
    score: float
    score_after: float | None = None
    cost: float | None = None
    text: str
    locale: str


class Comparison(Frozen):
    """Why item A is ranked above item B within one recommendation.

    ``contributions`` are per-feature differences of the two items' exact attributions; their sum
    equals ``score_a - score_b`` (the base value cancels). For end users only features they may
    be shown are listed, and ``other_share`` is the share of the difference not shown as a reason.
    """

    decision_id: str
    item_a: str
    item_b: str
    audience: Audience
    locale: str
    text: str
    reasons: tuple[Reason, ...]
    contributions: dict[str, float]
    score_a: float
    score_b: float
    other_share: float
    suppressed: tuple[str, ...] = ()
    additivity_residual: float | None = None


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
    counterfactual: Counterfactual | None = None
    """Set when asked for with ``explain(..., counterfactual=True)`` on a decision."""
    explainer: str | None = None
    """The explainer and its version that computed ``contributions`` (as recorded)."""
    game: str = "path-dependent"
    """The SHAP game: TreeSHAP's path-dependent (cover-weighted) conditional expectation."""
    output_space: str = "raw-margin"
    """What the contributions add up to: the raw score (log-odds for classifiers)."""

    def to_shap(self) -> Any:
        """These contributions as a one-row ``shap.Explanation`` (for shap's plots).

        Features appear in ``contributions`` order; an end-user explanation holds only the
        features that person may be shown, so its values need not add up to ``score``.
        """
        import numpy as np
        import shap

        return shap.Explanation(
            values=np.array(list(self.contributions.values()), dtype=np.float64),
            base_values=float(self.base_value),
            feature_names=list(self.contributions),
        )


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
    action: Literal["decided", "approved", "overridden", "contested", "assessed"]
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
    contest_result: str | None = None
    """After the person contested and a reviewer decided: the outcome of that review."""


# -- audit and subject rights ------------------------------------------------------------------


class ExportManifest(Frozen):
    """The signed table of contents of an audit export."""

    format: Literal["jsonl", "csv", "parquet"]
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
    selected: int = 0
    """How many audit records the records file holds (after the ``model`` filter)."""
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    checkpoint: str | None = None
    """The ledger's signed checkpoint (C2SP signed note) that bounds the export."""
    origin: str | None = None
    last_proof: dict[str, object] | None = None
    """Inclusion proof of the last exported entry in the checkpointed tree (RFC 9162)."""


class PersonalEvent(Frozen):
    """One behavioural event of a subject (``p.events``), decrypted for its reader."""

    event_id: str
    kind: str
    purpose: str
    at: datetime
    data: dict[str, object]


class SubjectExport(Frozen):
    """Everything whylens holds about one subject (GDPR Art. 15 / 20), in the clear for them."""

    subject: str
    exported_at: datetime
    consent: tuple[ConsentEvent, ...]
    profile: dict[str, object]
    decisions: tuple[Decision, ...]
    events: tuple[PersonalEvent, ...] = ()
    explanations: tuple[Explanation, ...] = ()
    """One end-user explanation per decision, in the order of ``decisions``."""


class ErasureReceipt(Frozen):
    """Proof that a subject's data key was destroyed (crypto-shredding).

    ``signature`` is Ed25519 (by the keyring's signing key, ``public_key``) over the canonical
    JSON of every other field; :func:`sdk.subjects.verify_erasure_receipt` checks it offline.
    """

    subject: str
    erased_at: datetime
    ledger_seq: int
    entry_hash: str
    fields_destroyed: int
    keys_destroyed: int = 0
    events_destroyed: int = 0
    index_entries_purged: int = 0
    public_key: str = ""
    key_fingerprint: str = ""
    signature: str = ""
