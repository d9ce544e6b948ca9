"""Strict (policy-level) validation of a decoded TC string.

Decoding accepts any well-formed version 2 string. Before a string is used to authorise
processing, these checks apply (TCF Policy v4+, technical specification v2.2 / v2.3):

- ``version`` is 2 and ``policy_version`` is at least 4 (TCF v2.2 and later);
- a string created on or after 2026-03-01 (that is, after 2026-02-28, the TCF v2.3 deadline)
  carries the disclosed-vendors segment;
- no legitimate-interest signal for purpose 1 or, since v2.2, purposes 3 to 6, and no publisher
  restriction that requires legitimate interest for them;
- ``last_updated`` is not before ``created`` and neither lies in the future.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ...errors import InvalidTCString
from .model import RestrictionType, TCModel

__all__ = ["DISCLOSED_VENDORS_REQUIRED_FROM", "tc_model_problems", "validate_tc_model"]

DISCLOSED_VENDORS_REQUIRED_FROM = datetime(2026, 3, 1, tzinfo=UTC)
MIN_POLICY_VERSION = 4
NO_LEGITIMATE_INTEREST = frozenset({1, 3, 4, 5, 6})
_CLOCK_SKEW = timedelta(minutes=5)


def tc_model_problems(model: TCModel, *, now: datetime | None = None) -> list[str]:
    """Every strict-validation problem of ``model`` in words (empty: the model is valid)."""
    now = now or datetime.now(UTC)
    problems = []
    if model.version != 2:
        problems.append(f"version is {model.version}, not 2")
    if model.policy_version < MIN_POLICY_VERSION:
        problems.append(
            f"policy_version is {model.policy_version}; TCF v2.2 and later need "
            f">= {MIN_POLICY_VERSION}"
        )
    if model.created >= DISCLOSED_VENDORS_REQUIRED_FROM and model.vendors_disclosed is None:
        problems.append(
            "the disclosed-vendors segment is missing; TCF v2.3 requires it in strings created "
            "after 2026-02-28"
        )
    bad_li = sorted(model.purpose_legitimate_interests & NO_LEGITIMATE_INTEREST)
    if bad_li:
        problems.append(
            f"purpose_legitimate_interests signals purposes {bad_li}, which may not rest on "
            "legitimate interest"
        )
    for r in model.publisher_restrictions:
        if r.restriction_type is RestrictionType.REQUIRE_LI and r.purpose_id in (
            NO_LEGITIMATE_INTEREST
        ):
            problems.append(
                f"a publisher restriction requires legitimate interest for purpose {r.purpose_id}"
            )
    if model.last_updated < model.created:
        problems.append("last_updated is before created")
    if model.created > now + _CLOCK_SKEW or model.last_updated > now + _CLOCK_SKEW:
        problems.append("created or last_updated lies in the future")
    return problems


def validate_tc_model(model: TCModel, *, now: datetime | None = None) -> TCModel:
    """Return ``model`` if it passes every strict check, else raise :class:`InvalidTCString`
    listing all the problems."""
    problems = tc_model_problems(model, now=now)
    if problems:
        raise InvalidTCString("TC string fails strict validation: " + "; ".join(problems))
    return model
