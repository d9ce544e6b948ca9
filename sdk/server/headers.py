"""Security headers, the worker's time and the last-resort 500, as one pure ASGI middleware.

A pure ASGI middleware edits the ``http.response.start`` message on its way out. Starlette's
``BaseHTTPMiddleware`` (``@app.middleware("http")``) instead runs the rest of the app in a task
group and streams the body back through memory channels: about a third of the time a worker
spent on a ``/v1/decide`` request outside the facade went there.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import problems

__all__ = ["CSP", "SecurityHeaders"]

logger = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The Content-Security-Policy of every response but the interactive API docs."""


def is_page(path: str) -> bool:
    """Whether ``path`` is an HTML page (the why page or the console)."""
    return path.startswith(("/why/", "/console"))


class SecurityHeaders:
    """Adds the security headers and ``Server-Timing`` to every HTTP response, and answers an
    exception that nothing else handled with a bare problem+json 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        sent_start = False

        async def send_with_headers(message: Message) -> None:
            nonlocal sent_start
            if message["type"] == "http.response.start":
                sent_start = True
                headers = MutableHeaders(scope=message)
                # the time spent in this worker, so a client can tell it from the network's
                headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1e3:.2f}"
                headers["X-Content-Type-Options"] = "nosniff"
                # the why-link is a secret in the URL: never send it on as a referrer
                headers["Referrer-Policy"] = "no-referrer"
                if not path.startswith("/docs"):
                    headers["Content-Security-Policy"] = CSP
                    headers["X-Frame-Options"] = "DENY"
                if is_page(path) or path.startswith("/v1"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # answered here, so the exception (whose text may hold data) is never re-raised
            # into uvicorn's error log with its traceback
            logger.error("unexpected %s while serving a request", type(exc).__name__)
            if not sent_start:
                await problems.problem(500, "internal_error")(scope, receive, send_with_headers)
