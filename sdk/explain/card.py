"""The model logic card: what a model uses, for what, how much each part counts, what a person
can do.

Meant for GDPR Art. 15(1)(h) ("meaningful information about the logic involved", as read by the
CJEU in C-203/22: the procedure and principles actually applied, in a way the person can
understand) and for DSA Art. 27 (the main parameters of a recommender system, their relative
importance, and the options to change them). Generated from the model and its schema; global
importance is the mean absolute exact SHAP value of each concept over a reference set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from ..errors import ExplanationError
from ..types import Frozen
from .treeshap import EXPLAINER, tree_shap

if TYPE_CHECKING:
    import pandas as pd

    from ..consent import PurposeCatalog
    from ..models.registry import Model

__all__ = ["ConceptImportance", "LogicCard", "PurposeUse", "logic_card"]


class ConceptImportance(Frozen):
    """One concept's weight in the model over the reference set."""

    concept: str
    label: str
    reviewer_label: str
    description: str
    purpose: str
    sensitive: bool
    controllable: bool
    features: tuple[str, ...]
    mean_abs_shap: float
    share: float = Field(ge=0.0, le=1.0)
    """Share of the total mean absolute attribution (all concepts add up to 1)."""


class PurposeUse(Frozen):
    """A purpose the model's inputs are processed for, and what happens without consent."""

    purpose: str
    name: str
    legal_basis: str
    description: str
    needs_consent: bool
    concepts: tuple[str, ...]
    """End-user labels of the concepts processed under this purpose."""


class LogicCard(Frozen):
    """Meaningful information about the logic of one model version (Markdown and JSON)."""

    model: str
    version: int
    kind: str
    content_hash: str
    trained_at: datetime
    explainer: str
    reference_rows: int
    outcomes: tuple[str, str] | None = None
    threshold: float | None = None
    review_band: tuple[float, float] | None = None
    concepts: tuple[ConceptImportance, ...]
    purposes: tuple[PurposeUse, ...]
    person_can_change: tuple[str, ...]
    """Things the person can do or change, in plain words."""

    def to_json(self) -> dict[str, Any]:
        """The card as JSON-able data (``json.dumps(card.to_json())``)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data

    def to_markdown(self) -> str:
        """The card as Markdown, for a web page or a subject access reply."""
        kind = "automated decision" if self.kind == "classifier" else "ranking of items"
        lines = [
            f"# How {self.model} works (version {self.version})",
            "",
            f"This model makes an **{kind}**. It is a LightGBM tree model "
            f"(content hash `{self.content_hash[:16]}…`, trained {self.trained_at:%Y-%m-%d}).",
        ]
        if self.outcomes and self.threshold is not None:
            lines.append(
                f"It answers **{self.outcomes[1]}** when the predicted probability is at least "
                f"{self.threshold:g}, else **{self.outcomes[0]}**."
            )
        if self.review_band:
            lo, hi = self.review_band
            lines.append(
                f"When the probability is between {lo:g} and {hi:g}, a person reviews the "
                "decision before it counts."
            )
        lines += [
            "",
            "## What counts, and how much",
            "",
            f"Share of the model's effect, measured as the mean absolute exact SHAP value on "
            f"{self.reference_rows} reference rows ({self.explainer}).",
            "",
            "| what | share | purpose | you can change it | sensitive |",
            "|---|---:|---|---|---|",
        ]
        for c in self.concepts:
            lines.append(
                f"| {c.label} | {c.share:.0%} | {c.purpose} | {_yes(c.controllable)} | "
                f"{_yes(c.sensitive)} |"
            )
        lines += ["", "## Data used, and for what", ""]
        for p in self.purposes:
            consent = "needs your consent" if p.needs_consent else f"legal basis: {p.legal_basis}"
            lines.append(f"- **{p.name}** ({consent}): {p.description} Uses: "
                         f"{', '.join(p.concepts)}.")
        if any(c.sensitive for c in self.concepts):
            lines.append(
                "- Sensitive data marked above is used by the model but never named in an "
                "individual explanation; its effect is reported as \"other factors\"."
            )
        lines += ["", "## What you can do", ""]
        lines += [f"- {item}" for item in self.person_can_change]
        return "\n".join(lines) + "\n"

    def json_text(self) -> str:
        """The JSON form as text (sorted keys, two-space indent)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def logic_card(
    model: Model,
    reference: pd.DataFrame | np.ndarray,
    *,
    purposes: PurposeCatalog | None = None,
) -> LogicCard:
    """Build the logic card of ``model`` from a reference set (rows with the schema's columns)."""
    schema = model.schema
    matrix = _matrix(model, reference)
    if matrix.shape[0] == 0:
        raise ExplanationError("the reference set is empty; give at least one row")
    phi = tree_shap(model.booster, matrix).phi
    totals: dict[str, float] = {}
    for concept in schema.concepts:
        columns = [schema.index(n) for n in schema.members(concept.name)]
        totals[concept.name] = float(np.abs(phi[:, columns].sum(axis=1)).mean())
    grand = sum(totals.values()) or 1.0
    concepts = tuple(
        sorted(
            (
                ConceptImportance(
                    concept=c.name,
                    label=c.label,
                    reviewer_label=c.reviewer_label,
                    description=c.description,
                    purpose=c.purpose,
                    sensitive=bool(c.sensitive),
                    controllable=bool(c.controllable),
                    features=schema.members(c.name),
                    mean_abs_shap=totals[c.name],
                    share=min(1.0, totals[c.name] / grand),
                )
                for c in schema.concepts
            ),
            key=lambda c: (-c.mean_abs_shap, c.concept),
        )
    )
    uses = _purposes(model, purposes, concepts)
    card = model.card
    policy = card.review_policy
    return LogicCard(
        model=model.name,
        version=model.version,
        kind=model.kind,
        content_hash=model.content_hash,
        trained_at=card.trained_at,
        explainer=EXPLAINER,
        reference_rows=int(matrix.shape[0]),
        outcomes=card.outcomes,
        threshold=card.threshold,
        review_band=policy.uncertainty_band if policy else None,
        concepts=concepts,
        purposes=uses,
        person_can_change=_actions(model, concepts, uses),
    )


def _matrix(model: Model, reference: Any) -> np.ndarray:
    from ..models.matrix import frame_matrix

    if isinstance(reference, np.ndarray):
        if reference.ndim != 2 or reference.shape[1] != len(model.schema):
            raise ExplanationError(
                f"reference matrix must have {len(model.schema)} columns in schema order"
            )
        return reference.astype(np.float64, copy=False)
    return frame_matrix(model.schema, reference)


def _purposes(
    model: Model, catalog: PurposeCatalog | None, concepts: tuple[ConceptImportance, ...]
) -> tuple[PurposeUse, ...]:
    from ..consent import PurposeCatalog

    catalog = catalog or PurposeCatalog()
    by_purpose: dict[str, list[str]] = {}
    for feature in model.schema:
        labels = by_purpose.setdefault(feature.purpose, [])
        label = model.schema.concept_of(feature.name).label
        if label not in labels:
            labels.append(label)
    out = []
    for pid in sorted(by_purpose):
        p = catalog.get(pid)
        out.append(
            PurposeUse(
                purpose=pid,
                name=p.name,
                legal_basis=p.legal_basis,
                description=p.description,
                needs_consent=p.needs_consent,
                concepts=tuple(by_purpose[pid]),
            )
        )
    return tuple(out)


def _actions(
    model: Model, concepts: tuple[ConceptImportance, ...], uses: tuple[PurposeUse, ...]
) -> tuple[str, ...]:
    out = [
        f"You can influence {c.label} ({c.share:.0%} of the model's effect)."
        for c in concepts
        if c.controllable and not c.sensitive
    ]
    way = {"increase": "raising", "decrease": "lowering", "either": "changing"}
    moves = [
        f"{way[f.direction]} {f.label}"
        for f in model.schema
        if f.actionable and not f.sensitive and not model.schema.concept_of(f.name).sensitive
    ]
    if moves and model.kind == "classifier":
        out.append(
            "Ask what would change a decision. whylens only ever suggests these changes: "
            f"{', '.join(moves)}."
        )
    for use in uses:
        if use.needs_consent:
            out.append(
                f"Withdraw your consent to \"{use.name}\" at any time; the model then no longer "
                "uses the data listed for it above."
            )
    if model.kind == "classifier":
        out.append("Ask for a person to review any decision, and contest it.")
    else:
        out.append("Ask to see fewer items like one you were shown.")
    return tuple(out)


def concept_shares(card: LogicCard) -> Mapping[str, float]:
    """Concept name -> share, for quick checks."""
    return {c.concept: c.share for c in card.concepts}
