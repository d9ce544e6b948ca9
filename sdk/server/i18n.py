"""The why page's own words in English and German, and the choice of language."""

from __future__ import annotations

__all__ = ["LOCALES", "choose_locale", "texts"]

LOCALES = ("en", "de")

_EN = {
    "title": "Why am I seeing this?",
    "intro": "What we recommended or decided about you, why, and what you can change.",
    "language": "Language",
    "decisions": "Decisions about you",
    "recommendations": "Recommendations for you",
    "choices": "Your choices",
    "none_decisions": "There are no decisions about you.",
    "none_recommendations": "There are no recommendations for you yet.",
    "outcome": "Outcome",
    "what_counted": "What counted most",
    "counted_for": "counted for this",
    "counted_against": "counted against this",
    "change": "What would change this",
    "no_change": "No change you can make would change this outcome.",
    "contest": "Contest this decision",
    "contest_note": "Your note to the reviewer (kept encrypted)",
    "contest_send": "Send and ask for a review",
    "ask_person": "Ask for a person",
    "ask_person_note": "I would like a person to look at this.",
    "person_message": "What should the person know? (optional, kept encrypted)",
    "your_requests": "Your requests to a person",
    "decided_on": "Decided on",
    "request_open": "Waiting for a person, who will answer by {due}.",
    "request_assigned": "A person is working on it; answer due by {due}.",
    "request_closed": "Answered on {closed}.",
    "request_about_decision": "About a decision",
    "request_general": "General question",
    "not_interested": "Not interested",
    "see_fewer": "See fewer like this",
    "withdraw": "Withdraw",
    "profiling_off": "Turn profiling off",
    "profiling_on": "Turn profiling back on",
    "profiling_is_off": "Profiling is off: recommendations do not use your personal data.",
    "profiling_is_on": "Profiling is on: recommendations may use your activity.",
    "purpose": "Purpose",
    "status": "Status",
    "source": "Source",
    "auto_model": "This was decided automatically by a computer model.",
    "auto_pending": "A person will review this before it takes effect.",
    "auto_approved": "A person reviewed this and confirmed it.",
    "auto_overridden": "A person reviewed this and changed the answer.",
    "auto_contested": "You asked for a person to review this. A reviewer will look at it.",
    "auto_list": "This list was chosen automatically by a computer model.",
    "personal": "Based on your activity",
    "popular": "Popular with everyone",
    "exploration": "Something new to try",
    "long_tail": "Less well-known pick",
    "promoted": "Promoted",
    "not_personal": "Not personalized: this list does not use your personal data.",
    "done_withdraw": "Done: you withdrew your consent to {what}. It applies from now on.",
    "done_fewer": "Done: you will see fewer recommendations because of {what}.",
    "done_not_interested": "Done: {what} will not be recommended to you again.",
    "done_profiling_off": "Done: profiling is off. Your next recommendations use no personal data.",
    "done_profiling_on": "Done: profiling is back on.",
    "done_contest": "Done: your request for a review was sent. A person will look at it.",
    "done_person": "Done: we asked a person to look at this. They will answer by {what}.",
    "given": "given", "renewed": "given", "withdrawn": "withdrawn", "not_given": "not given",
    "expired": "expired", "refused": "refused", "invalidated": "invalidated", "stale": "stale",
    "objected": "objected", "not_required": "not needed",
    "error": "Something went wrong",
    "back_to_page": "Back to the page",
    "err_400": "We could not do that: it does not apply here. Nothing was changed.",
    "err_403": "This form has expired or was not sent from this page. Go back, reload the "
    "page and try again. Nothing was changed.",
    "err_404": "This link or item does not exist, or it is not yours. Check the link you were "
    "sent.",
    "err_409": "That cannot be done in the state this is in now. Nothing was changed.",
    "err_410": "This link has expired, or the data it was about has been erased. Ask the shop "
    "for a new link.",
    "err_422": "What was sent could not be accepted (for example, a message longer than 2000 "
    "characters). Go back and try again.",
    "err_other": "Please try again later.",
    "back": "Back",
    "item": "Item",
}

_DE = {
    "title": "Warum sehe ich das?",
    "intro": "Was wir Ihnen empfohlen oder über Sie entschieden haben, warum, und was Sie ändern "
    "können.",
    "language": "Sprache",
    "decisions": "Entscheidungen über Sie",
    "recommendations": "Empfehlungen für Sie",
    "choices": "Ihre Einstellungen",
    "none_decisions": "Es gibt keine Entscheidungen über Sie.",
    "none_recommendations": "Es gibt noch keine Empfehlungen für Sie.",
    "outcome": "Ergebnis",
    "what_counted": "Was am meisten zählte",
    "counted_for": "sprach dafür",
    "counted_against": "sprach dagegen",
    "change": "Was das ändern würde",
    "no_change": "Keine Änderung, die Sie vornehmen können, würde dieses Ergebnis ändern.",
    "contest": "Dieser Entscheidung widersprechen",
    "contest_note": "Ihre Nachricht an die prüfende Person (verschlüsselt gespeichert)",
    "contest_send": "Senden und Prüfung verlangen",
    "ask_person": "Mit einem Menschen sprechen",
    "ask_person_note": "Ich möchte, dass sich ein Mensch das ansieht.",
    "person_message": "Was soll die Person wissen? (freiwillig, verschlüsselt gespeichert)",
    "your_requests": "Ihre Anfragen an einen Menschen",
    "decided_on": "Entschieden am",
    "request_open": "Wartet auf einen Menschen, der bis {due} antwortet.",
    "request_assigned": "Ein Mensch kümmert sich darum; Antwort bis {due}.",
    "request_closed": "Beantwortet am {closed}.",
    "request_about_decision": "Zu einer Entscheidung",
    "request_general": "Allgemeine Frage",
    "not_interested": "Kein Interesse",
    "see_fewer": "Weniger davon zeigen",
    "withdraw": "Widerrufen",
    "profiling_off": "Profiling ausschalten",
    "profiling_on": "Profiling wieder einschalten",
    "profiling_is_off": "Profiling ist aus: Empfehlungen nutzen keine persönlichen Daten.",
    "profiling_is_on": "Profiling ist an: Empfehlungen können Ihre Aktivität nutzen.",
    "purpose": "Zweck",
    "status": "Status",
    "source": "Quelle",
    "auto_model": "Dies wurde automatisch von einem Computermodell entschieden.",
    "auto_pending": "Ein Mensch prüft dies, bevor es wirksam wird.",
    "auto_approved": "Ein Mensch hat dies geprüft und bestätigt.",
    "auto_overridden": "Ein Mensch hat dies geprüft und die Antwort geändert.",
    "auto_contested": "Sie haben eine Prüfung durch einen Menschen verlangt. Sie folgt.",
    "auto_list": "Diese Liste wurde automatisch von einem Computermodell ausgewählt.",
    "personal": "Nach Ihrer Aktivität",
    "popular": "Bei allen beliebt",
    "exploration": "Etwas Neues zum Ausprobieren",
    "long_tail": "Weniger bekannter Tipp",
    "promoted": "Beworben",
    "not_personal": "Nicht personalisiert: Diese Liste nutzt keine persönlichen Daten.",
    "done_withdraw": "Erledigt: Sie haben Ihre Einwilligung zu {what} widerrufen. Das gilt ab "
    "sofort.",
    "done_fewer": "Erledigt: Sie sehen weniger Empfehlungen wegen {what}.",
    "done_not_interested": "Erledigt: {what} wird Ihnen nicht mehr empfohlen.",
    "done_profiling_off": "Erledigt: Profiling ist aus. Ihre nächsten Empfehlungen nutzen keine "
    "persönlichen Daten.",
    "done_profiling_on": "Erledigt: Profiling ist wieder an.",
    "done_contest": "Erledigt: Ihre Bitte um Prüfung wurde gesendet. Ein Mensch sieht sie sich an.",
    "done_person": (
        "Erledigt: Wir haben einen Menschen gebeten, sich das anzusehen. Antwort bis {what}."
    ),
    "given": "erteilt", "renewed": "erteilt", "withdrawn": "widerrufen",
    "not_given": "nicht erteilt", "expired": "abgelaufen", "refused": "abgelehnt",
    "invalidated": "ungültig", "stale": "veraltet", "objected": "widersprochen",
    "not_required": "nicht nötig",
    "error": "Etwas ist schiefgegangen",
    "back_to_page": "Zurück zur Seite",
    "err_400": "Das ging nicht: Es trifft hier nicht zu. Es wurde nichts geändert.",
    "err_403": "Dieses Formular ist abgelaufen oder kam nicht von dieser Seite. Gehen Sie "
    "zurück, laden Sie die Seite neu und versuchen Sie es noch einmal. Es wurde nichts geändert.",
    "err_404": "Diesen Link oder Eintrag gibt es nicht, oder er gehört nicht Ihnen. Prüfen Sie "
    "den Link, den Sie bekommen haben.",
    "err_409": "Das geht im jetzigen Zustand nicht. Es wurde nichts geändert.",
    "err_410": "Dieser Link ist abgelaufen, oder die Daten, um die es ging, wurden gelöscht. "
    "Bitten Sie den Shop um einen neuen Link.",
    "err_422": "Das Gesendete konnte nicht angenommen werden (zum Beispiel eine Nachricht mit "
    "mehr als 2000 Zeichen). Gehen Sie zurück und versuchen Sie es noch einmal.",
    "err_other": "Bitte versuchen Sie es später noch einmal.",
    "back": "Zurück",
    "item": "Artikel",
}

_TEXTS = {"en": _EN, "de": _DE}


def texts(locale: str) -> dict[str, str]:
    """The page's words in ``locale`` (English for anything else)."""
    return _TEXTS.get(locale, _EN)


def choose_locale(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` wins; else the first of our locales in ``Accept-Language`` (by q); else en."""
    if query in LOCALES:
        return query
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if lang in LOCALES and (best is None or q > best[0]):
            best = (q, lang)
    return best[1] if best else "en"
