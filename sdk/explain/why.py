"""Why lines for items that did not come from plain model order: exploration, the long tail,
promotions and non-profiling lists (en, de). Short words and sentences, like the other end-user
texts; the same input always gives the same line (its hash goes on the record)."""

from __future__ import annotations

from ..errors import ConfigurationError
from .concepts import ShownReasons
from .narrative import item_why

__all__ = ["TEXTS", "disclose", "item_line", "list_notice", "staff_line"]

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "exploration": "Something new for you. We show it now and then so you can find more "
        "than what you already know.",
        "long_tail": "Something new for you, from a less known part of the shop.",
        "promoted": "Promoted: the shop pays to show this item here.",
        "featured": "Promoted: the shop chose to show this item here.",
        "staff": "Picked for you by {name} at the shop.",
        "staff_after_note": "Picked for you by {name} at the shop, after your note.",
        "someone": "a person",
        "non_profiling": "Not based on profiling: we used no data about you to pick this.",
        "non_profiling_with": "Not based on profiling: we used no data about you. It is here "
        "because of {reasons}.",
        "notice_non_profiling": "Not based on profiling, as you asked: this list uses no data "
        "about you. It is ranked by what is popular and well rated in the shop.",
        "and": " and ",
    },
    "de": {
        "exploration": "Etwas Neues für Sie. Wir zeigen so etwas ab und zu, damit Sie mehr "
        "entdecken als das, was Sie schon kennen.",
        "long_tail": "Etwas Neues für Sie, aus einem weniger bekannten Teil des Shops.",
        "promoted": "Werbung: Der Shop bezahlt dafür, diesen Artikel hier zu zeigen.",
        "featured": "Werbung: Der Shop hat entschieden, diesen Artikel hier zu zeigen.",
        "staff": "Für Sie ausgesucht von {name} im Shop.",
        "staff_after_note": "Für Sie ausgesucht von {name} im Shop, nach Ihrer Nachricht.",
        "someone": "einem Menschen",
        "non_profiling": "Nicht auf Profiling gestützt: Wir haben keine Daten über Sie genutzt.",
        "non_profiling_with": "Nicht auf Profiling gestützt: Wir haben keine Daten über Sie "
        "genutzt. Der Artikel steht hier wegen {reasons}.",
        "notice_non_profiling": "Nicht auf Profiling gestützt, wie Sie es wünschen: Diese Liste "
        "nutzt keine Daten über Sie. Sie ist nach Beliebtheit und Bewertungen im Shop sortiert.",
        "and": " und ",
    },
}


def _t(locale: str) -> dict[str, str]:
    try:
        return TEXTS[locale]
    except KeyError:
        raise ConfigurationError(f"no texts for locale {locale!r}") from None


def item_line(
    shown: ShownReasons,
    *,
    source: str,
    personalized: bool,
    non_profiling: bool,
    locale: str,
    featured: bool = False,
) -> str:
    """The why line of one served item, given where it came from (``featured``: promoted by a
    staff decision rather than a paid rule)."""
    t = _t(locale)
    if source == "exploration":
        return t["exploration"]
    if source == "long_tail":
        return t["long_tail"]
    if non_profiling:
        labels = [r.label for r in shown.reasons if r.contribution > 0][:2]
        if labels:
            joined = labels[0] if len(labels) == 1 else t["and"].join(labels)
            line = t["non_profiling_with"].format(reasons=joined)
        else:
            line = t["non_profiling"]
    else:
        line = item_why(shown, personalized=personalized, locale=locale)
    if source == "promoted":
        return f"{t['featured' if featured else 'promoted']} {line}"
    return line


def staff_line(name: str | None, *, after_note: bool, locale: str) -> str:
    """The why of a staff pick: who picked it (their display name), and whether after a note."""
    t = _t(locale)
    return t["staff_after_note" if after_note else "staff"].format(name=name or t["someone"])


def list_notice(locale: str) -> str:
    """The notice of a list made without profiling."""
    return _t(locale)["notice_non_profiling"]


def disclose(
    source: str | None,
    text: str,
    locale: str,
    *,
    featured: bool = False,
    pick: dict[str, object] | None = None,
) -> str:
    """An item's full explanation, opening with what its source requires said first: a promotion
    is always disclosed, items from exploration or the long tail say they are new for you, and a
    staff pick says who picked it (``pick``: the record's ``name`` and ``after_note``)."""
    t = _t(locale)
    if source == "staff":
        name = pick.get("name") if pick else None
        after = bool(pick.get("after_note")) if pick else False
        return staff_line(name if isinstance(name, str) else None, after_note=after, locale=locale)
    if source == "promoted":
        return f"{t['featured' if featured else 'promoted']} {text}"
    if source in ("exploration", "long_tail"):
        return f"{t[source]} {text}"
    return text
