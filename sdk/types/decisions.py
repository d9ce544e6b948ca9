"""Decisions and recommendations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from .base import (
    DecisionStatus,
    Frozen,
    ItemSource,
)
from .human import Disclosure


class RecommendedItem(Frozen):
    """One served item with its score, where it came from and a one-line why."""

    item_id: str
    rank: int
    score: float
    source: ItemSource
    why: str
    disclosure: Disclosure | None = None
    """Automated, picked by staff or promoted, in plain words, and how to reach a person."""


class Recommendations(Frozen):
    """The answer to ``recommend``: items in order, and whether they were personalized."""

    decision_id: str
    model: str
    model_version: int
    personalized: bool
    notice: str
    """A sentence for the person about how the list was made (e.g. why it is not personalized)."""
    items: tuple[RecommendedItem, ...]
    disclosure: Disclosure | None = None
    """What made this list (an automated system, staff, promotions) and how to reach a person."""


class ReviewAction(Frozen):
    """An approval, override or contest appended to a decision's history."""

    seq: int
    action: Literal["decided", "approved", "overridden", "contested", "assessed"]
    at: datetime
    actor: str
    outcome: str | None = None
    reason: str | None = None


HELD_OUTCOME = "pending"
"""The ``outcome`` of a decision held because the consent it needs is missing: no outcome yet,
a person gives one (``automated_outcome`` is what the model said on the masked inputs, for the
reviewer only)."""


class Decision(Frozen):
    """An automated decision and its effective state, derived from the audit chain."""

    decision_id: str
    subject: str
    model: str
    model_version: int
    outcome: str
    """The effective outcome: the reviewer's, if overridden; else the model's."""
    automated_outcome: str
    score: float | None
    """The raw margin; ``None`` when read back after the person was erased (record version 3
    seals it with their inputs: the exact float is a fingerprint of them)."""
    probability: float | None
    """Like ``score``: ``None`` once the person was erased."""
    status: DecisionStatus
    contested: bool = False
    review_trigger: str | None = None
    why: str
    created_at: datetime
    history: tuple[ReviewAction, ...] = ()
    contest_result: str | None = None
    """After the person contested and a reviewer decided: the outcome of that review."""
    disclosure: Disclosure | None = None
    """Decided by an automated system, or reviewed by a person; and how to reach one."""
