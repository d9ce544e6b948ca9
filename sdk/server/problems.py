"""RFC 9457 problem details: every error leaves the server as ``application/problem+json``.

The status of a whylens error comes from ONE table, :data:`STATUS`, looked up along the error's
class hierarchy; the body carries the error's stable ``code``. Errors meant for the caller (4xx)
keep their message, which by whylens's rules carries no personal data; anything unexpected becomes
a bare 500 that names only the code.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors as e

__all__ = ["PROBLEM_RESPONSES", "STATUS", "Problem", "problem", "problem_media_type", "status_of"]

logger = logging.getLogger(__name__)

STATUS: dict[type[e.WhylensError], int] = {
    e.NotAuthenticated: 401,
    e.Forbidden: 403,
    e.CsrfError: 403,
    e.InvalidLink: 404,
    e.LinkExpired: 410,
    e.DecisionNotFound: 404,
    e.ExportNotFound: 404,
    e.ModelNotFound: 404,
    e.UnknownSubject: 404,
    e.SubjectErased: 410,
    e.ReviewStateError: 409,
    e.GPCConflict: 409,
    e.ModelNotSignedOff: 409,
    # the stored state conflicts with what was signed off / committed: not the caller's fault
    # (no 4xx-for-bad-input), not transient (a 503 would invite retries that cannot help), and
    # not a crash (500) - the operator must re-sign-off or restore, as the message says
    e.ModelTampered: 409,
    e.SubjectDataTampered: 409,
    e.KeyScheduleTampered: 409,
    e.WitnessOriginConflict: 409,
    e.KeyScheduleTampered: 409,
    e.ConsentUnavailable: 503,
    e.StoreUnavailable: 503,
    e.ConfigurationError: 400,
    e.ConsentError: 400,
    e.SubjectError: 400,
    e.FeatureError: 422,
    e.WrongModelKind: 422,
    e.ModelError: 400,
    e.ExplanationError: 422,
    e.AuditError: 400,
    e.AccessError: 403,
}
"""whylens error class -> HTTP status; a class not listed takes its nearest listed base, and
errors with no listed base (integrity, keyring, crypto) are server faults (500)."""

_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal error",
    503: "Unavailable",
}


def status_of(exc: e.WhylensError) -> int:
    """The HTTP status of a whylens error (see :data:`STATUS`)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def problem(status: int, code: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://whylens.dev/problems/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type="application/problem+json",
                        headers=headers)


async def whylens_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.WhylensError)
    status = status_of(exc)
    if status >= 500:
        logger.warning("request failed with %s", exc.code)
        return problem(status, exc.code)
    return problem(status, exc.code, str(exc))


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # pydantic's errors echo the input: keep only where and what, never the value
    issues = [
        {"loc": [str(x) for x in err.get("loc", ())], "msg": _message(err)}
        for err in exc.errors()
    ]
    detail = "the request does not match the schema"
    sent_as = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent_as != "application/json" and any(i["loc"][:1] == ["body"] for i in issues):
        # FastAPI reads a body sent without this header as no JSON at all
        detail += "; send the body as JSON with Content-Type: application/json"
    return problem(422, "invalid_request", detail, errors=issues[:20])


def _message(err: Any) -> str:
    if err.get("type") == "json_invalid":
        return "the body is not valid JSON (loc gives the character position)"
    return str(err.get("msg", ""))


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
    return problem(exc.status_code, code, detail)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # the type only: an exception's text may hold data it was raised about
    logger.error("unexpected %s while serving a request", type(exc).__name__)
    return problem(500, "internal_error")


class ProblemIssue(BaseModel):
    """One schema violation of a 422: where, and what (never the value sent)."""

    loc: list[str]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem details body (media type ``application/problem+json``)."""

    type: str
    title: str
    status: int
    code: str
    """The error's stable code (``sdk.errors``): what a client switches on."""
    detail: str | None = None
    errors: list[ProblemIssue] | None = None
    """For ``invalid_request`` (422): up to 20 schema violations."""


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": _TITLES[status]}
    for status in (400, 401, 403, 404, 409, 410, 422)
}
"""The error responses every ``/v1`` route documents (FastAPI ``responses=``)."""


def problem_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every 4xx/5xx body as ``application/problem+json`` (FastAPI
    writes ``application/json`` for documented responses)."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if str(status)[0] in "45" and content and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return schema
