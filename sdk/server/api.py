"""The JSON API under ``/v1``: one thin route per facade call, each with the roles it admits."""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from ..access import AccessToken
from ..audit.fairness import FairnessReport
from ..errors import ConfigurationError, ExportNotFound, Forbidden, WhylensError
from ..personalizer import Personalizer
from ..types import Audience, ConsentState, Decision, Explanation, Recommendations
from .auth import current_personalizer, role
from .jsonio import RawBody, json_body, json_response, parse
from .problems import PROBLEM_RESPONSES
from .schemas import (
    ApproveRequest,
    ConsentChange,
    ConsentResult,
    ContestRequest,
    DecideRequest,
    ExportRequest,
    ExportResult,
    FeatureInfo,
    LinkRequest,
    LinkResult,
    Locale,
    ModelInfo,
    OutcomeRequest,
    OutcomeResult,
    OverrideRequest,
    ProtectedRequest,
    ProtectedResult,
    RecommendRequest,
    VerifyResult,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
P = Annotated[Personalizer, Depends(current_personalizer)]
Service = Annotated[AccessToken, Depends(role("service"))]
Reviewer = Annotated[AccessToken, Depends(role("reviewer"))]
Compliance = Annotated[AccessToken, Depends(role("compliance"))]
Staff = Annotated[AccessToken, Depends(role("reviewer", "compliance"))]
Anyone = Annotated[AccessToken, Depends(role("service", "reviewer", "compliance"))]
GpcHeader = Annotated[str | None, Header(alias="Sec-GPC")]
_EXPORT_ID = re.compile(r"^exp_[0-9a-f]{24}$")


# -- consent ------------------------------------------------------------------------------------


def _consent(p: Personalizer, subject: str, body: ConsentChange, grant: bool, gpc: str | None
             ) -> ConsentResult:
    receipts = []
    if gpc is not None:
        applied = p.consent.apply_gpc(subject, gpc)
        if applied is not None:
            receipts.append(applied)
    tcf = None
    if body.tc_string is not None or body.vendor_id is not None:
        if body.tc_string is None or body.vendor_id is None:
            raise ConfigurationError("a TCF signal needs both tc_string and vendor_id")
        tcf = p.consent.apply_tcf(subject, body.tc_string, body.vendor_id, source=body.source,
                                  acknowledge_gpc_conflict=body.acknowledge_gpc_conflict)
        receipts.extend(tcf.receipts)
    if body.purposes:
        if grant:
            receipts.append(p.consent.grant(
                subject, body.purposes, notice=body.notice, source=body.source,
                acknowledge_gpc_conflict=body.acknowledge_gpc_conflict,
            ))
        else:
            receipts.append(p.consent.withdraw(subject, body.purposes, source=body.source))
    elif tcf is None and gpc is None:
        raise ConfigurationError("name purposes, or send a tc_string with vendor_id, or Sec-GPC")
    return ConsentResult(receipts=tuple(receipts), tcf=tcf, state=p.consent.state(subject))


@router.post("/consent/{subject}/grant", tags=["consent"])
def consent_grant(
    subject: str, body: ConsentChange, p: P, _: Service, sec_gpc: GpcHeader = None
) -> ConsentResult:
    """Grant purposes (or apply a TCF string); a ``Sec-GPC: 1`` header is recorded first."""
    return _consent(p, subject, body, True, sec_gpc)


@router.post("/consent/{subject}/withdraw", tags=["consent"])
def consent_withdraw(
    subject: str, body: ConsentChange, p: P, _: Service, sec_gpc: GpcHeader = None
) -> ConsentResult:
    """Withdraw purposes (or apply a TCF string); effective for the very next decision."""
    return _consent(p, subject, body, False, sec_gpc)


@router.get("/consent/{subject}", tags=["consent"])
def consent_state(subject: str, p: P, _: Service, sec_gpc: GpcHeader = None) -> ConsentState:
    """The subject's consent to every purpose now (after recording a ``Sec-GPC`` header)."""
    if sec_gpc is not None:
        p.consent.apply_gpc(subject, sec_gpc)
    return p.consent.state(subject)


# -- models -------------------------------------------------------------------------------------


@router.get("/models", tags=["models"])
def models(p: P, _: Anyone) -> list[ModelInfo]:
    """Every model version, with the features its requests take (newest version first)."""
    out = []
    for card in sorted(p.models.list(), key=lambda c: (c.name, -c.version)):
        schema = p.models.get(card.name, card.version).schema
        try:
            serving = p.models.serving(card.name).version == card.version
        except WhylensError:
            serving = False
        out.append(ModelInfo(
            name=card.name, version=card.version, kind=card.kind,
            signed_off=p.models.sign_off_of(card.name, card.version) is not None,
            serving=serving,
            outcomes=tuple(card.outcomes) if card.outcomes is not None else None,
            features=tuple(
                FeatureInfo(name=f.name, kind=f.kind, purpose=f.purpose,
                            categories=f.codes if f.is_categorical else None)
                for f in schema
            ),
        ))
    return out


# -- the decision path --------------------------------------------------------------------------


# These two are the hot path: a plain ``def`` so the facade runs on the thread pool (it blocks on
# the ledger's commit), with the body parsed and the answer dumped in that same hop (jsonio).


@router.post("/recommend", tags=["decisions"], response_model=Recommendations,
             openapi_extra=json_body(RecommendRequest))
def recommend(_: Service, p: P, raw: RawBody) -> Response:
    """Rank candidates for a subject: consent-checked, explained, audited."""
    body = parse(RecommendRequest, raw)
    return json_response(p.recommend(
        body.subject,
        body.candidates,
        model=body.model,
        k=body.k,
        locale=body.locale,
        item_column=body.item_column,
    ))


@router.post("/decide", tags=["decisions"], response_model=Decision,
             openapi_extra=json_body(DecideRequest))
def decide(_: Service, p: P, raw: RawBody) -> Response:
    """One automated decision, held for a person when the model's review policy says so."""
    body = parse(DecideRequest, raw)
    return json_response(
        p.decide(body.subject, body.features, model=body.model, locale=body.locale)
    )


@router.get("/decisions/{decision_id}", tags=["decisions"])
def decision(decision_id: str, p: P, _: Anyone, locale: Locale = "en") -> Decision:
    """The effective state of a decision (after any review)."""
    return p.decision(decision_id, locale=locale)


@router.get("/decisions/{decision_id}/explanation", tags=["decisions"])
def explanation(
    decision_id: str,
    p: P,
    caller: Anyone,
    audience: Audience = "end_user",
    locale: Locale = "en",
    item_id: Annotated[str | None, Query(max_length=128)] = None,
) -> Explanation:
    """Why: for the person (any role), or for a reviewer or auditor (staff roles only)."""
    if audience != "end_user" and caller.role == "service":
        raise Forbidden("reviewer and auditor explanations are for staff roles")
    return p.explain(decision_id, audience=audience, locale=locale, item_id=item_id)


@router.post("/decisions/{decision_id}/contest", tags=["decisions"])
def contest(decision_id: str, body: ContestRequest, p: P, _: Service) -> Decision:
    """The person asks for a human to review the decision; their message is stored encrypted."""
    return p.contest(decision_id, message=body.message)


# -- review -------------------------------------------------------------------------------------


@router.get("/reviews/pending", tags=["review"])
def pending(p: P, _: Staff) -> list[Decision]:
    """Decisions waiting for a person, oldest first."""
    return p.reviews.pending()


@router.post("/reviews/{decision_id}/approve", tags=["review"])
def approve(
    decision_id: str, p: P, caller: Reviewer, body: ApproveRequest | None = None
) -> Decision:
    """Confirm a held decision (the reviewer is the token's name); the body is optional."""
    return p.reviews.approve(
        decision_id, reviewer=caller.name, note=body.note if body is not None else None
    )


@router.post("/reviews/{decision_id}/override", tags=["review"])
def override(decision_id: str, body: OverrideRequest, p: P, caller: Reviewer) -> Decision:
    """Change a decision's outcome, with a reason."""
    return p.reviews.override(
        decision_id, outcome=body.outcome, reviewer=caller.name, reason=body.reason
    )


# -- audit --------------------------------------------------------------------------------------


@router.get("/audit/verify", tags=["audit"])
def verify(p: P, _: Compliance) -> VerifyResult:
    """Check the whole ledger: hash chain, Merkle tree and signed head."""
    return VerifyResult(audit=p.audit.verify())


def export_root(request: Request) -> Path:
    root: Path = request.app.state.export_dir
    return root


def make_export(p: Personalizer, root: Path, request: ExportRequest | None = None
                ) -> ExportResult:
    """Write a signed export into a fresh folder under ``root``."""
    what = request or ExportRequest()
    export_id = f"exp_{secrets.token_hex(12)}"
    manifest = p.audit.export(
        root / export_id, format=what.format, since=what.since, until=what.until,
        model=what.model,
    )
    return ExportResult(
        export_id=export_id, download=f"/v1/audit/exports/{export_id}", manifest=manifest
    )


@router.post("/audit/exports", tags=["audit"], status_code=201)
def create_export(
    request: Request, p: P, _: Compliance, body: ExportRequest | None = None
) -> ExportResult:
    """Export the ledger with a signed manifest (verifiable offline); download it as a zip.
    The body is optional: ``format``, ``since``/``until`` and ``model`` narrow it."""
    return make_export(p, export_root(request), body)


def export_zip(root: Path, export_id: str) -> StreamingResponse:
    """A made export as a zip download."""
    folder = root / export_id
    if not _EXPORT_ID.match(export_id) or not folder.is_dir():
        raise ExportNotFound("no export with that id")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f"{export_id}/{f.name}")
    buffer.seek(0)
    return StreamingResponse(
        buffer,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{export_id}.zip"'},
    )


@router.get("/audit/exports/{export_id}", tags=["audit"], response_class=StreamingResponse)
def download_export(export_id: str, request: Request, _: Compliance) -> StreamingResponse:
    """Download a made export (a zip of the manifest and records)."""
    return export_zip(export_root(request), export_id)


# -- links --------------------------------------------------------------------------------------


@router.post("/links", tags=["links"], status_code=201)
def link(body: LinkRequest, request: Request, p: P, _: Service) -> LinkResult:
    """A signed, expiring link to the subject's own "why am I seeing this" page."""
    ttl = timedelta(seconds=body.ttl_seconds or request.app.state.settings.link_ttl_seconds)
    path = p.links.why(body.subject, body.decision_id, ttl=ttl)
    return LinkResult(path=path, expires_at=datetime.now(UTC) + ttl)


# -- what the fairness audit reads --------------------------------------------------------------
# The application knows both (from a form, from what happened later), so the service role sends
# them; only the compliance role reads the report built from them.


@router.put("/subjects/{subject}/protected", tags=["fairness"])
def put_protected(subject: str, body: ProtectedRequest, p: P, _: Service) -> ProtectedResult:
    """Store (replace) the subject's protected attributes, encrypted under their key; only the
    fairness audit reads them (a protected attribute cannot be a model feature)."""
    p.audit.protected.put(subject, body.attributes)
    return ProtectedResult(names=tuple(sorted(body.attributes)))


@router.post("/decisions/{decision_id}/outcome", tags=["fairness"])
def record_outcome(decision_id: str, body: OutcomeRequest, p: P, _: Service) -> OutcomeResult:
    """Record what really happened after a decision (one of the model's outcomes); the last one
    recorded counts. The fairness audit's error rates are computed from these."""
    entry = p.audit.record_outcome(decision_id, body.actual)
    return OutcomeResult(decision_id=decision_id, actual=body.actual, seq=entry.seq)


@router.get("/audit/fairness", tags=["audit"])
def fairness(
    p: P,
    _: Compliance,
    model: Annotated[str, Query(min_length=1, max_length=128)],
    group_by: Annotated[str, Query(min_length=1, max_length=64)],
    bootstrap: Annotated[int, Query(ge=0, le=2000)] = 200,
    seed: int = 0,
) -> FairnessReport:
    """Selection, error, review and override rates of ``model``'s decisions per group of the
    protected attribute ``group_by``, with bootstrap intervals and four-fifths flags."""
    return p.audit.fairness(model, group_by=group_by, bootstrap=bootstrap, seed=seed)
