"""The feature schema: what each model input means, what it may be used for, how to show it.

Every feature names the purpose its processing needs (features whose purpose is not granted are
masked before scoring), whether it is sensitive (never named to end users), a label a person
understands, and the concept it belongs to (explanations are grouped by concept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import Field, model_validator

from ..errors import SchemaError
from ..types import Frozen

__all__ = ["Feature", "FeatureSchema"]

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
        return self


class FeatureSchema:
    """An ordered set of features: the model's input columns, in this order."""

    def __init__(self, features: Iterable[Feature]) -> None:
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
        for feature in self.features:
            if feature.concept == concept:
                return feature.concept_label or feature.label
        raise SchemaError(f"no concept named {concept!r} in this schema")

    def to_json(self) -> list[dict[str, Any]]:
        """JSON-able form (stored with every model version)."""
        return [f.model_dump(mode="json") for f in self.features]

    @classmethod
    def from_json(cls, items: list[dict[str, Any]]) -> FeatureSchema:
        """Inverse of :meth:`to_json`."""
        return cls(Feature(**item) for item in items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSchema) and self.features == other.features

    def __hash__(self) -> int:
        return hash(self.features)

    def __repr__(self) -> str:
        return f"FeatureSchema({len(self.features)} features: {', '.join(self.names[:6])}...)"
