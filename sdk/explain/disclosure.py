"""Disclosure on every response: what was automated, what a person did, and how to reach one.

Every :class:`~sdk.types.Recommendations`, recommended item, :class:`~sdk.types.Decision` and
:class:`~sdk.types.Explanation` carries a :class:`~sdk.types.Disclosure` made here (en, de). It is
derived from the record, so it is truthful: a decision a person approved or overrode never says
"automated", a hand-picked item says it was picked by staff, a promotion says it is promoted. The
contact text (how to reach a person) is the shop's to set (``p.contact.configure``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from ..errors import ConfigurationError
from ..types.human import Disclosure

__all__ = ["DEFAULT_CONTACT", "TEXTS", "Disclosures"]

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "decided": "Decided by an automated system.",
        "pending": "Proposed by an automated system; a person will review it before it counts.",
        "approved": "Reviewed by a person, who confirmed the outcome.",
        "overridden": "Reviewed by a person, who changed the outcome.",
        "again": "You asked for another review; a person will look at it again.",
        "chosen": "Chosen by an automated system.",
        "staff": "Picked by hand by a person at the shop.",
        "promoted": "Promoted: placed here by the shop, not by how well it fits you.",
        "some_staff": "Items marked as picked for you were chosen by hand by a person at the shop.",
        "some_promoted": "Items marked as promoted were placed by the shop.",
        "list": "This list was made by an automated system.",
        "list_staff": "This list was made by hand by a person at the shop.",
    },
    "de": {
        "decided": "Von einem automatisierten System entschieden.",
        "pending": "Von einem automatisierten System vorgeschlagen; ein Mensch prüft es, bevor "
        "es gilt.",
        "approved": "Von einem Menschen geprüft, der das Ergebnis bestätigt hat.",
        "overridden": "Von einem Menschen geprüft, der das Ergebnis geändert hat.",
        "again": "Sie haben eine erneute Prüfung verlangt; ein Mensch sieht es sich noch "
        "einmal an.",
        "chosen": "Von einem automatisierten System ausgewählt.",
        "staff": "Von einem Menschen im Shop von Hand ausgesucht.",
        "promoted": "Werbung: vom Shop hier platziert, nicht danach, wie gut es zu Ihnen passt.",
        "some_staff": "Artikel mit dem Hinweis „für Sie ausgesucht“ hat ein Mensch im Shop von "
        "Hand gewählt.",
        "some_promoted": "Als Werbung markierte Artikel hat der Shop platziert.",
        "list": "Diese Liste hat ein automatisiertes System erstellt.",
        "list_staff": "Diese Liste hat ein Mensch im Shop von Hand erstellt.",
    },
}

DEFAULT_CONTACT: dict[str, str] = {
    "en": "Want a person to look at this? Choose “ask for a person” on the why page, or "
    "contact the shop.",
    "de": "Möchten Sie, dass ein Mensch sich das ansieht? Wählen Sie „einen Menschen fragen“ "
    "auf der Warum-Seite, oder kontaktieren Sie den Shop.",
}
_MAX_CONTACT = 500


class Disclosures:
    """The shop's disclosure settings (contact text per locale) and the disclosures they give."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contact = dict(DEFAULT_CONTACT)

    def set_contact(self, texts: Mapping[str, str]) -> None:
        """How to reach a person, per locale (``{"en": ..., "de": ...}``); others keep theirs."""
        if not isinstance(texts, Mapping):
            raise ConfigurationError("contact_text maps a locale to a text")
        for locale, text in texts.items():
            if locale not in TEXTS:
                raise ConfigurationError(f"no disclosure texts for locale {locale!r}")
            if not isinstance(text, str) or not text.strip() or len(text) > _MAX_CONTACT:
                raise ConfigurationError(f"a contact text is 1 to {_MAX_CONTACT} characters")
        with self._lock:
            self._contact.update(texts)

    def contact(self, locale: str) -> str:
        """The contact text in ``locale``."""
        with self._lock:
            return self._contact.get(locale, self._contact["en"])

    def for_decision(
        self, status: str, locale: str, *, person_decided: str | None = None
    ) -> Disclosure:
        """A decision's disclosure, from its effective status and the latest outcome a person
        gave (``person_decided``: approved or overridden; a later contest keeps it so)."""
        t = _t(locale)
        if status in ("approved", "overridden"):
            person_decided = status
        reviewed = person_decided in ("approved", "overridden")
        pending = status == "pending_review"
        if reviewed:
            text = t[str(person_decided)] + (f" {t['again']}" if pending else "")
        else:
            text = t["pending" if pending else "decided"]
        return Disclosure(
            locale=locale,
            automated=not reviewed,
            reviewed=reviewed,
            pending_review=pending,
            text=text,
            contact=self.contact(locale),
        )

    def for_item(self, source: str | None, locale: str) -> Disclosure:
        """One served item's disclosure, from its source tag."""
        t = _t(locale)
        staff, promoted = source == "staff", source == "promoted"
        text = t["staff"] if staff else t["chosen"]
        if promoted:
            text = f"{t['promoted']} {text}"
        return Disclosure(
            locale=locale,
            automated=not staff,
            staff_pick=staff,
            promoted=promoted,
            text=text,
            contact=self.contact(locale),
        )

    def for_list(self, sources: Iterable[str], locale: str) -> Disclosure:
        """A whole list's disclosure, from the sources of its items."""
        t = _t(locale)
        kinds = set(sources)
        staff, promoted = "staff" in kinds, "promoted" in kinds
        automated = bool(kinds - {"staff"})
        parts = [t["list"] if automated else t["list_staff"]]
        if staff and automated:
            parts.append(t["some_staff"])
        if promoted:
            parts.append(t["some_promoted"])
        return Disclosure(
            locale=locale,
            automated=automated,
            staff_pick=staff,
            promoted=promoted,
            text=" ".join(parts),
            contact=self.contact(locale),
        )


def _t(locale: str) -> dict[str, str]:
    try:
        return TEXTS[locale]
    except KeyError:
        raise ConfigurationError(f"no disclosure texts for locale {locale!r}") from None
