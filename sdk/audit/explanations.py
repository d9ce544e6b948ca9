"""Explaining a recorded decision or recommendation: the reasons, "what would change this", and
the comparison of two served items.

Everything is read back from the audit record and the exact model version it names; a reviewer's
view adds the decrypted inputs (each bound to the subject, the record and the feature by its
associated data, see :func:`~sdk.audit.records.input_aad_id`). Each call catches up with the
ledger first, so records written by another process are explained too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ExplanationError
from ..explain.disclosure import Disclosures
from ..keys import SubjectKeys
from ..models.registry import ModelRegistry
from ..types import Audience, Comparison, Counterfactual, Decision, Explanation
from .entries import decision_record, recommendation_record
from .records import try_cipher
from .reviews import ReviewQueue
from .sealing import Opened, open_entries
from .trail import AuditTrail
from .views import explanation_view, model_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..ledger import LedgerEntry
    from .records import DecisionState

__all__ = ["Explanations", "SubjectDecisions"]


class Explanations:
    """Explanations of audit records, for each audience."""

    def __init__(
        self,
        trail: AuditTrail,
        models: ModelRegistry,
        keys: SubjectKeys,
        *,
        disclosures: Disclosures | None = None,
    ) -> None:
        self._trail = trail
        self._models = models
        self._keys = keys
        self._disclosures = disclosures

    def explain(
        self,
        decision_id: str,
        *,
        audience: Audience = "end_user",
        locale: str = "en",
        item_id: str | None = None,
        counterfactual: bool = False,
    ) -> Explanation:
        """The explanation of a decision (or one recommended item) for ``audience``."""
        state = self._trail.state(decision_id)
        entry, _ = self._trail.entries_of(decision_id)
        model = model_of(self._models, entry)
        change = self._counterfactual(state, entry, locale) if counterfactual else None
        cipher = try_cipher(self._keys.cipher, state.subject)
        opened = open_entries(cipher, state.subject, entry, ())
        # an end-user text of a decision names the person's categories: it needs the inputs too
        named = entry.kind == "decision" and bool(model.schema.categorical)
        wanted = audience == "reviewer" or named
        values = _values(entry, opened, item_id, model.schema.names) if wanted else None
        return explanation_view(
            state,
            entry,
            model,
            audience=audience,
            locale=locale,
            values=values,
            opened=opened,
            item_id=item_id,
            counterfactual=change,
            disclosures=self._disclosures,
        )

    def counterfactual(self, decision_id: str, *, locale: str = "en") -> Counterfactual:
        """The smallest change to the actionable features that flips the decision's outcome."""
        state = self._trail.state(decision_id)
        entry, _ = self._trail.entries_of(decision_id)
        return self._counterfactual(state, entry, locale)

    def compare(
        self,
        decision_id: str,
        item_a: str,
        item_b: str,
        *,
        audience: Audience = "end_user",
        locale: str = "en",
    ) -> Comparison:
        """Why ``item_a`` ranks above (or below) ``item_b`` in one recommendation."""
        from ..explain.compare import compare_items

        state = self._trail.state(decision_id)
        entry, _ = self._trail.entries_of(decision_id)
        if entry.kind != "recommendation":
            raise ExplanationError("explain_pair compares two items of one recommendation")
        model = model_of(self._models, entry)
        opened = open_entries(
            try_cipher(self._keys.cipher, state.subject), state.subject, entry, ()
        )
        return compare_items(
            _with_contributions(entry.data, opened),
            model,
            item_a,
            item_b,
            audience=audience,
            locale=locale,
        )

    # -- stages ---------------------------------------------------------------------------------

    def _counterfactual(
        self, state: DecisionState, entry: LedgerEntry, locale: str
    ) -> Counterfactual:
        from ..explain.counterfactual import find_counterfactual

        if entry.kind != "decision":
            raise ExplanationError("counterfactuals are for decisions, not recommendations")
        model = model_of(self._models, entry)
        cipher = try_cipher(self._keys.cipher, state.subject)
        opened = open_entries(cipher, state.subject, entry, ())
        if opened.inputs is None:
            raise ExplanationError(
                "the inputs of this decision can no longer be read (the subject was erased)"
            )
        record = decision_record(entry)
        decision_id = record.decision_id
        values = opened.inputs
        row = np.array(
            [values.get(n, float("nan")) for n in model.schema.names], dtype=np.float64
        )
        return find_counterfactual(
            model,
            row,
            masked=record.consent.masked,
            decision_id=decision_id,
            locale=locale,
        )


def _values(
    entry: LedgerEntry, opened: Opened, item_id: str | None, names: Sequence[str]
) -> dict[str, float | None] | None:
    """The opened inputs of the decision, or of the item a reviewer looks at, by feature
    (``None`` values once the subject was erased)."""
    if entry.kind == "decision":
        inputs = opened.inputs
    else:
        listing = recommendation_record(entry)
        item = listing.item(item_id)
        if item is None:
            return None
        index = listing.items.index(item)
        inputs = opened.values[index].inputs if opened.values is not None else None
    if inputs is None:
        return dict.fromkeys(names)
    return {name: inputs.get(name) for name in names}


def _with_contributions(data: dict[str, Any], opened: Opened) -> dict[str, Any]:
    """A recommendation entry's data with each item's opened contributions and score in place."""
    if opened.items is None or opened.values is None:
        raise ExplanationError(
            "the attributions of this recommendation can no longer be read (the subject was "
            "erased)"
        )
    items = [
        {**item, "contributions": phi, "score": values.score}
        for item, phi, values in zip(data["items"], opened.items, opened.values, strict=True)
    ]
    return {**data, "items": items}


class SubjectDecisions:
    """The decisions about one subject, as an export of their data lists them (the
    :class:`~sdk.subjects.rights.DecisionHistory` that ``p.subjects`` reads)."""

    def __init__(self, trail: AuditTrail, reviews: ReviewQueue, explanations: Explanations):
        self._trail = trail
        self._reviews = reviews
        self._explanations = explanations

    def decision_ids(self, pseudo: str) -> list[str]:
        """Ids of every decision about ``pseudo``, in time order."""
        return list(self._trail.decisions(subject=pseudo))

    def decision(self, decision_id: str) -> Decision:
        """The effective decision (after any review)."""
        return self._reviews.get(decision_id)

    def explanation(self, decision_id: str) -> Explanation:
        """Its end-user explanation."""
        return self._explanations.explain(decision_id)
