"""Deterministic narratives: the same explanation, worded for end users, reviewers and auditors.

No language model is involved: templates per locale, filled from the exact attributions. The same
input always gives the same text (its SHA-256 goes on the decision record). English end-user
texts are written for a Flesch reading ease of at least 60 (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ConfigurationError
from ..models.schema import FeatureSchema
from ..types import Reason
from .concepts import ShownReasons, concept_reasons
from .texts import OUTCOMES, TEXTS

__all__ = [
    "LOCALES",
    "auditor_text",
    "counterfactual_text",
    "decision_text",
    "item_text",
    "item_why",
    "pair_text",
    "percent",
    "recommendation_notice",
    "reviewer_text",
]

LOCALES = tuple(sorted(TEXTS))
"""The locales texts are written in (``"de"``, ``"en"``); others raise a ``ConfigurationError``."""


def _t(locale: str) -> dict[str, str]:
    try:
        return TEXTS[locale]
    except KeyError:
        raise ConfigurationError(
            f"no texts for locale {locale!r}; available: {', '.join(LOCALES)}"
        ) from None


def _join(labels: Sequence[str], locale: str) -> str:
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + _t(locale)["and"] + labels[-1]


def percent(share: float, locale: str) -> str:
    """``0.93`` -> "93%" (English) or "93 %" (German)."""
    return _t(locale)["percent"].format(round(share * 100))


def _share(t: dict[str, str], key: str, share: float, locale: str) -> str:
    # "explain 100%. Other factors explain the rest." contradicts itself: the whole is the whole
    if round(share * 100) >= 100:
        return t[f"{key}_all"]
    return t[key].format(shown=percent(share, locale))


def outcome_word(outcome: str, locale: str) -> str:
    """An outcome name in ``locale`` when whylens knows it (e.g. "approved" -> "genehmigt")."""
    return OUTCOMES.get(locale, {}).get(outcome, outcome)


def item_why(shown: ShownReasons, *, personalized: bool, locale: str = "en") -> str:
    """One line for a recommended item."""
    t = _t(locale)
    labels = [r.label for r in shown.reasons if r.contribution > 0][:2]
    if not personalized:
        return t["popular_with"].format(reasons=_join(labels, locale)) if labels else t["popular"]
    if not labels:
        return t["notice_personal"]
    return t["because"].format(reasons=_join(labels, locale))


def item_text(shown: ShownReasons, *, personalized: bool, locale: str = "en") -> str:
    """The full end-user explanation of one item: its why line, how much the shown reasons
    cover, and what the person can do (see fewer like it, stop personalization)."""
    t = _t(locale)
    parts = [item_why(shown, personalized=personalized, locale=locale)]
    if shown.reasons:
        parts.append(_share(t, "item_share", shown.shown_share, locale))
    parts.append(t["item_actions"] if personalized else t["item_actions_popular"])
    return " ".join(parts)


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
    counterfactual: str | None = None,
    consent_missing: bool = False,
) -> str:
    """What the person a decision is about reads.

    ``consent_missing``: the decision was held because the consent it needs is not granted; while
    it waits for a person, the text says so and names no outcome and no reasons.

    The top concepts with their direction, the share of the score they cover ("other factors"
    for the rest), what would change the outcome when asked for, and what the person can do.
    """
    t = _t(locale)
    if consent_missing and status == "pending_review" and not contested:
        return f"{t['consent_missing']} {t['actions_consent']}"
    said = outcome_word(outcome, locale)
    parts: list[str] = []
    if status == "pending_review":
        parts.append(t["contested"] if contested else t["provisional"].format(outcome=said))
    elif status == "overridden":
        parts.append(t["overridden"].format(outcome=said))
    else:
        parts.append(t["outcome"].format(outcome=said))
        if status == "approved":
            parts.append(t["approved"])
    if shown.reasons:
        labels = [
            t["up" if r.contribution > 0 else "down"].format(label=r.label) for r in shown.reasons
        ]
        parts.append(t["main"].format(reasons=_join(labels, locale)))
        parts.append(_share(t, "other", shown.shown_share, locale))
    else:
        parts.append(t["only_other"])
    if masked:
        parts.append(t["masked"])
    if counterfactual:
        parts.append(counterfactual)
    # someone who already asked for a person is not told to ask again
    parts.append(t["actions_contested"] if contested else t["actions"])
    return " ".join(parts)


def counterfactual_text(
    changes: Sequence[tuple[str, str, str]],
    *,
    target: str,
    locale: str = "en",
    categorical: Sequence[bool] = (),
) -> str:
    """"What would change this", from ``(label, proposed, current)`` triples; ``categorical``
    marks the changes that move a category (worded "your housing: owner instead of renting")."""
    t = _t(locale)
    if not changes:
        return t["cf_none"]
    kinds = list(categorical) + [False] * (len(changes) - len(categorical))
    items = [
        t["cf_category" if kind else "cf_change"].format(label=lab, new=new, old=old)
        for (lab, new, old), kind in zip(changes, kinds, strict=True)
    ]
    return t["cf"].format(
        changes=_join(items, locale), target=outcome_word(target, locale)
    )


def pair_text(shown: ShownReasons, *, locale: str = "en") -> str:
    """Why the first item is ranked above the second, for the person who got the list."""
    t = _t(locale)
    if not shown.reasons:
        return t["pair_other"]
    labels = [
        t["pair_up" if r.contribution > 0 else "pair_down"].format(label=r.label)
        for r in shown.reasons
    ]
    return " ".join(
        [
            t["pair"].format(reasons=_join(labels, locale)),
            _share(t, "pair_share", shown.shown_share, locale),
        ]
    )


def reviewer_text(
    *,
    schema: FeatureSchema,
    reasons: Sequence[Reason],
    values: Mapping[str, float | None],
    base_value: float,
    score: float | None,
    trigger: str | None,
    suppressed: Sequence[str],
    why_suppressed: Mapping[str, str] | None = None,
    locale: str = "en",
    counterfactual: str | None = None,
    unknown: Sequence[str] = (),
) -> str:
    """Every feature with its value and contribution, concept totals, the base value, score,
    the review trigger and which features the person was not told about (and why). ``score``
    is ``None`` once the person was erased (it was sealed with their inputs).

    A categorical value shows as its label and code ("renting (A151)"); ``unknown`` names the
    categorical features whose value was not one of their categories (scored as missing, as
    LightGBM does). For a locale other than English, labels without a translation are listed.
    """
    t = _t(locale)
    why = why_suppressed or {}
    if score is None:
        lines = [t["r_score_erased"].format(base=base_value)]
    else:
        lines = [t["r_score"].format(score=score, base=base_value)]
    for reason in reasons:
        name = reason.features[0]
        value = values.get(name)
        if value is None and name in values:
            shown = t["r_erased"]
        elif name in unknown:
            shown = t["r_unknown"]
        else:
            shown = _fmt_value(schema, name, value, t, locale)
        flags = []
        if schema[name].sensitive:
            flags.append(t["r_sensitive"])
        if name in suppressed:
            flags.append(t["r_hidden"].format(why=_why(why.get(name, ""), t)))
        note = f"  [{', '.join(flags)}]" if flags else ""
        # reviewers read the reviewer label; in another locale, its translation when there
        # is one (untranslated labels are listed at the end)
        label = schema[name].translations.get(locale, reason.label) if locale != "en" else (
            reason.label
        )
        lines.append(f"  {reason.contribution:+.4f}  {name} = {shown}  ({label}){note}")
    contributions = {r.features[0]: r.contribution for r in reasons}
    if len(schema.concepts) < len(schema) and len(contributions) == len(schema):
        lines.append(t["r_concepts"])
        for c in concept_reasons(schema, contributions):
            lines.append(f"  {c.contribution:+.4f}  {c.concept}  ({c.label})")
    lines.append(t["r_trigger"].format(trigger=trigger or t["r_none"]))
    if counterfactual:
        lines.append(t["r_counterfactual"].format(text=counterfactual))
    missing = schema.untranslated(locale)
    if missing:
        lines.append(t["r_untranslated"].format(labels=", ".join(missing)))
    return "\n".join(lines)


def _fmt_value(
    schema: FeatureSchema, name: str, value: float | None, t: Mapping[str, str], locale: str
) -> str:
    feature = schema[name]
    if not feature.is_categorical:
        return _fmt(value, t)
    code = feature.category_of(value)
    if code is None:
        return t["r_missing"]
    return f"{feature.category_label(code, locale)} ({code})"


def _why(reason: str, t: Mapping[str, str]) -> str:
    if reason == "sensitive":
        return t["r_sensitive"]
    if reason.startswith("purpose "):
        return t["r_purpose"].format(purpose=reason.split()[1])
    return reason


def auditor_text(
    *,
    contributions: Mapping[str, float],
    base_value: float,
    score: float | None,
    model: str,
    model_version: int,
    model_hash: str,
    explainer: str,
    residual: float | None,
) -> str:
    """The full attribution vector with everything needed to re-check it (locale-neutral);
    ``score`` and ``residual`` read ``erased`` once they went with the person's key."""
    vector = ", ".join(f"{k}={v:.17g}" for k, v in contributions.items())
    shown = "erased" if score is None else f"{score:.17g}"
    gap = "erased" if residual is None else f"{residual:.3g}"
    return (
        f"model {model} v{model_version} sha256:{model_hash}\n"
        f"explainer {explainer}\n"
        f"base_value={base_value:.17g} score={shown} additivity_residual={gap}\n"
        f"contributions: {vector}"
    )


def _fmt(value: float | None, t: Mapping[str, str]) -> str:
    if value is None:
        return t["r_missing"]
    if value != value:  # NaN: masked for lack of consent, or missing in the input
        return t["r_missing"]
    return f"{value:g}"
