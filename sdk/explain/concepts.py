"""Grouping feature contributions into concepts, and deciding what each audience may be shown.

A concept's contribution is the sum of its features' exact SHAP values, so concept reasons add up
to the score just as feature contributions do. End users are told only about features that are
neither sensitive (themselves or through their concept) nor used under a purpose that was not
granted; everything else goes into "other factors" and is recorded as suppressed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..models.schema import FeatureSchema
from ..types import Reason

__all__ = [
    "ShownReasons",
    "concept_contributions",
    "concept_reasons",
    "end_user_reasons",
    "reviewer_reasons",
    "suppression",
]


@dataclass(frozen=True)
class ShownReasons:
    """Reasons a person may see, largest effect first, and what was held back."""

    reasons: tuple[Reason, ...]
    suppressed: tuple[str, ...]
    shown_share: float
    """Share of the total absolute attribution that the shown reasons cover."""
    why_suppressed: Mapping[str, str] = field(default_factory=dict)
    """Feature name -> why it was held back ("sensitive" or "purpose <id> not granted")."""


def suppression(schema: FeatureSchema, masked: Sequence[str]) -> dict[str, str]:
    """Features an end user may not be told about, each with the reason it is held back.

    ``masked`` names the features whose purpose was not granted at decision time; a concept
    declared with a purpose among those is held back as a whole.
    """
    hidden = set(masked)
    refused = {schema[n].purpose for n in hidden if n in schema.names}
    declared = {c.name: c.purpose for c in schema.declared_concepts if c.purpose}
    out: dict[str, str] = {}
    for feature in schema:
        concept = schema.concept_of(feature.name)
        if feature.sensitive or concept.sensitive:
            out[feature.name] = "sensitive"
        elif feature.name in hidden:
            out[feature.name] = f"purpose {feature.purpose} not granted"
        elif declared.get(concept.name) in refused:
            out[feature.name] = f"purpose {declared[concept.name]} not granted"
    return out


def concept_contributions(
    schema: FeatureSchema, contributions: Mapping[str, float]
) -> dict[str, float]:
    """Concept name -> the sum of its features' contributions, in schema order."""
    totals: dict[str, float] = {}
    for feature in schema:
        totals[feature.concept] = totals.get(feature.concept, 0.0) + contributions[feature.name]
    return totals


def end_user_reasons(
    schema: FeatureSchema,
    contributions: Mapping[str, float],
    *,
    masked: Sequence[str],
    limit: int = 3,
    positive_only: bool = False,
    locale: str = "en",
    values: Mapping[str, float | None] | None = None,
) -> ShownReasons:
    """Concept reasons built only from features an end user may be told about.

    A feature is held back when it or its concept is sensitive, or its purpose (or its concept's)
    was not granted (``masked``); its contribution goes into "other factors". With ``values``
    (the model inputs), a shown categorical feature's reason names the person's category
    ("your housing: renting").
    """
    why = suppression(schema, masked)
    totals: dict[str, float] = {}
    members: dict[str, list[str]] = {}
    for feature in schema:
        if feature.name in why:
            continue
        totals[feature.concept] = totals.get(feature.concept, 0.0) + contributions[feature.name]
        members.setdefault(feature.concept, []).append(feature.name)
    ranked = sorted(totals, key=lambda c: (-abs(totals[c]), c))
    if positive_only:
        ranked = [c for c in ranked if totals[c] > 0]
    chosen = [c for c in ranked if totals[c] != 0.0][:limit]
    reasons = tuple(
        Reason(
            concept=c,
            label=_end_user_label(schema, c, members[c], locale, values or {}),
            contribution=totals[c],
            features=tuple(members[c]),
        )
        for c in chosen
    )
    total = sum(abs(v) for v in contributions.values())
    shown = sum(abs(r.contribution) for r in reasons)
    return ShownReasons(
        reasons, tuple(why), shown / total if total > 0 else 0.0, why_suppressed=why
    )


def _end_user_label(
    schema: FeatureSchema,
    concept: str,
    shown: list[str],
    locale: str,
    values: Mapping[str, float | None],
) -> str:
    c = schema.concept(concept)
    whole = len(shown) == len(schema.members(concept))
    # a concept that mixes shown and held-back features is never described by its own label:
    # that label might describe the part that was held back
    own = c.label if locale == "en" else c.translations.get(locale)
    if whole and own is not None and _has_own_label(schema, concept):
        named = [v for v in (_valued_label(schema, n, locale, values) for n in shown) if v]
        if len(shown) > 1:
            return f"{own} ({'; '.join(named)})" if named else own
        if not named:
            return own
    labels = [
        _valued_label(schema, n, locale, values) or schema[n].label_for(locale) for n in shown
    ]
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + _AND.get(locale, " and ") + labels[-1]


def _value_of(
    schema: FeatureSchema, name: str, values: Mapping[str, float | None]
) -> str | None:
    """The category code of a categorical feature's value, when known."""
    feature = schema[name]
    return feature.category_of(values.get(name)) if feature.is_categorical else None


def _valued_label(
    schema: FeatureSchema, name: str, locale: str, values: Mapping[str, float | None]
) -> str | None:
    """"your housing: renting" for a categorical feature with a known value, else ``None``."""
    code = _value_of(schema, name, values)
    if code is None:
        return None
    feature = schema[name]
    return f"{feature.label_for(locale)}: {feature.category_label(code, locale)}"


_AND = {"en": " and ", "de": " und "}


def _has_own_label(schema: FeatureSchema, concept: str) -> bool:
    declared = any(d.name == concept and d.label for d in schema.declared_concepts)
    first = schema[schema.members(concept)[0]]
    return declared or bool(first.concept_label) or len(schema.members(concept)) == 1


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


def concept_reasons(
    schema: FeatureSchema, contributions: Mapping[str, float]
) -> tuple[Reason, ...]:
    """One reason per concept with its reviewer label, largest effect first (nothing held back)."""
    totals = concept_contributions(schema, contributions)
    ordered = sorted(totals, key=lambda c: (-abs(totals[c]), c))
    return tuple(
        Reason(
            concept=c,
            label=f"{schema.concept(c).reviewer_label}: {', '.join(schema.members(c))}"
            if _has_own_label(schema, c)
            else ", ".join(schema.members(c)),
            contribution=totals[c],
            features=schema.members(c),
        )
        for c in ordered
    )
