"""The "why am I seeing this" page (``/why/<token>``): the person's own decisions and lists,
why, and controls that act at once. Server-rendered; works without JavaScript.

Every form posts back with an anti-forgery token bound to the link, acts through the facade, and
redirects (303) to the page with a message saying what was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..access import WhyLink
from ..errors import ConfigurationError, DecisionNotFound, WhylensError
from ..explain.narrative import outcome_word
from ..personalizer import Personalizer
from ..types import HELD_OUTCOME, Decision
from .auth import keys, link_of, personalizer
from .charts import Bar, bars
from .i18n import choose_locale, texts

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_RECENT = 12
_ITEMS = 5
FormText = Annotated[str, Form(max_length=2000)]
FormId = Annotated[str, Form(max_length=128)]
HUMAN_INTERVENTION = "human_intervention"
"""The contact topic of the page's "ask for a person": on the ``person`` route by default."""


@dataclass
class DecisionCard:
    decision: Decision
    disclosure: str
    why: str
    bars: list[Bar]
    change: str | None
    highlighted: bool
    outcome: str = ""
    """The outcome in the page's language."""
    when: str = ""


@dataclass
class ItemCard:
    item_id: str
    source: str
    why: str
    bars: list[Bar]
    concept: str | None


@dataclass
class RequestCard:
    case_id: str
    about: str
    state: str
    status: str


@dataclass
class ListCard:
    decision_id: str
    personalized: bool
    items: list[ItemCard] = field(default_factory=list)


def _disclosure(d: Decision, t: dict[str, str]) -> str:
    if d.contested:
        return t["auto_contested"]
    return {
        "automated": t["auto_model"],
        "pending_review": t["auto_pending"],
        "approved": t["auto_approved"],
        "overridden": t["auto_overridden"],
    }.get(d.status, t["auto_model"])


def _decision_card(p: Personalizer, decision_id: str, link: WhyLink, locale: str,
                   t: dict[str, str]) -> DecisionCard:
    d = p.decision(decision_id, locale=locale)
    ex = p.explain(decision_id, locale=locale)
    change = None
    if d.status not in ("overridden",) and not d.contested and d.outcome != HELD_OUTCOME:
        try:
            cf = p.counterfactual(decision_id, locale=locale)
            change = cf.text if cf.found else t["no_change"]
        except WhylensError:
            change = None
    return DecisionCard(d, _disclosure(d, t), ex.text, bars(ex.reasons), change,
                        link.decision_id == decision_id,
                        outcome=outcome_word(d.outcome, locale), when=_day(d.created_at, locale))


def _list_card(p: Personalizer, decision_id: str, locale: str) -> ListCard:
    entry, _ = p.audit.entries_of(decision_id)
    card = ListCard(decision_id, bool(entry.data.get("personalized")))
    for item in entry.data.get("items", [])[:_ITEMS]:
        ex = p.explain(decision_id, locale=locale, item_id=item["item_id"])
        top = ex.reasons[0].concept if ex.reasons else None
        card.items.append(
            ItemCard(str(item["item_id"]), str(item["source"]), ex.text, bars(ex.reasons), top)
        )
    return card


def _render(request: Request, link: WhyLink, token: str, locale: str, done: str | None,
            what: str | None) -> HTMLResponse:
    p = personalizer(request)
    t = texts(locale)
    decisions: list[DecisionCard] = []
    lists: list[ListCard] = []
    for record in reversed(p.audit.records_of_subject(link.pseudonym)[-_RECENT:]):
        kind = p.audit.state(record).kind
        if kind == "decision":
            decisions.append(_decision_card(p, record, link, locale, t))
        elif len(lists) < 3:
            lists.append(_list_card(p, record, locale))
    state = p.consent.state(link.subject)
    purposes = [
        (pid, p.consent.purposes.get(pid).name, status)
        for pid, status in state.purposes.items()
        if p.consent.purposes.get(pid).needs_consent
    ]
    message = t.get(f"done_{done}", "").format(what=what or "") if done else None
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        "why.html",
        {
            "t": t,
            "locale": locale,
            "base": f"/why/{token}",
            "csrf": keys(request).csrf(f"why:{token}"),
            "decisions": decisions,
            "lists": lists,
            "purposes": purposes,
            "profiling": p.preferences.state(link.subject).profiling,
            "requests": _requests(p, link, locale),
            "message": message,
        },
    )
    return response


@router.get("/why/{token}", response_class=HTMLResponse)
def why_page(token: str, request: Request, lang: str | None = None, done: str | None = None,
             what: str | None = None, sig: str | None = None) -> HTMLResponse:
    link = link_of(request, token)
    locale = choose_locale(lang, request.headers.get("accept-language"))
    if done is not None and sig != _what_sig(request, token, done, what or ""):
        done, what = None, None
    return _render(request, link, token, locale, done, what)


def _act(request: Request, token: str, csrf: str, lang: str) -> tuple[Personalizer, WhyLink]:
    link = link_of(request, token)
    keys(request).check_csrf(f"why:{token}", csrf)
    return personalizer(request), link


def _what_sig(request: Request, token: str, done: str, what: str) -> str:
    # the message is only shown as sent by us: a crafted ?what= cannot put words on the page
    return keys(request).csrf(f"what:{token}:{done}:{what}")


def _back(request: Request, token: str, lang: str, done: str, what: str | None = None
          ) -> Response:
    query = {"lang": lang if lang in ("en", "de") else "en", "done": done}
    if what:
        query["what"] = what[:128]
    query["sig"] = _what_sig(request, token, done, query.get("what", ""))
    return RedirectResponse(f"/why/{token}?{urlencode(query)}#message", status_code=303)


def _own(p: Personalizer, link: WhyLink, decision_id: str) -> str:
    """A decision id of this link's subject (another person's is simply not found)."""
    try:
        owner = p.audit.state(decision_id).subject
    except DecisionNotFound:
        owner = None
    if owner != link.pseudonym:
        raise DecisionNotFound("no such decision on this page")
    return decision_id


@router.post("/why/{token}/withdraw")
def withdraw(token: str, request: Request, csrf: FormId, purpose: FormId,
             lang: FormId = "en") -> Response:
    p, link = _act(request, token, csrf, lang)
    state = p.consent.state(link.subject).purposes.get(purpose)
    if state not in ("given", "renewed"):
        # the page offers withdrawal only of a purpose given; anything else would say "done"
        # about nothing
        raise ConfigurationError("that purpose has no consent of yours to withdraw")
    p.consent.withdraw(link.subject, purpose, source="why-page")
    return _back(request, token, lang, "withdraw", p.consent.purposes.get(purpose).name)


@router.post("/why/{token}/fewer")
def fewer(token: str, request: Request, csrf: FormId, concept: FormId,
          lang: FormId = "en") -> Response:
    p, link = _act(request, token, csrf, lang)
    if concept not in _concepts(p):
        raise ConfigurationError("no recommendation here is made because of that")
    p.preferences.see_fewer(link.subject, concept)
    return _back(request, token, lang, "fewer", concept)


@router.post("/why/{token}/not-interested")
def not_interested(token: str, request: Request, csrf: FormId, item_id: FormId,
                   lang: FormId = "en") -> Response:
    p, link = _act(request, token, csrf, lang)
    p.preferences.not_interested(link.subject, item_id)
    return _back(request, token, lang, "not_interested", item_id)


@router.post("/why/{token}/profiling")
def profiling(token: str, request: Request, csrf: FormId,
              enabled: Annotated[Literal["on", "off"], Form()], lang: FormId = "en") -> Response:
    p, link = _act(request, token, csrf, lang)
    on = enabled == "on"
    p.preferences.set_profiling(link.subject, on)
    return _back(request, token, lang, "profiling_on" if on else "profiling_off")


@router.post("/why/{token}/contest")
def contest(token: str, request: Request, csrf: FormId, decision_id: FormId, message: FormText,
            lang: FormId = "en") -> Response:
    p, link = _act(request, token, csrf, lang)
    p.contest(_own(p, link, decision_id), message=message)
    return _back(request, token, lang, "contest")


@router.post("/why/{token}/person")
def ask_person(token: str, request: Request, csrf: FormId, decision_id: FormId = "",
               message: FormText = "", lang: FormId = "en") -> Response:
    """Ask for a person (GDPR Art. 22(3)): a contact case on the ``person`` route, about one
    decision or in general; the message is stored encrypted under the person's key."""
    p, link = _act(request, token, csrf, lang)
    case = p.contact.request(
        link.subject,
        decision_id=_own(p, link, decision_id) if decision_id else None,
        message=message.strip() or texts(lang)["ask_person_note"],
        topic=HUMAN_INTERVENTION,
    )
    return _back(request, token, lang, "person", _day(case.due_at, lang))


def _concepts(p: Personalizer) -> set[str]:
    """The concepts of the rankers being served: what "see fewer" can name."""
    out: set[str] = set()
    for card in p.models.list():
        if card.kind == "ranker":
            out.update(c.name for c in p.models.get(card.name, card.version).schema.concepts)
    return out


def _day(at: datetime, locale: str) -> str:
    return at.strftime("%d.%m.%Y %H:%M UTC" if locale == "de" else "%Y-%m-%d %H:%M UTC")


def _requests(p: Personalizer, link: WhyLink, locale: str) -> list[RequestCard]:
    t = texts(locale)
    out = []
    for case in reversed(p.contact.of_subject(link.subject)[-_RECENT:]):
        if case.status == "closed":
            state = t["request_closed"].format(closed=_day(case.closed_at or case.due_at, locale))
        else:
            state = t[f"request_{case.status}"].format(due=_day(case.due_at, locale))
        about = t["request_about_decision" if case.decision_id else "request_general"]
        out.append(RequestCard(case.case_id, about, state, case.status))
    return out
