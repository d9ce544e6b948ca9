"""The review console (``/console``): reviewers work the queue; compliance officers verify the
ledger, make signed exports, read the fairness report and the models' cards and sign-offs.

Log in once with a bearer token; the session is an HttpOnly, SameSite=Strict cookie signed under
a key derived from the keyring, checked against the token view on every request.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..access import AccessToken
from ..errors import Forbidden, NotAuthenticated, WhylensError
from ..personalizer import Personalizer
from .api import export_root, export_zip, make_export
from .auth import LOGIN_COOKIE, SESSION_COOKIE, keys, personalizer, session_caller
from .charts import rate_chart, waterfall

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False)
FormText = Annotated[str, Form(max_length=2000)]
FormId = Annotated[str, Form(max_length=128)]  # as the JSON API's names and the why page's ids
STAFF = ("reviewer", "compliance")


def _page(request: Request, name: str, caller: AccessToken | None, **context: object
          ) -> HTMLResponse:
    session = request.cookies.get(SESSION_COOKIE, "")
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        name,
        {"caller": caller, "csrf": keys(request).csrf(f"console:{session}"), **context},
    )
    return response


def _post(request: Request, csrf: str, *roles: str) -> tuple[Personalizer, AccessToken]:
    caller = session_caller(request, *roles)
    keys(request).check_csrf(f"console:{request.cookies.get(SESSION_COOKIE, '')}", csrf)
    return personalizer(request), caller


# -- session ------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, failed: bool = False) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, "login.html",
        {"caller": None, "csrf": keys(request).csrf(f"login:{nonce}"), "failed": failed},
    )
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict",
                        secure=request.app.state.settings.secure_cookies, path="/console")
    return response


@router.post("/login")
def login(request: Request, token: FormText, csrf: FormId) -> Response:
    keys(request).check_csrf(f"login:{request.cookies.get(LOGIN_COOKIE, '')}", csrf)
    try:
        caller = personalizer(request).tokens.authenticate(token.strip())
    except NotAuthenticated:
        return RedirectResponse("/console/login?failed=true", status_code=303)
    if caller.role not in STAFF:
        raise Forbidden("the console is for reviewer and compliance tokens")
    settings = request.app.state.settings
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        keys(request).seal_session(caller.token_id, settings.session_ttl_seconds),
        max_age=settings.session_ttl_seconds, httponly=True, samesite="strict",
        secure=settings.secure_cookies, path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
def logout(request: Request, csrf: FormId) -> Response:
    _post(request, csrf, *STAFF)
    # the cookie alone is not the end: a copy of it would go on working until it expires
    _, session_id = keys(request).open_session(request.cookies.get(SESSION_COOKIE, ""))
    personalizer(request).tokens.end_session(session_id)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- the queue and one decision -----------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def queue(request: Request, model: str = "", trigger: str = "", contested: str = "",
          older_than_hours: float = 0.0) -> HTMLResponse:
    caller = session_caller(request, *STAFF)
    pending = personalizer(request).reviews.pending()
    models = sorted({d.model for d in pending})
    # a trigger reads "rule: its detail" (a probability, a sample seed): one option per rule
    triggers = sorted({_rule(d.review_trigger) for d in pending if d.review_trigger})
    cutoff = datetime.now(UTC) - timedelta(hours=max(0.0, min(older_than_hours, 1e5)))
    shown = [
        d for d in pending
        if (not model or d.model == model)
        and (not trigger or _rule(d.review_trigger or "") == trigger)
        and (contested != "yes" or d.contested)
        and (contested != "no" or not d.contested)
        and d.created_at <= cutoff
    ]
    return _page(request, "queue.html", caller, decisions=shown, models=models,
                 triggers=triggers, f={"model": model, "trigger": trigger,
                                       "contested": contested, "older": older_than_hours})


def _rule(trigger: str) -> str:
    return trigger.split(":", 1)[0].strip()


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(request: Request, decision_id: str, done: str = "") -> HTMLResponse:
    caller = session_caller(request, *STAFF)
    p = personalizer(request)
    d = p.decision(decision_id)
    ex = p.explain(decision_id, audience="reviewer")
    model = p.models.get(d.model, d.model_version)
    labels = {f.name: f.label for f in model.schema}
    try:
        cf = p.counterfactual(decision_id)
    except WhylensError:
        cf = None
    return _page(
        request, "decision.html", caller, d=d, ex=ex, cf=cf,
        # after erasure the score and contributions are gone with the person's key: no chart
        chart=waterfall(ex.contributions, labels, ex.base_value, ex.score)
        if ex.score is not None
        else "",
        notes=p.reviews.contest_messages(decision_id),
        outcomes=model.card.outcomes or (), done=done if done in ("approved", "overridden")
        else "",
    )


@router.post("/decisions/{decision_id}/approve")
def approve(request: Request, decision_id: str, csrf: FormId,
            note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    p, caller = _post(request, csrf, "reviewer")
    p.reviews.approve(decision_id, reviewer=caller.name, note=note or None)
    return RedirectResponse(f"/console/decisions/{decision_id}?done=approved", status_code=303)


@router.post("/decisions/{decision_id}/override")
def override(request: Request, decision_id: str, csrf: FormId, outcome: FormId,
             reason: FormText) -> Response:
    p, caller = _post(request, csrf, "reviewer")
    p.reviews.override(decision_id, outcome=outcome, reviewer=caller.name, reason=reason)
    return RedirectResponse(f"/console/decisions/{decision_id}?done=overridden", status_code=303)


# -- compliance ---------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, verified: str = "", checked: int = 0, export: str = ""
               ) -> HTMLResponse:
    caller = session_caller(request, "compliance")
    p = personalizer(request)
    cards = [(c, p.models.sign_off_of(c.name, c.version)) for c in p.models.list()]
    return _page(request, "audit.html", caller, verified=verified, checked=checked,
                 export=export if export.startswith("exp_") else "", cards=cards)


@router.post("/audit/verify")
def verify(request: Request, csrf: FormId) -> Response:
    p, _ = _post(request, csrf, "compliance")
    report = p.audit.verify()
    query = urlencode({"verified": "ok" if report.ok else "failed", "checked": report.checked})
    return RedirectResponse(f"/console/audit?{query}#verify", status_code=303)


@router.post("/audit/exports")
def export(request: Request, csrf: FormId) -> Response:
    p, _ = _post(request, csrf, "compliance")
    made = make_export(p, export_root(request))
    return RedirectResponse(f"/console/audit?export={made.export_id}#export", status_code=303)


@router.get("/audit/exports/{export_id}")
def download(request: Request, export_id: str) -> Response:
    session_caller(request, "compliance")
    return export_zip(export_root(request), export_id)


@router.get("/fairness", response_class=HTMLResponse)
def fairness(request: Request, model: str = "", group_by: str = "") -> HTMLResponse:
    caller = session_caller(request, "compliance")
    p = personalizer(request)
    models = sorted({c.name for c in p.models.list() if c.kind == "classifier"})
    report, problem, charts = None, None, {}
    if model and group_by:
        try:
            report = p.audit.fairness(model[:128], group_by=group_by[:128], bootstrap=200)
        except WhylensError as exc:
            problem = str(exc)
        if report is not None:
            flagged = set(report.flagged)
            charts = {
                "selection": rate_chart(
                    [(g.group, g.selection_rate, g.group in flagged) for g in report.groups],
                    title="selection rate by group"),
                "review": rate_chart(
                    [(g.group, g.review_rate, False) for g in report.groups],
                    title="review rate by group"),
            }
    # a select of what is stored: a typed name that nobody has gave a report of all "unknown"
    attributes = p.audit.protected.stored_names()
    return _page(request, "fairness.html", caller, models=models, attributes=attributes,
                 report=report, problem=problem, charts=charts,
                 f={"model": model, "group_by": group_by})


_REFERENCE_ROWS = 500


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
def logic_card_page(request: Request, name: str, version: int) -> HTMLResponse:
    """A classifier's logic card, measured on the inputs of its own recorded decisions (those
    whose subject was not erased); rankers need a reference set given in Python."""
    import pandas as pd

    caller = session_caller(request, "compliance")
    p = personalizer(request)
    model = p.models.get(name[:128], version)
    card, problem = None, None
    if model.kind != "classifier":
        problem = ("a ranker's logic card needs a reference set of candidate rows: "
                   "p.logic_card(model, reference) in Python")
    else:
        rows = []
        for decision_id in p.audit.decisions():
            state = p.audit.state(decision_id)
            if (state.model, state.model_version) != (model.name, model.version):
                continue
            inputs = p.reviews.case(decision_id, reviewer=caller.name).values
            if all(v is not None for v in inputs.values()):
                rows.append(inputs)
            if len(rows) >= _REFERENCE_ROWS:
                break
        if rows:
            card = p.logic_card(model, pd.DataFrame(rows, columns=list(model.schema.names)))
        else:
            problem = "this model has no recorded decisions with readable inputs yet"
    chart = None
    if card is not None:
        chart = rate_chart([(c.label, c.share, c.sensitive) for c in card.concepts],
                           title="share of the model's effect by concept")
    return _page(request, "logic.html", caller, model=model, card=card, problem=problem,
                 chart=chart, signed=p.models.sign_off_of(model.name, model.version))
