"""Grouping feature contributions into concepts, and deciding what each audience may be shown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..models.schema import FeatureSchema
from ..types import Reason

__all__ = ["ShownReasons", "end_user_reasons", "reviewer_reasons"]


@dataclass(frozen=True)
class ShownReasons:
    """Reasons a person may see, largest effect first, and what was held back."""

    reasons: tuple[Reason, ...]
    suppressed: tuple[str, ...]
    shown_share: float
    """Share of the total absolute attribution that the shown reasons cover."""


def end_user_reasons(
    schema: FeatureSchema,
    contributions: Mapping[str, float],
    *,
    masked: Sequence[str],
    limit: int = 3,
    positive_only: bool = False,
    locale: str = "en",
) -> ShownReasons:
    """Concept reasons built only from features an end user may be told about.

    A feature is held back when it is sensitive or its purpose was not granted (``masked``);
    its contribution goes into "other factors".
    """
    hidden = set(masked)
    suppressed = tuple(f.name for f in schema if f.sensitive or f.name in hidden)
    allowed = [f for f in schema if f.name not in suppressed]
    totals: dict[str, float] = {}
    members: dict[str, list[str]] = {}
    for feature in allowed:
        totals[feature.concept] = totals.get(feature.concept, 0.0) + contributions[feature.name]
        members.setdefault(feature.concept, []).append(feature.name)
    ranked = sorted(totals, key=lambda c: (-abs(totals[c]), c))
    if positive_only:
        ranked = [c for c in ranked if totals[c] > 0]
    chosen = [c for c in ranked if totals[c] != 0.0][:limit]
    # label from the concept's first *shown* feature: a concept that mixes personal and
    # catalogue features must not be described by a personal one that was held back
    reasons = tuple(
        Reason(
            concept=c,
            label=_concept_label(schema, members[c][0], locale),
            contribution=totals[c],
            features=tuple(members[c]),
        )
        for c in chosen
    )
    total = sum(abs(v) for v in contributions.values())
    shown = sum(abs(r.contribution) for r in reasons)
    return ShownReasons(reasons, suppressed, shown / total if total > 0 else 0.0)


def _concept_label(schema: FeatureSchema, name: str, locale: str) -> str:
    feature = schema[name]
    if feature.concept_label and locale == "en":
        return feature.concept_label
    return feature.label_for(locale)


def reviewer_reasons(
    schema: FeatureSchema, contributions: Mapping[str, float]
) -> tuple[Reason, ...]:
    """One reason per feature (reviewers see everything), largest effect first."""
    ordered = sorted(schema, key=lambda f: (-abs(contributions[f.name]), f.name))
    return tuple(
        Reason(
            concept=f.concept,
            label=f.reviewer_label or f.label,
            contribution=contributions[f.name],
            features=(f.name,),
        )
        for f in ordered
    )
