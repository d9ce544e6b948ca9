"""Assembles the FastAPI application: routes, error handling, security headers, templates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import WhylensError
from ..personalizer import Personalizer
from . import api, console, logs, problems, why
from .auth import Keys
from .headers import SecurityHeaders, is_page
from .i18n import choose_locale, texts
from .jsonio import body_schemas
from .settings import ServerSettings

__all__ = ["build_app"]

_HERE = Path(__file__).parent


def _is_page(request: Request) -> bool:
    return is_page(request.url.path)


def _page_error(request: Request, status: int, code: str) -> Response:
    if status == 401 and request.url.path.startswith("/console"):
        return RedirectResponse("/console/login", status_code=303)
    locale = choose_locale(request.query_params.get("lang"),
                           request.headers.get("accept-language"))
    templates: Jinja2Templates = request.app.state.templates
    t = texts(locale)
    return templates.TemplateResponse(
        request, "error.html", {"t": t, "locale": locale, "status": status, "code": code,
                                "caller": None, "explain": t.get(f"err_{status}", t["err_other"]),
                                "back": _back_to(request.url.path)}, status_code=status,
    )


def _back_to(path: str) -> str | None:
    """Where the error page's "back" goes: the why page a form was posted from, or the console."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "why" and parts[2]:
        return f"/why/{parts[2]}"
    if parts[1:2] == ["console"]:
        return "/console"
    return None


def _handlers(app: FastAPI) -> None:
    async def whylens_error(request: Request, exc: Exception) -> Response:
        if _is_page(request):
            assert isinstance(exc, WhylensError)
            return _page_error(request, problems.status_of(exc), exc.code)
        return await problems.whylens_error(request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        if _is_page(request):
            return _page_error(request, 422, "invalid_request")
        return await problems.validation_error(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        if _is_page(request) and isinstance(exc, StarletteHTTPException):
            return _page_error(request, exc.status_code, f"http_{exc.status_code}")
        return await problems.http_error(request, exc)

    app.add_exception_handler(WhylensError, whylens_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, problems.unexpected_error)


def build_app(settings: ServerSettings | None = None) -> FastAPI:
    """See :func:`sdk.server.create_app`."""
    settings = settings or ServerSettings()
    logs.install()
    p = Personalizer.open(
        settings.db,
        keyring=settings.keyring,
        require_sign_off=settings.require_sign_off,
        signing_key=settings.signing_key,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        p.close()

    app = FastAPI(
        title="whylens",
        version=__version__,
        summary="Consent-checked, explained and audited recommendations and decisions.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.p = p
    app.state.keys = Keys(p.keyring.mac_key)
    if settings.export_dir:
        app.state.export_dir = Path(settings.export_dir)
    elif "://" in settings.db:
        # a server store has no folder of its own: beside the keyring, which is local
        ring = Path(settings.keyring or "whylens.keyring")
        app.state.export_dir = ring.with_name(ring.name + ".exports")
    else:
        db_path = Path(settings.db)
        app.state.export_dir = db_path.with_name(db_path.name + ".exports")
    app.state.templates = Jinja2Templates(directory=str(_HERE / "templates"))
    _handlers(app)

    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the worker is up and its store open."""
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return RedirectResponse("/console", status_code=303)

    app.include_router(api.router)
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = problems.problem_media_type(default_openapi())
            schema.setdefault("components", {}).setdefault("schemas", {}).update(body_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(why.router)
    app.include_router(console.router)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    return app


def app_from_env() -> FastAPI:
    """The factory ``whylens serve`` gives uvicorn: settings from ``WHYLENS_*`` variables, so
    each worker process opens the store itself."""
    return build_app(ServerSettings())
