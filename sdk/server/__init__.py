"""The optional HTTP server (extra ``[server]``): JSON API, the why page and the review console.

A thin adapter over :class:`~sdk.Personalizer`: routes parse, check who may call them and hand
over to the facade; errors become RFC 9457 problem documents. ``whylens serve`` runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]

_HINT = "the HTTP server needs its extra: pip install 'whylens[server]'"


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI application over the store that ``settings`` names (default: from the
    ``WHYLENS_*`` environment variables)."""
    try:
        from .app import build_app
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from ..errors import ConfigurationError

        raise ConfigurationError(_HINT) from exc
    return build_app(settings)


def __getattr__(name: str) -> Any:
    if name == "ServerSettings":
        try:
            from .settings import ServerSettings
        except ImportError as exc:  # pragma: no cover
            from ..errors import ConfigurationError

            raise ConfigurationError(_HINT) from exc
        return ServerSettings
    raise AttributeError(name)
