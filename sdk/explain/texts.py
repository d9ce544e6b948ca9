"""The narrative templates, per locale. Short sentences and short words: the English end-user
texts must reach a Flesch reading ease of 60 (tests check it on real decisions)."""

from __future__ import annotations

__all__ = ["OUTCOMES", "TEXTS"]

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "and": " and ",
        "percent": "{}%",
        # recommendations
        "because": "Because of {reasons}.",
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
        "item_share": "These reasons explain {shown} of why we show it. Other factors explain "
        "the rest.",
        "item_share_all": "These reasons explain why we show it.",
        "item_actions": (
            "You can ask to see fewer items like this. You can also stop us from using what you "
            "do in the shop to pick items for you."
        ),
        "item_actions_popular": "You can ask to see fewer items like this.",
        "pair": "Why the first item is above the second: {reasons}.",
        "pair_up": "{label} (puts the first one higher)",
        "pair_down": "{label} (puts the second one higher)",
        "pair_share": "These explain {shown} of the gap. Other factors explain the rest.",
        "pair_share_all": "These explain the whole gap.",
        "pair_other": "The two items are close. The factors we can show you do not explain the "
        "gap.",
        # decisions
        "outcome": "The answer is: {outcome}.",
        "provisional": "This decision will be reviewed by a person. Until then, the answer is: "
        "{outcome}.",
        "overridden": "A person checked this decision and changed the answer to: {outcome}.",
        "approved": "A person checked it and agreed.",
        "contested": "You asked for a person to check this decision. Someone will look at it "
        "soon.",
        "main": "What counted most: {reasons}.",
        "up": "{label} (for you)",
        "down": "{label} (against you)",
        "other": "These explain {shown} of the result. Other factors explain the rest.",
        "other_all": "These explain the whole result.",
        "only_other": "The factors we can show you had little effect. Other factors decided it.",
        "masked": "We did not use data you have not agreed to share for this.",
        "consent_missing": "No automatic decision was made. For that we need your consent to "
        "use your data this way, and we do not have it. A person will look at your case "
        "instead.",
        "actions_consent": "You can give your consent at any time, or wait for the person's "
        "answer.",
        "cf": "What would change this: {changes}. Then the answer would be: {target}.",
        "cf_change": "{label} at {new} instead of {old}",
        "cf_category": "{label}: {new} instead of {old}",
        "cf_none": "We found no change you could make that would change the answer.",
        "actions": (
            "You can ask for a person to check this decision. You can also stop us from using "
            "your data to make decisions like this."
        ),
        "actions_contested": "You can also stop us from using your data to make decisions "
        "like this.",
        # reviewers
        "r_score": "score (raw margin) {score:+.4f} = base value {base:+.4f} + contributions",
        "r_concepts": "by concept:",
        "r_trigger": "review trigger: {trigger}",
        "r_none": "none",
        "r_sensitive": "sensitive",
        "r_hidden": "hidden from the person: {why}",
        "r_purpose": "purpose {purpose} not granted",
        "r_erased": "erased",
        "r_score_erased": "score (raw margin) erased with the person; base value {base:+.4f}",
        "r_missing": "missing",
        "r_counterfactual": "what would flip it: {text}",
        "r_unknown": "unknown category (scored as missing)",
        "r_untranslated": "labels without a translation (shown in English): {labels}",
    },
    "de": {
        "and": " und ",
        "percent": "{} %",
        "because": "Ausschlaggebend: {reasons}.",
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
        "item_share": "Diese Gründe erklären {shown} davon, warum wir ihn zeigen. Der Rest "
        "entfällt auf andere Faktoren.",
        "item_share_all": "Diese Gründe erklären, warum wir ihn zeigen.",
        "item_actions": (
            "Sie können weniger Artikel wie diesen sehen. Sie können uns auch untersagen, Ihre "
            "Aktivität im Shop für die Auswahl zu nutzen."
        ),
        "item_actions_popular": "Sie können weniger Artikel wie diesen sehen.",
        "pair": "Warum der erste Artikel vor dem zweiten steht: {reasons}.",
        "pair_up": "{label} (hebt den ersten)",
        "pair_down": "{label} (hebt den zweiten)",
        "pair_share": "Diese erklären {shown} des Abstands. Der Rest entfällt auf andere "
        "Faktoren.",
        "pair_share_all": "Diese erklären den ganzen Abstand.",
        "pair_other": "Die beiden Artikel liegen nah beieinander. Die Faktoren, die wir zeigen "
        "können, erklären den Abstand nicht.",
        "outcome": "Ergebnis: {outcome}.",
        "provisional": "Ein Mensch prüft diese Entscheidung. Bis dahin gilt als vorläufiges "
        "Ergebnis: {outcome}.",
        "overridden": "Ein Mensch hat diese Entscheidung geprüft und das Ergebnis geändert in: "
        "{outcome}.",
        "approved": "Ein Mensch hat das Ergebnis geprüft und bestätigt.",
        "contested": "Sie haben eine Prüfung durch einen Menschen verlangt. Jemand sieht sich "
        "die Entscheidung bald an.",
        "main": "Am wichtigsten war: {reasons}.",
        "up": "{label} (zu Ihren Gunsten)",
        "down": "{label} (gegen Sie)",
        "other": "Das erklärt {shown} des Ergebnisses. Der Rest entfällt auf andere Faktoren.",
        "other_all": "Das erklärt das ganze Ergebnis.",
        "only_other": "Die Faktoren, die wir zeigen können, hatten wenig Einfluss. Andere "
        "Faktoren waren entscheidend.",
        "masked": "Daten, deren Nutzung Sie hierfür nicht zugestimmt haben, wurden nicht "
        "verwendet.",
        "consent_missing": "Es wurde keine automatische Entscheidung getroffen. Dafür bräuchten "
        "wir Ihre Einwilligung, Ihre Daten so zu nutzen, und die liegt uns nicht vor. "
        "Stattdessen sieht sich ein Mensch Ihren Fall an.",
        "actions_consent": "Sie können Ihre Einwilligung jederzeit erteilen oder die Antwort "
        "abwarten.",
        "cf": "Was das Ergebnis ändern würde: {changes}. Dann wäre das Ergebnis: {target}.",
        "cf_change": "{label}: {new} statt {old}",
        "cf_category": "{label}: {new} statt {old}",
        "cf_none": "Wir haben keine Änderung gefunden, die Sie vornehmen könnten und die das "
        "Ergebnis ändern würde.",
        "actions": (
            "Sie können verlangen, dass ein Mensch diese Entscheidung prüft. Sie können uns auch "
            "untersagen, Ihre Daten für solche Entscheidungen zu nutzen."
        ),
        "actions_contested": "Sie können uns auch untersagen, Ihre Daten für solche "
        "Entscheidungen zu nutzen.",
        "r_score": "Score (Rohwert) {score:+.4f} = Basiswert {base:+.4f} + Beiträge",
        "r_concepts": "nach Konzept:",
        "r_trigger": "Prüfanlass: {trigger}",
        "r_none": "keiner",
        "r_sensitive": "sensibel",
        "r_hidden": "der Person nicht gezeigt: {why}",
        "r_purpose": "Zweck {purpose} nicht erteilt",
        "r_erased": "gelöscht",
        "r_score_erased": "Score (Rohwert) mit der Person gelöscht; Basiswert {base:+.4f}",
        "r_missing": "fehlt",
        "r_counterfactual": "was es umkehren würde: {text}",
        "r_unknown": "unbekannte Kategorie (als fehlend bewertet)",
        "r_untranslated": "Bezeichnungen ohne Übersetzung (englisch angezeigt): {labels}",
    },
}

OUTCOMES: dict[str, dict[str, str]] = {
    "de": {
        "approved": "genehmigt",
        "declined": "abgelehnt",
        "accepted": "angenommen",
        "rejected": "abgelehnt",
        "granted": "gewährt",
        "denied": "verweigert",
        "yes": "ja",
        "no": "nein",
        "pending": "offen",
    },
}
"""Translations of common outcome names; others are shown as the model names them."""
