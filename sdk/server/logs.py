"""Access logs without personal data: paths redacted, query strings and client addresses dropped.

The why-link token and subject ids travel in paths (``/why/<token>``,
``/v1/consent/<subject>/...``); uvicorn's access log would print them, so a filter on the
``uvicorn.access`` logger rewrites each record before any handler sees it.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactPaths", "install", "redact_path"]

_RULES = (
    (re.compile(r"^/why/[^/?#]+"), "/why/<link>"),
    (re.compile(r"^/v1/consent/[^/?#]+"), "/v1/consent/<subject>"),
    (re.compile(r"^/v1/decisions/[^/?#]+"), "/v1/decisions/<id>"),
    (re.compile(r"^/v1/reviews/(?!pending)[^/?#]+"), "/v1/reviews/<id>"),
    (re.compile(r"^/console/decisions/[^/?#]+"), "/console/decisions/<id>"),
)


def redact_path(path: str) -> str:
    """``path`` without its query and with ids and tokens replaced by placeholders."""
    path = path.split("?", 1)[0]
    for pattern, placeholder in _RULES:
        path = pattern.sub(placeholder, path)
    return path


class RedactPaths(logging.Filter):
    """Rewrites uvicorn access records: ``(client, method, path, version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _, method, path, version, status = args
            record.args = ("-", method, redact_path(str(path)), version, status)
        return True


def install() -> None:
    """Put the filter on uvicorn's access logger (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactPaths) for f in logger.filters):
        logger.addFilter(RedactPaths())
