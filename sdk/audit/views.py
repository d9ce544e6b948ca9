"""Reading decisions back: the effective Decision and its Explanation for each audience.

Everything here is derived from the ledger entries and the registered model, so the text a person
reads later is the text the decision produced (same templates, same numbers, same consent mask).
"""

from __future__ import annotations

from typing import Any

from ..errors import AuditError, DecisionNotFound, StoreError, WrongModelKind
from ..explain.concepts import end_user_reasons, reviewer_reasons
from ..explain.narrative import auditor_text, decision_text, item_text, reviewer_text
from ..ledger import LedgerEntry
from ..models.registry import Model, ModelRegistry
from ..models.why import disclose
from ..types import Audience, Counterfactual, Decision, Explanation
from .records import DecisionState, review_action

__all__ = ["contest_sentence", "decision_view", "explanation_view", "model_of"]

# The result of a contest, told to the person (GDPR Art. 22(3)); worded here, not in the
# narrative templates, because it depends on the review chain rather than on the model.
_CONTEST_RESULT = {
    "en": "You asked for a person to review this decision. A reviewer did, and the outcome is "
    "now: {outcome}.",
    "de": "Sie haben eine Prüfung durch einen Menschen verlangt. Sie ist erfolgt; das Ergebnis "
    "lautet jetzt: {outcome}.",
}


def contest_sentence(outcome: str, locale: str) -> str:
    """What the person reads after the review of their contest."""
    return _CONTEST_RESULT.get(locale, _CONTEST_RESULT["en"]).format(outcome=outcome)


def model_of(models: ModelRegistry, entry: LedgerEntry) -> Model:
    """The exact model version a record names, checked against the recorded content hash."""
    ref = entry.data["model"]
    model = models.get(ref["name"], int(ref["version"]))
    if model.content_hash != ref["content_hash"]:
        raise StoreError(
            f"model {ref['name']!r} v{ref['version']} no longer matches the hash on the record"
        )
    return model


def decision_view(
    state: DecisionState,
    entry: LedgerEntry,
    actions: list[LedgerEntry],
    model: Model,
    *,
    locale: str = "en",
) -> Decision:
    """The effective decision: the model's output folded with every review action after it."""
    if entry.kind != "decision":
        raise WrongModelKind(
            "this id names a recommendation, not a decision; use explain() for its reasons"
        )
    data = entry.data
    output = data["output"]
    contributions = _contributions(model, data["explanation"])
    shown = end_user_reasons(
        model.schema, contributions, masked=data["consent"]["masked"], locale=locale
    )
    assert state.outcome is not None and state.automated_outcome is not None
    why = decision_text(
        outcome=state.outcome,
        status=state.status,
        contested=state.contested,
        shown=shown,
        locale=locale,
        masked=bool(data["consent"]["masked"]),
        consent_missing=bool(data["consent"].get("missing")),
    )
    if state.contest_result is not None and not state.contested:
        why = f"{contest_sentence(state.outcome, locale)} {why}"
    return Decision(
        decision_id=data["decision_id"],
        subject=entry.subject or "",
        model=model.name,
        model_version=model.version,
        outcome=state.outcome,
        automated_outcome=state.automated_outcome,
        score=float(output["score"]),
        probability=float(output["probability"]),
        status=state.status,
        contested=state.contested,
        review_trigger=output.get("trigger"),
        why=why,
        created_at=entry.ts,
        history=tuple(review_action(e) for e in [entry, *actions]),
        contest_result=None if state.contested else state.contest_result,
    )


def _contributions(model: Model, explanation: dict[str, Any]) -> dict[str, float]:
    values = explanation["contributions"]
    if len(values) != len(model.schema):
        raise AuditError("record's attribution vector does not match the model's features")
    return dict(zip(model.schema.names, (float(v) for v in values), strict=True))


def explanation_view(
    state: DecisionState,
    entry: LedgerEntry,
    model: Model,
    *,
    audience: Audience,
    locale: str,
    values: dict[str, float | None] | None,
    item_id: str | None,
    counterfactual: Counterfactual | None = None,
) -> Explanation:
    """One record's explanation for ``audience``.

    ``values`` (decrypted inputs) are needed for reviewers only; ``None`` entries mean the subject
    was erased and their inputs can no longer be read. A ``counterfactual`` (decisions only) adds
    "what would change this" to the text and is returned on the explanation.
    """
    data = entry.data
    masked = data["consent"]["masked"]
    if entry.kind == "decision":
        part, score = data["explanation"], float(data["output"]["score"])
    else:
        part = _item(data, item_id)
        item_id = part["item_id"]
        score = float(part["score"])
    contributions = _contributions(model, part)
    base = float(part["base_value"])
    shown = end_user_reasons(
        model.schema,
        contributions,
        masked=masked,
        limit=3 if entry.kind == "decision" else 2,
        positive_only=entry.kind != "decision",
        locale=locale,
    )
    common: dict[str, Any] = {
        "decision_id": data["decision_id"],
        "item_id": item_id,
        "audience": audience,
        "locale": locale,
        "base_value": base,
        "score": score,
        "model": model.name,
        "model_version": model.version,
        "explainer": data.get("explanation_method"),
    }
    if audience == "end_user":
        if entry.kind == "decision":
            assert state.outcome is not None
            text = decision_text(
                outcome=state.outcome,
                status=state.status,
                contested=state.contested,
                shown=shown,
                locale=locale,
                masked=bool(masked),
                consent_missing=bool(data["consent"].get("missing")),
                # once a person changed the outcome, "what would change this" no longer applies
                counterfactual=counterfactual.text
                if counterfactual and counterfactual.outcome == state.outcome
                else None,
            )
            if state.contest_result is not None and not state.contested:
                text = f"{contest_sentence(state.outcome, locale)} {text}"
        else:
            text = item_text(shown, personalized=bool(data["personalized"]), locale=locale)
            text = disclose(part.get("source"), text, locale)  # promotions are always disclosed
        visible = {n: v for n, v in contributions.items() if n not in shown.suppressed}
        return Explanation(
            **common,
            text=text,
            reasons=shown.reasons,
            contributions=visible,
            other_share=1.0 - shown.shown_share,
            counterfactual=counterfactual,
        )
    residual = float(part["residual"])
    if audience == "reviewer":
        text = reviewer_text(
            schema=model.schema,
            reasons=reviewer_reasons(model.schema, contributions),
            values=values or {},
            base_value=base,
            score=score,
            trigger=data.get("output", {}).get("trigger"),
            suppressed=shown.suppressed,
            why_suppressed=shown.why_suppressed,
            locale=locale,
            counterfactual=_reviewer_counterfactual(counterfactual),
        )
        reasons = reviewer_reasons(model.schema, contributions)
    elif audience == "auditor":
        text = auditor_text(
            contributions=contributions,
            base_value=base,
            score=score,
            model=model.name,
            model_version=model.version,
            model_hash=model.content_hash,
            explainer=data["explanation_method"],
            residual=residual,
        )
        reasons = reviewer_reasons(model.schema, contributions)
    else:
        raise AuditError(f"unknown audience {audience!r}; use end_user, reviewer or auditor")
    return Explanation(
        **common,
        text=text,
        reasons=reasons,
        contributions=contributions,
        other_share=0.0,
        suppressed=shown.suppressed,
        model_hash=model.content_hash,
        additivity_residual=residual,
        counterfactual=counterfactual,
    )


def _reviewer_counterfactual(cf: Counterfactual | None) -> str | None:
    if cf is None:
        return None
    if not cf.found:
        return f"no allowed change flips {cf.outcome} to {cf.target_outcome}"
    moves = ", ".join(f"{c.feature} {c.current:g} -> {c.proposed:g}" for c in cf.changes)
    return (
        f"{moves} ({cf.outcome} -> {cf.target_outcome}; re-scored {cf.score_after:+.4f}, "
        f"cost {cf.cost:.3f})"
    )


def _item(data: dict[str, Any], item_id: str | None) -> dict[str, Any]:
    items: list[dict[str, Any]] = data["items"]
    if not items:
        raise DecisionNotFound("this recommendation served no items")
    if item_id is None:
        return items[0]
    for item in items:
        if item["item_id"] == item_id:
            return item
    raise DecisionNotFound("that item was not served in this recommendation")
