"""Reading decisions back: the effective Decision and its Explanation for each audience.

Everything here is derived from the ledger entries and the registered model, so the text a person
reads later is the text the decision produced (same templates, same numbers, same consent mask).
"""

from __future__ import annotations

from typing import Any

from ..errors import AuditError, DecisionNotFound, StoreError, WrongModelKind
from ..explain.concepts import end_user_reasons, reviewer_reasons
from ..explain.disclosure import Disclosures
from ..explain.narrative import auditor_text, decision_text, item_text, reviewer_text
from ..explain.why import disclose
from ..ledger import LedgerEntry
from ..models.registry import Model, ModelRegistry
from ..types import Audience, Counterfactual, Decision, Explanation
from .entries import (
    DecisionExplanation,
    DecisionRecord,
    ItemRecord,
    RecommendationRecord,
    decision_record,
    recommendation_record,
    record_head,
)
from .records import DecisionState, review_action
from .sealing import Opened

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


_DEFAULT = Disclosures()


def model_of(models: ModelRegistry, entry: LedgerEntry) -> Model:
    """The exact model version a record names, checked against the recorded content hash."""
    ref = record_head(entry).model
    model = models.get(ref.name, ref.version)
    if model.content_hash != ref.content_hash:
        raise StoreError(
            f"model {ref.name!r} v{ref.version} no longer matches the hash on the record"
        )
    return model


def decision_view(
    state: DecisionState,
    entry: LedgerEntry,
    actions: list[LedgerEntry],
    model: Model,
    *,
    opened: Opened,
    locale: str = "en",
    values: dict[str, float | None] | None = None,
    disclosures: Disclosures | None = None,
) -> Decision:
    """The effective decision: the model's output folded with every review action after it.

    ``opened`` holds the record's sealed parts, decrypted (or marked erased: then the text has
    no reasons and the history no notes). ``values`` (the decrypted inputs) let the text name
    the person's categories, as the decision's own text did."""
    if entry.kind != "decision":
        raise WrongModelKind(
            "this id names a recommendation, not a decision; its explanation gives its reasons"
        )
    record = decision_record(entry)
    output = record.output
    contributions = _contributions(model, opened.contributions)
    masked = record.consent.masked
    shown = end_user_reasons(
        model.schema, contributions, masked=masked, locale=locale, values=values
    )
    assert state.outcome is not None and state.automated_outcome is not None
    why = decision_text(
        outcome=state.outcome,
        status=state.status,
        contested=state.contested,
        shown=shown,
        locale=locale,
        masked=bool(record.consent.masked),
        consent_missing=bool(record.consent.missing),
    )
    if state.contest_result is not None and not state.contested:
        why = f"{contest_sentence(state.outcome, locale)} {why}"
    return Decision(
        decision_id=record.decision_id,
        subject=entry.subject or "",
        model=model.name,
        model_version=model.version,
        outcome=state.outcome,
        automated_outcome=state.automated_outcome,
        # sealed with the person's other values (record version 3): None once they are erased
        score=opened.score,
        probability=opened.probability,
        status=state.status,
        contested=state.contested,
        review_trigger=opened.trigger if opened.trigger is not None else output.trigger,
        why=why,
        created_at=entry.ts,
        history=tuple(review_action(e, opened.texts) for e in [entry, *actions]),
        contest_result=None if state.contested else state.contest_result,
        disclosure=(disclosures or _DEFAULT).for_decision(
            state.status, locale, person_decided=state.person_decided
        ),
    )


def _contributions(model: Model, values: list[float] | None) -> dict[str, float]:
    if values is None:  # erased: no attribution can be read, so no reason is given
        return dict.fromkeys(model.schema.names, 0.0)
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
    opened: Opened,
    counterfactual: Counterfactual | None = None,
    disclosures: Disclosures | None = None,
) -> Explanation:
    """One record's explanation for ``audience``.

    ``opened`` holds the record's sealed parts, decrypted; once the subject was erased they are
    gone, and the explanation has no reasons, no contributions and (record version 3) no score.

    ``values`` (decrypted inputs) are needed for reviewers, and for decisions with categorical
    features (the text names the person's category); ``None`` entries mean the subject was
    erased and their inputs can no longer be read. A ``counterfactual`` (decisions only) adds
    "what would change this" to the text and is returned on the explanation.
    """
    record: DecisionRecord | RecommendationRecord
    trigger: str | None = None
    source: str | None = None
    if entry.kind == "decision":
        record = decision_record(entry)
        part: DecisionExplanation | ItemRecord = record.explanation
        score, residual = opened.score, opened.residual
        trigger = opened.trigger if opened.trigger is not None else record.output.trigger
        unknown = opened.unknown
        phi = opened.contributions
    else:
        record = recommendation_record(entry)
        part = _item(record, item_id)
        index = record.items.index(part)
        item_id, source = part.item_id, part.source
        item = opened.values[index] if opened.values is not None else None
        score = item.score if item is not None else None
        residual = item.residual if item is not None else None
        unknown = item.unknown if item is not None else ()
        phi = None if opened.items is None else opened.items[index]
    masked = record.consent.masked
    contributions = _contributions(model, phi)
    erased = phi is None
    base = part.base_value
    shown = end_user_reasons(
        model.schema,
        contributions,
        masked=masked,
        limit=3 if entry.kind == "decision" else 2,
        positive_only=entry.kind != "decision",
        locale=locale,
        values=values if entry.kind == "decision" else None,
    )
    common: dict[str, Any] = {
        "decision_id": record.decision_id,
        "item_id": item_id,
        "audience": audience,
        "locale": locale,
        "base_value": base,
        "score": score,
        "model": model.name,
        "model_version": model.version,
        "explainer": record.explanation_method,
        "disclosure": (
            (disclosures or _DEFAULT).for_decision(
                state.status, locale, person_decided=state.person_decided
            )
            if entry.kind == "decision"
            else (disclosures or _DEFAULT).for_item(source, locale)
        ),
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
                consent_missing=bool(record.consent.missing),
                # once a person changed the outcome, "what would change this" no longer applies
                counterfactual=counterfactual.text
                if counterfactual and counterfactual.outcome == state.outcome
                else None,
            )
            if state.contest_result is not None and not state.contested:
                text = f"{contest_sentence(state.outcome, locale)} {text}"
        else:
            assert isinstance(record, RecommendationRecord) and isinstance(part, ItemRecord)
            text = item_text(shown, personalized=record.personalized, locale=locale)
            # promotions are always disclosed; a staff pick says who picked it
            text = disclose(
                source,
                text,
                locale,
                featured=part.featured,
                pick=part.pick.model_dump() if part.pick is not None else None,
            )
        visible = {n: v for n, v in contributions.items() if n not in shown.suppressed}
        if erased:
            visible = {}
        return Explanation(
            **common,
            text=text,
            reasons=shown.reasons,
            contributions=visible,
            other_share=1.0 - shown.shown_share,
            counterfactual=counterfactual,
        )
    if audience == "reviewer":
        text = reviewer_text(
            schema=model.schema,
            reasons=() if erased else reviewer_reasons(model.schema, contributions),
            values=values or {},
            base_value=base,
            score=score,
            trigger=trigger,
            suppressed=shown.suppressed,
            why_suppressed=shown.why_suppressed,
            locale=locale,
            counterfactual=_reviewer_counterfactual(counterfactual, model),
            unknown=unknown,
        )
        reasons = () if erased else reviewer_reasons(model.schema, contributions)
    elif audience == "auditor":
        text = auditor_text(
            contributions={} if erased else contributions,
            base_value=base,
            score=score,
            model=model.name,
            model_version=model.version,
            model_hash=model.content_hash,
            explainer=record.explanation_method or "",
            residual=residual,
        )
        reasons = () if erased else reviewer_reasons(model.schema, contributions)
    else:
        raise AuditError(f"unknown audience {audience!r}; use end_user, reviewer or auditor")
    return Explanation(
        **common,
        text=text,
        reasons=reasons,
        contributions={} if erased else contributions,
        other_share=0.0,
        suppressed=shown.suppressed,
        model_hash=model.content_hash,
        additivity_residual=residual,
        counterfactual=counterfactual,
    )


def _reviewer_counterfactual(cf: Counterfactual | None, model: Model) -> str | None:
    if cf is None:
        return None
    if not cf.found:
        return f"no allowed change flips {cf.outcome} to {cf.target_outcome}"
    moves = ", ".join(
        f"{c.feature} {_code(model, c.feature, c.current)} -> "
        f"{_code(model, c.feature, c.proposed)}"
        for c in cf.changes
    )
    return (
        f"{moves} ({cf.outcome} -> {cf.target_outcome}; re-scored {cf.score_after:+.4f}, "
        f"cost {cf.cost:.3f})"
    )


def _code(model: Model, name: str, value: float) -> str:
    # a categorical value reads as its code (A151), a number as itself
    return model.schema[name].category_of(value) or f"{value:g}"


def _item(record: RecommendationRecord, item_id: str | None) -> ItemRecord:
    if not record.items:
        raise DecisionNotFound("this recommendation served no items")
    item = record.item(item_id)
    if item is None:
        raise DecisionNotFound("that item was not served in this recommendation")
    return item
