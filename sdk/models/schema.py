"""The feature schema: what each model input means, what it may be used for, how to show it.

Every feature names the purpose its processing needs (features whose purpose is not granted are
masked before scoring), whether it is sensitive (never named to end users), a label a person
understands, and the concept it belongs to (explanations are grouped by concept).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import SchemaError
from ..types import Frozen

__all__ = [
    "Concept",
    "Direction",
    "Feature",
    "FeatureKind",
    "FeatureSchema",
    "MissingTranslationWarning",
]

Direction = Literal["increase", "decrease", "either"]
FeatureKind = Literal["numeric", "categorical"]

logger = logging.getLogger(__name__)


class MissingTranslationWarning(UserWarning):
    """A label has no translation for the locale asked for; its English text is used."""


_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


def _untranslated(what: str, english: str, locale: str) -> None:
    """Warn once per (label, locale) that the English text stands in; ``what`` names the label
    by feature/concept name (schema names, never personal data)."""
    key = (what, english, locale)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    message = f"no {locale!r} translation for {what}; the English label is used"
    logger.warning(message)
    warnings.warn(message, MissingTranslationWarning, stacklevel=3)

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
    kind: FeatureKind = "numeric"
    """``"categorical"``: the value is one of ``categories`` (LightGBM native categorical
    splits); ``"numeric"``: a number."""
    categories: dict[str, str] | None = None
    """For a categorical feature: code -> what a person reads, in the model's category order,
    e.g. ``{"A151": "renting", "A152": "owner", "A153": "living rent-free"}``. Left out, they
    are taken from the training column (its pandas categories, or its sorted values)."""
    category_translations: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Per locale other than English: code -> translated category label."""
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
    targets: list[str] | None = None
    """For an actionable categorical feature: the categories a suggested change may move to
    (default: every category)."""

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    def label_for(self, locale: str) -> str:
        """The end-user label in ``locale`` (English, with a warning once, when there is no
        translation)."""
        if locale == "en":
            return self.label
        found = self.translations.get(locale)
        if found is None:
            _untranslated(f"the label of feature {self.name!r}", self.label, locale)
            return self.label
        return found

    def untranslated(self, locale: str) -> tuple[str, ...]:
        """What of this feature has no ``locale`` text: ``"label"`` and/or category codes."""
        if locale == "en":
            return ()
        out = [] if locale in self.translations else ["label"]
        table = self.category_translations.get(locale, {})
        out += [code for code in self.categories or {} if code not in table]
        return tuple(out)

    @property
    def is_categorical(self) -> bool:
        """Whether the feature takes one of a set of categories."""
        return self.kind == "categorical"

    @property
    def codes(self) -> tuple[str, ...]:
        """The category codes in model order (the model's integer code is the position)."""
        return tuple(self.categories or ())

    def category_of(self, value: float | None) -> str | None:
        """The category code a model input value (its integer code) stands for; ``None`` for
        missing, unknown or a numeric feature."""
        if not self.categories or value is None or value != value:
            return None
        index = int(value)
        codes = self.codes
        return codes[index] if index == value and 0 <= index < len(codes) else None

    def category_label(self, code: str, locale: str = "en") -> str:
        """What a person reads for category ``code`` in ``locale``."""
        assert self.categories is not None
        english = self.categories[code]
        if locale == "en":
            return english
        found = self.category_translations.get(locale, {}).get(code)
        if found is None:
            _untranslated(f"category {code!r} of feature {self.name!r}", english, locale)
            return english
        return found

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_from_pairs(cls, value: Any) -> Any:
        # the stored form is a list of [code, label] pairs: canonical JSON sorts object keys,
        # and the order of the codes is the model's category index
        if isinstance(value, (list, tuple)) and all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in value
        ):
            return {code: label for code, label in value}
        return value

    @model_validator(mode="after")
    def _default_concept(self) -> Feature:
        if not self.concept:
            object.__setattr__(self, "concept", self.name)
        if self.kind == "numeric" and self.categories is not None:
            raise ValueError(
                f"feature {self.name!r}: categories are for kind='categorical' features"
            )
        if self.categories is not None:
            if not self.categories:
                raise ValueError(f"feature {self.name!r}: categories must not be empty")
            if any(not code or not label for code, label in self.categories.items()):
                raise ValueError(f"feature {self.name!r}: empty category code or label")
            for locale, table in self.category_translations.items():
                extra = sorted(set(table) - set(self.categories))
                if extra:
                    raise ValueError(
                        f"feature {self.name!r}: {locale} translations for unknown categories "
                        f"{', '.join(extra)}"
                    )
        if self.targets is not None:
            if self.categories is None:
                raise ValueError(f"feature {self.name!r}: targets need declared categories")
            extra = sorted(set(self.targets) - set(self.categories))
            if extra:
                raise ValueError(
                    f"feature {self.name!r}: targets {', '.join(extra)} are not among its "
                    "categories"
                )
        if self.kind == "categorical" and (
            self.direction != "either"
            or self.min_value is not None
            or self.max_value is not None
            or self.step is not None
        ):
            raise ValueError(
                f"feature {self.name!r}: direction, min_value, max_value and step are for "
                "numeric features; a categorical one moves to any of its categories"
            )
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
        """The end-user label in ``locale`` (English, with a warning once, when there is no
        translation)."""
        if locale == "en":
            return self.label
        found = self.translations.get(locale)
        if found is None:
            _untranslated(f"the label of concept {self.name!r}", self.label, locale)
            return self.label
        return found


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
        self._codes = {
            f.name: {code: i for i, code in enumerate(f.codes)} for f in items if f.categories
        }
        self.declared_concepts: tuple[Concept, ...] = tuple(concepts or ())
        self.concepts: tuple[Concept, ...] = _derive_concepts(items, self.declared_concepts)
        self._concepts = {c.name: c for c in self.concepts}
        members: dict[str, list[str]] = {}
        for f in items:
            members.setdefault(f.concept, []).append(f.name)
        # asked for per concept on every explanation worded: computed once
        self._members = {concept: tuple(names) for concept, names in members.items()}

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

    def code_index(self, name: str, code: str) -> int | None:
        """The model's integer code of category ``code`` of feature ``name`` (``None`` when the
        schema does not know the category)."""
        return self._codes[name].get(code)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of the categorical features, in column order."""
        return tuple(f.name for f in self.features if f.is_categorical)

    def untranslated(self, locale: str) -> tuple[str, ...]:
        """Labels with no ``locale`` text, one entry per feature (``"housing"`` for its label,
        ``"housing (3 categories)"`` or ``"housing (label, 3 categories)"``) and
        ``"concept:NAME"`` per declared concept label."""
        out: list[str] = []
        for feature in self.features:
            parts = feature.untranslated(locale)
            categories = sum(1 for part in parts if part != "label")
            if not categories:
                out += [feature.name] if parts else []
                continue
            what = f"{categories} categories" if categories > 1 else "1 category"
            out.append(f"{feature.name} ({'label, ' if 'label' in parts else ''}{what})")
        if locale != "en":
            out += [
                f"concept:{c.name}"
                for c in self.declared_concepts
                if c.label and locale not in c.translations
            ]
        return tuple(out)

    def members(self, concept: str) -> tuple[str, ...]:
        """Names of the features in ``concept``, in column order."""
        return self._members.get(concept, ())

    def to_json(self) -> list[dict[str, Any]] | dict[str, Any]:
        """JSON-able form (stored with every model version).

        A list of features when no concept is declared (the original form), else
        ``{"features": [...], "concepts": [...]}``.
        """
        features = [_feature_json(f) for f in self.features]
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


_NEW_FIELDS: dict[str, Any] = {
    "kind": "numeric",
    "categories": None,
    "category_translations": {},
    "targets": None,
}


def _feature_json(feature: Feature) -> dict[str, Any]:
    # numeric features keep the form stored before categoricals existed
    out = feature.model_dump(mode="json")
    for key, default in _NEW_FIELDS.items():
        if out.get(key) == default:
            del out[key]
    if out.get("categories") is not None:
        out["categories"] = [[code, label] for code, label in out["categories"].items()]
    return out


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
