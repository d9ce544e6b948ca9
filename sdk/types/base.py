"""Literal types and the base of every boundary model."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Audience = Literal["end_user", "reviewer", "auditor"]
DecisionStatus = Literal["automated", "pending_review", "approved", "overridden"]
ItemSource = Literal["personal", "popular", "exploration", "long_tail", "promoted", "staff"]
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

    def __bool__(self) -> bool:
        # a report is true only when every check passed, so `if verify_...(x):` cannot be
        # fooled by a failing report object being truthy
        return self.ok
