"""Deterministic narratives: the same explanation, worded for end users, reviewers and auditors.

No language model is involved: templates per locale, filled from the exact attributions. The same
input always gives the same text (its SHA-256 goes on the decision record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ConfigurationError
from ..models.schema import FeatureSchema
from ..types import Reason
from .concepts import ShownReasons

__all__ = [
    "LOCALES",
    "auditor_text",
    "decision_text",
    "item_why",
    "recommendation_notice",
    "reviewer_text",
]

_T: dict[str, dict[str, str]] = {
    "en": {
        "because": "Because of {reasons}.",
        "and": " and ",
        "popular": "Popular in the shop right now.",
        "popular_with": "Popular in the shop right now ({reasons}).",
        "notice_personal": "Picked for you from your activity in the shop.",
        "notice_not_given": (
            "Not personalized: you have not agreed to personalized recommendations, so these "
            "are the shop's popular items. You can turn personalization on at any time."
        ),
        "notice_withdrawn": (
            "Not personalized: you withdrew your consent to personalized recommendations, so we "
            "no longer use your activity. These are the shop's popular items."
        ),
        "notice_expired": (
            "Not personalized: your consent to personalized recommendations has expired. These "
            "are the shop's popular items."
        ),
        "outcome": "Outcome: {outcome}.",
        "provisional": (
            "This decision is being reviewed by a person. Until then the provisional outcome "
            "is: {outcome}."
        ),
        "overridden": "A reviewer changed the outcome to: {outcome}.",
        "approved": "A reviewer checked and confirmed this outcome.",
        "main": "The main factors: {reasons}.",
        "up": "{label} (in your favour)",
        "down": "{label} (against)",
        "other": "These cover {shown:.0%} of what decided it; other factors account for the rest.",
        "only_other": "The factors we can show you had little effect; other factors decided it.",
        "actions": (
            "You can ask for a person to review this decision, or withdraw your consent to "
            "automated decisions."
        ),
        "contested": "You asked for a person to review this decision; someone will look at it.",
        "masked": "Data you have not agreed to share for this purpose was not used.",
    },
    "de": {
        "because": "Wegen {reasons}.",
        "and": " und ",
        "popular": "Gerade beliebt im Shop.",
        "popular_with": "Gerade beliebt im Shop ({reasons}).",
        "notice_personal": "Für Sie ausgewählt anhand Ihrer Aktivität im Shop.",
        "notice_not_given": (
            "Nicht personalisiert: Sie haben personalisierten Empfehlungen nicht zugestimmt, "
            "daher zeigen wir die beliebten Artikel des Shops. Sie können die Personalisierung "
            "jederzeit einschalten."
        ),
        "notice_withdrawn": (
            "Nicht personalisiert: Sie haben Ihre Einwilligung in personalisierte Empfehlungen "
            "widerrufen; wir nutzen Ihre Aktivität nicht mehr. Dies sind die beliebten Artikel."
        ),
        "notice_expired": (
            "Nicht personalisiert: Ihre Einwilligung in personalisierte Empfehlungen ist "
            "abgelaufen. Dies sind die beliebten Artikel des Shops."
        ),
        "outcome": "Ergebnis: {outcome}.",
        "provisional": (
            "Diese Entscheidung wird von einem Menschen geprüft. Bis dahin gilt vorläufig: "
            "{outcome}."
        ),
        "overridden": "Eine prüfende Person hat das Ergebnis geändert in: {outcome}.",
        "approved": "Eine prüfende Person hat dieses Ergebnis bestätigt.",
        "main": "Die wichtigsten Faktoren: {reasons}.",
        "up": "{label} (zu Ihren Gunsten)",
        "down": "{label} (dagegen)",
        "other": "Diese erklären {shown:.0%} der Entscheidung; der Rest entfällt auf andere "
        "Faktoren.",
        "only_other": "Die Faktoren, die wir zeigen können, hatten wenig Einfluss; andere "
        "Faktoren waren entscheidend.",
        "actions": (
            "Sie können verlangen, dass ein Mensch diese Entscheidung prüft, oder Ihre "
            "Einwilligung in automatisierte Entscheidungen widerrufen."
        ),
        "contested": "Sie haben eine Prüfung durch einen Menschen verlangt; jemand sieht sie sich "
        "an.",
        "masked": "Daten, deren Nutzung für diesen Zweck Sie nicht zugestimmt haben, wurden nicht "
        "verwendet.",
    },
}

LOCALES = tuple(sorted(_T))


def _t(locale: str) -> dict[str, str]:
    try:
        return _T[locale]
    except KeyError:
        raise ConfigurationError(
            f"no texts for locale {locale!r}; available: {', '.join(LOCALES)}"
        ) from None


def _join(labels: Sequence[str], locale: str) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + _t(locale)["and"] + labels[-1]


def item_why(shown: ShownReasons, *, personalized: bool, locale: str = "en") -> str:
    """One line for a recommended item."""
    t = _t(locale)
    labels = [r.label for r in shown.reasons if r.contribution > 0][:2]
    if not personalized:
        return t["popular_with"].format(reasons=_join(labels, locale)) if labels else t["popular"]
    if not labels:
        return t["notice_personal"]
    return t["because"].format(reasons=_join(labels, locale))


def recommendation_notice(status: str, *, locale: str = "en") -> str:
    """How the list was made, given the subject's personalization consent status."""
    t = _t(locale)
    if status in ("given", "not_required"):
        return t["notice_personal"]
    return t.get(f"notice_{status}", t["notice_not_given"])


def decision_text(
    *,
    outcome: str,
    status: str,
    contested: bool,
    shown: ShownReasons,
    locale: str = "en",
    masked: bool = False,
) -> str:
    """What the person a decision is about reads."""
    t = _t(locale)
    parts: list[str] = []
    if status == "pending_review":
        parts.append(t["contested"] if contested else t["provisional"].format(outcome=outcome))
    elif status == "overridden":
        parts.append(t["overridden"].format(outcome=outcome))
    else:
        parts.append(t["outcome"].format(outcome=outcome))
        if status == "approved":
            parts.append(t["approved"])
    if shown.reasons:
        labels = [
            t["up" if r.contribution > 0 else "down"].format(label=r.label) for r in shown.reasons
        ]
        parts.append(t["main"].format(reasons=_join(labels, locale)))
        parts.append(t["other"].format(shown=shown.shown_share))
    else:
        parts.append(t["only_other"])
    if masked:
        parts.append(t["masked"])
    parts.append(t["actions"])
    return " ".join(parts)


def reviewer_text(
    *,
    schema: FeatureSchema,
    reasons: Sequence[Reason],
    values: Mapping[str, float | None],
    base_value: float,
    score: float,
    trigger: str | None,
    suppressed: Sequence[str],
) -> str:
    """Every feature with its value and contribution, the base value, score and review trigger."""
    lines = [f"score (raw margin) {score:+.4f} = base value {base_value:+.4f} + contributions"]
    for reason in reasons:
        name = reason.features[0]
        value = values.get(name)
        shown = "erased" if value is None and name in values else _fmt(value)
        flags = []
        if schema[name].sensitive:
            flags.append("sensitive")
        if name in suppressed:
            flags.append("hidden from the person")
        note = f"  [{', '.join(flags)}]" if flags else ""
        lines.append(f"  {reason.contribution:+.4f}  {name} = {shown}  ({reason.label}){note}")
    lines.append(f"review trigger: {trigger or 'none'}")
    return "\n".join(lines)


def auditor_text(
    *,
    contributions: Mapping[str, float],
    base_value: float,
    score: float,
    model: str,
    model_version: int,
    model_hash: str,
    explainer: str,
    residual: float,
) -> str:
    """The full attribution vector with everything needed to re-check it."""
    vector = ", ".join(f"{k}={v:.17g}" for k, v in contributions.items())
    return (
        f"model {model} v{model_version} sha256:{model_hash}\n"
        f"explainer {explainer}\n"
        f"base_value={base_value:.17g} score={score:.17g} additivity_residual={residual:.3g}\n"
        f"contributions: {vector}"
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "missing"
    if value != value:  # NaN: masked for lack of consent, or missing in the input
        return "missing"
    return f"{value:g}"
