"""Typed records of the ``audit`` stream: what serving writes and what views, reviews and
explanations read back.

Serving builds a :class:`DecisionRecord` or :class:`RecommendationRecord` and appends its JSON;
review actions are :class:`ReviewRecord` entries naming the decision. Readers validate the stored
JSON as it is (:func:`decision_record`, :func:`recommendation_record`, :func:`review_record`), so
entries written before a field existed still read: every field added later has a default.
Nothing here is personal in clear: inputs and contest messages are ciphertexts (base64) bound to
the subject, the record and the field. Since record version 2 (``version``), so are the exact
contributions and the reviewers' notes and reasons (``sealed``, see :mod:`sdk.audit.sealing`), and
the hashes of inputs and texts are keyed by the subject's own key. Since record version 3 every
personal value of a decision or recommendation (inputs, exact score and probability, item scores
and propensities, contributions, residuals, the shadow candidate's figures) is in one sealed part
(:class:`SealedDecision`, :class:`SealedListing`); the clear record keeps only what an audit needs
without the person. Version 1 entries (no ``version`` field) and version 2 entries still read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ..ledger import LedgerEntry
from ..types import DecisionStatus, ItemSource

__all__ = [
    "ConsentRecord",
    "DecisionExplanation",
    "DecisionOutput",
    "DecisionRecord",
    "ItemRecord",
    "ModelRef",
    "PickRef",
    "RecommendationRecord",
    "RecordHead",
    "ReviewRecord",
    "SealedDecision",
    "SealedItem",
    "SealedListing",
    "decision_record",
    "recommendation_record",
    "record_head",
    "review_record",
]


class _Record(BaseModel):
    # closed and frozen like the boundary types; lax only in reading JSON (lists for tuples)
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelRef(_Record):
    """The exact model version a record was made by."""

    name: str
    version: int
    content_hash: str
    kind: str


class ConsentEntryRef(_Record):
    """One consent ledger entry a decision's consent state rests on."""

    seq: int
    hash: str


class ConsentRecord(_Record):
    """The consent a record was made under: the state's hash, the entries it rests on, the
    features masked for ungranted purposes, and (decisions) what the model needed."""

    state_hash: str
    based_on: list[int]
    masked: list[str]
    entries: list[ConsentEntryRef] = []
    authorised_by: int | None = None
    notice: dict[str, Any] | None = None
    needed: list[str] = []
    """Purposes the model's policy says an automated decision needs."""
    missing: list[str] = []
    """Those of them not granted: the decision was held (or refused) for them."""


class DecisionOutput(_Record):
    """The model's output and what was served.

    From record version 3 ``score`` and ``probability`` are ``None`` here (sealed in
    :class:`SealedDecision`: the exact float is a fingerprint of the inputs), and an
    ``uncertainty_band`` trigger names the band without the probability."""

    score: float | None = None
    probability: float | None = None
    outcome: str
    provisional_outcome: str | None = None
    status: DecisionStatus = "automated"
    trigger: str | None = None


class DecisionExplanation(_Record):
    """Exact attributions of the decision: ``sum(contributions) + base_value == score``.

    From record version 2 ``contributions`` is empty here: they are sealed in the record's
    ``sealed`` part under the subject's key; from version 3 so is ``residual`` (``None`` here).
    ``base_value`` is the model's expected value, the same for everyone."""

    contributions: list[float]
    base_value: float
    residual: float | None = None


class DecisionRecord(_Record):
    """A ``decision`` entry."""

    version: int = 1
    """Record version: 1 (no field) for entries of earlier releases, 2 with sealed parts."""
    decision_id: str
    purpose: str = "profiling"
    model: ModelRef
    consent: ConsentRecord
    inputs: dict[str, str] = {}
    """Versions 1 and 2: each input encrypted on its own; version 3: empty (sealed)."""
    feature_mac: str
    """HMAC-SHA256 of the exact feature vector; version 2 under the subject's record key."""
    output: DecisionOutput
    shadow: dict[str, Any] | None = None
    """Version 3: only the shadow candidate's ``version`` and ``content_hash`` (its figures are
    sealed)."""
    explanation_method: str | None = None
    explanation: DecisionExplanation
    shown_text_sha256: str
    """Hash of the text shown; version 2: HMAC-SHA256 under the subject's record key."""
    locale: str = "en"
    unknown_categories: tuple[str, ...] = ()
    """Categorical features whose value was not one of their categories (scored as missing);
    names only, never the value."""
    sealed: str | None = None
    """Version 2: ``{"contributions": [...]}`` under the subject's key (base64); version 3: a
    :class:`SealedDecision`."""


class SealedDecision(_Record):
    """Record version 3: every personal value of a decision, in one AEAD part under the
    subject's key. Inputs in schema order, ``None`` for a missing value."""

    inputs: dict[str, float | None]
    score: float
    probability: float
    contributions: list[float]
    residual: float
    trigger: str | None = None
    """The review trigger as the policy wrote it (with the exact probability)."""
    shadow: dict[str, Any] | None = None
    unknown_categories: tuple[str, ...] = ()


class SealedItem(_Record):
    """Record version 3: the personal values of one served item."""

    inputs: dict[str, float | None]
    score: float
    model_score: float | None = None
    propensity: float | None = None
    contributions: list[float]
    residual: float
    unknown_categories: tuple[str, ...] = ()


class SealedListing(_Record):
    """Record version 3: the personal values of a recommendation, items in record order."""

    items: list[SealedItem]
    shadow: dict[str, Any] | None = None


class PickRef(_Record):
    """Which staff pick placed an item, as its why needs it."""

    pick_id: str
    staff: str
    name: str | None = None
    after_note: bool = False


class ItemRecord(_Record):
    """One served item of a ``recommendation`` entry."""

    item_id: str
    rank: int
    score: float | None = None
    """Versions 1 and 2; ``None`` from version 3 (sealed with ``model_score``, ``propensity``,
    ``inputs``, ``residual`` and ``unknown_categories`` in :class:`SealedItem`)."""
    model_score: float | None = None
    source: ItemSource | None = None
    propensity: float | None = None
    inputs: dict[str, str] = {}
    contributions: list[float] = []
    base_value: float
    residual: float | None = None
    why_sha256: str
    unknown_categories: tuple[str, ...] = ()
    """Categorical features of this item whose value was not one of their categories."""
    pick: PickRef | None = None
    """Set when a member of staff picked this item for the person (the why names them)."""
    featured: bool = False
    """Promoted by a staff decision (``curation.feature``), not by a paid rule."""


class RecommendationRecord(_Record):
    """A ``recommendation`` entry."""

    version: int = 1
    """Record version (see :class:`DecisionRecord`)."""
    decision_id: str
    purpose: str = "personalization"
    model: ModelRef
    consent: ConsentRecord
    personalized: bool
    profiling: bool = True
    candidates: int
    scored: int | None = None
    k: int
    context_sha256: str | None = None
    rules: list[dict[str, Any]] = []
    preferences: dict[str, Any] | None = None
    rerank: dict[str, Any] | None = None
    shadow: dict[str, Any] | None = None
    curation: dict[str, int] | None = None
    """Candidates blocked shop-wide, staff picks placed, whether featured items were present."""
    explanation_method: str | None = None
    items: list[ItemRecord]
    notice_sha256: str
    locale: str = "en"
    sealed: str | None = None
    """Version 2: ``{"items": [[contributions], ...]}`` in item order, under the subject's key;
    the items' own ``contributions`` are then empty and ``why_sha256`` is keyed. Version 3: a
    :class:`SealedListing`."""

    def item(self, item_id: str | None) -> ItemRecord | None:
        """The served item ``item_id`` (the first one for ``None``), or None."""
        return next((i for i in self.items if item_id in (None, i.item_id)), None)


class ReviewRecord(_Record):
    """A ``review.*`` entry (assess, approve, override, contest) or an ``outcome.actual``."""

    version: int = 1
    """Record version (see :class:`DecisionRecord`); version 2 seals ``note`` and ``reason``."""
    decision_id: str
    model: str
    reviewer: str | None = None
    outcome: str | None = None
    note: str | None = None
    reason: str | None = None
    message: str | None = None
    """The person's contest message, encrypted under their key."""
    actual: str | None = None
    sealed: str | None = None
    """Version 2: ``{"note": ..., "reason": ...}`` under the subject's key (base64)."""


class RecordHead(BaseModel):
    """What the audit index folds of a decision or recommendation entry: its id, model and
    output (the rest is read when a view needs it, so folding a long log stays cheap)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    decision_id: str
    model: ModelRef
    output: DecisionOutput | None = None


def record_head(entry: LedgerEntry) -> RecordHead:
    """The :class:`RecordHead` of a ``decision`` or ``recommendation`` entry."""
    return RecordHead.model_validate(entry.data)


def decision_record(entry: LedgerEntry) -> DecisionRecord:
    """The typed record of a ``decision`` entry (as stored; older entries read too)."""
    return DecisionRecord.model_validate(entry.data)


def recommendation_record(entry: LedgerEntry) -> RecommendationRecord:
    """The typed record of a ``recommendation`` entry."""
    return RecommendationRecord.model_validate(entry.data)


def review_record(entry: LedgerEntry) -> ReviewRecord:
    """The typed record of a review action or true-outcome entry."""
    return ReviewRecord.model_validate(entry.data)
