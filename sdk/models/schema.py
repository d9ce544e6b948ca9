"""The feature schema: what each model input means, what it may be used for, how to show it.

Every feature names the purpose its processing needs (features whose purpose is not granted are
masked before scoring), whether it is sensitive (never named to end users), a label a person
understands, and the concept it belongs to (explanations are grouped by concept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import Field, model_validator

from ..errors import SchemaError
from ..types import Frozen

__all__ = ["Concept", "Direction", "Feature", "FeatureSchema"]

Direction = Literal["increase", "decrease", "either"]

_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class Feature(Frozen):
    """One model input.

    ``Feature("recent_outdoor_views", purpose="personalization",
    label="your recent outdoor browsing", concept="browsing")``
    """

    name: str = Field(pattern=_NAME)
    purpose: str = Field(min_length=1)
    label: str = Field(min_length=1, max_length=200)
    """What an end user reads, e.g. "your recent outdoor browsing"."""
    concept: str = Field(default="", max_length=64)
    """Group for explanations; defaults to the feature name."""
    concept_label: str | None = None
    """End-user label of the concept; defaults to the label of its first feature."""
    reviewer_label: str | None = None
    """What a reviewer reads; defaults to the end-user label."""
    translations: dict[str, str] = Field(default_factory=dict)
    """End-user label per locale other than English, e.g. ``{"de": "Ihr Alter"}``."""
    sensitive: bool = False
    actionable: bool = False
    """The person can change this value (used for "what would change this")."""
    direction: Direction = "either"
    """For an actionable feature: which way the person can move it."""
    min_value: float | None = None
    """For an actionable feature: the lowest value a suggested change may use."""
    max_value: float | None = None
    """For an actionable feature: the highest value a suggested change may use."""
    step: float | None = Field(default=None, gt=0)
    """For an actionable feature: suggested values are multiples of this (1 for counts)."""

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    def label_for(self, locale: str) -> str:
        """The end-user label in ``locale`` (English when there is no translation)."""
        return self.translations.get(locale, self.label)

    @model_validator(mode="after")
    def _default_concept(self) -> Feature:
        if not self.concept:
            object.__setattr__(self, "concept", self.name)
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValueError(f"feature {self.name!r}: min_value is above max_value")
        return self


class Concept(Frozen):
    """A human concept that groups features, e.g. "your recent outdoor browsing".

    A concept's contribution is the sum of its features' (exact: SHAP values add up). Fields left
    out are derived from the concept's features by :class:`FeatureSchema`.
    """

    name: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=200)
    """What an end user reads; defaults to the first feature's concept label or label."""
    reviewer_label: str = Field(default="", max_length=200)
    """What a reviewer reads; defaults to the end-user label."""
    purpose: str = ""
    """The purpose its processing needs; defaults to its features' (the first, when mixed)."""
    description: str = Field(default="", max_length=500)
    """One sentence for the model logic card: what this concept is about."""
    sensitive: bool | None = None
    """Never named to end users; defaults to true if any of its features is sensitive."""
    controllable: bool | None = None
    """The person can change it; defaults to true if any of its features is actionable."""
    translations: dict[str, str] = Field(default_factory=dict)
    """End-user label per locale other than English."""

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    def label_for(self, locale: str) -> str:
        """The end-user label in ``locale`` (English when there is no translation)."""
        return self.translations.get(locale, self.label)


class FeatureSchema:
    """An ordered set of features: the model's input columns, in this order."""

    def __init__(
        self, features: Iterable[Feature], concepts: Iterable[Concept] | None = None
    ) -> None:
        items = tuple(features)
        if not items:
            raise SchemaError("a feature schema needs at least one feature")
        for feature in items:
            if not isinstance(feature, Feature):
                raise SchemaError(
                    f"feature schema items must be Feature objects, got {type(feature).__name__}"
                )
        names = [f.name for f in items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(f"duplicate feature names in schema: {', '.join(duplicates)}")
        self.features = items
        self.names: tuple[str, ...] = tuple(names)
        self._by_name = {f.name: f for f in items}
        self._index = {n: i for i, n in enumerate(names)}
        self.declared_concepts: tuple[Concept, ...] = tuple(concepts or ())
        self.concepts: tuple[Concept, ...] = _derive_concepts(items, self.declared_concepts)
        self._concepts = {c.name: c for c in self.concepts}

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, name: str) -> Feature:
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaError(f"no feature named {name!r} in this schema") from None

    def index(self, name: str) -> int:
        """Column position of ``name``."""
        return self._index[name]

    @property
    def purposes(self) -> tuple[str, ...]:
        """The purposes the features need, sorted."""
        return tuple(sorted({f.purpose for f in self.features}))

    def features_for(self, purpose: str) -> tuple[str, ...]:
        """Names of the features that need ``purpose``."""
        return tuple(f.name for f in self.features if f.purpose == purpose)

    def concept_label(self, concept: str) -> str:
        """End-user label of a concept."""
        return self.concept(concept).label

    def concept(self, name: str) -> Concept:
        """The concept called ``name`` (declared, or derived from its features)."""
        try:
            return self._concepts[name]
        except KeyError:
            raise SchemaError(f"no concept named {name!r} in this schema") from None

    def concept_of(self, feature: str) -> Concept:
        """The concept a feature belongs to."""
        return self._concepts[self[feature].concept]

    def members(self, concept: str) -> tuple[str, ...]:
        """Names of the features in ``concept``, in column order."""
        return tuple(f.name for f in self.features if f.concept == concept)

    def to_json(self) -> list[dict[str, Any]] | dict[str, Any]:
        """JSON-able form (stored with every model version).

        A list of features when no concept is declared (the original form), else
        ``{"features": [...], "concepts": [...]}``.
        """
        features = [f.model_dump(mode="json") for f in self.features]
        if not self.declared_concepts:
            return features
        return {
            "features": features,
            "concepts": [c.model_dump(mode="json") for c in self.declared_concepts],
        }

    @classmethod
    def from_json(cls, items: list[dict[str, Any]] | dict[str, Any]) -> FeatureSchema:
        """Inverse of :meth:`to_json`."""
        if isinstance(items, dict):
            return cls(
                (Feature(**item) for item in items["features"]),
                (Concept(**item) for item in items.get("concepts", ())),
            )
        return cls(Feature(**item) for item in items)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FeatureSchema)
            and self.features == other.features
            and self.concepts == other.concepts
        )

    def __hash__(self) -> int:
        return hash((self.features, self.concepts))

    def __repr__(self) -> str:
        return f"FeatureSchema({len(self.features)} features: {', '.join(self.names[:6])}...)"


def _derive_concepts(
    features: tuple[Feature, ...], declared: tuple[Concept, ...]
) -> tuple[Concept, ...]:
    """Every concept the features name, in order of first use, with defaults filled in."""
    by_name: dict[str, Concept] = {}
    for concept in declared:
        if not isinstance(concept, Concept):
            raise SchemaError(
                f"concepts must be Concept objects, got {type(concept).__name__}"
            )
        if concept.name in by_name:
            raise SchemaError(f"concept {concept.name!r} is declared twice")
        by_name[concept.name] = concept
    groups: dict[str, list[Feature]] = {}
    for feature in features:
        groups.setdefault(feature.concept, []).append(feature)
    unused = sorted(set(by_name) - set(groups))
    if unused:
        raise SchemaError(f"declared concepts with no feature: {', '.join(unused)}")
    out = []
    for name, members in groups.items():
        first = members[0]
        given = by_name.get(name) or Concept(name)
        if given.purpose and given.purpose not in {f.purpose for f in members}:
            # consent is checked per feature: a concept purpose no feature needs could never
            # be enforced
            raise SchemaError(
                f"concept {name!r} names purpose {given.purpose!r}, which none of its features "
                "needs; give one of its features' purposes or leave it out"
            )
        label = given.label or first.concept_label or first.label
        translations = dict(given.translations)
        if not given.label and not first.concept_label:
            # the label is the first feature's, so its translations are the feature's too
            translations = {**first.translations, **translations}
        out.append(
            given.model_copy(
                update={
                    "label": label,
                    "reviewer_label": given.reviewer_label or first.reviewer_label or label,
                    "purpose": given.purpose or first.purpose,
                    "sensitive": bool(given.sensitive) or any(f.sensitive for f in members),
                    "controllable": (
                        given.controllable
                        if given.controllable is not None
                        else any(f.actionable for f in members)
                    ),
                    "translations": translations,
                }
            )
        )
    return tuple(out)
