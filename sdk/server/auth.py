"""Who is calling: bearer tokens (API), console sessions, why-links, and anti-forgery tokens.

Each route states the roles it admits with ``Depends(role(...))``; pages use sessions (the
console) or the link in their path (the why page). Sessions and CSRF tokens are HMACs under keys
derived from the keyring, so they need no server-side storage and hold across workers; a session
names its token, which is checked against the ledger-folded token view on every request (a
revoked token ends its sessions at once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._canonical import canonical_json, loads
from ..access import AccessToken, WhyLink
from ..access.keys import derive_key
from ..errors import CsrfError, Forbidden, NotAuthenticated

if TYPE_CHECKING:
    from ..personalizer import Personalizer

__all__ = [
    "SESSION_COOKIE",
    "Keys",
    "current_personalizer",
    "personalizer",
    "role",
    "session_caller",
]

SESSION_COOKIE = "whylens_session"
LOGIN_COOKIE = "whylens_login"


class Keys:
    """The server's derived keys: sessions and anti-forgery tokens."""

    def __init__(self, mac_key: bytes) -> None:
        self._session = derive_key(mac_key, "server/session/v1")
        self._csrf = derive_key(mac_key, "server/csrf/v1")

    def seal_session(self, token_id: str, ttl: int) -> str:
        # "s": the session's own id, so that logging out can end this session (and only it)
        body = {"t": token_id, "e": int(time.time()) + ttl, "s": secrets.token_hex(16)}
        payload = _b64(canonical_json(body))
        return f"{payload}.{_b64(_mac(self._session, payload))}"

    def open_session(self, value: str) -> tuple[str, str]:
        """The token id a session cookie names and the session's own id (the whole cookie for
        sessions sealed before sessions had ids), or :class:`NotAuthenticated`."""
        try:
            payload, mac = value.split(".")
            ok = hmac.compare_digest(_unb64(mac), _mac(self._session, payload))
            body = loads(_unb64(payload)) if ok else None
            if body is None or int(body["e"]) <= time.time():
                raise ValueError
            return str(body["t"]), str(body.get("s") or value)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise NotAuthenticated("log in to the console with your token") from None

    def csrf(self, scope: str) -> str:
        """The anti-forgery token of a form bound to ``scope`` (a session or a link)."""
        return _mac(self._csrf, scope).hex()[:48]

    def check_csrf(self, scope: str, given: object) -> None:
        if not isinstance(given, str) or not hmac.compare_digest(given, self.csrf(scope)):
            raise CsrfError("the form expired or was not sent by this site; reload and retry")


def personalizer(request: Request) -> Personalizer:
    """The application's Personalizer (one per worker)."""
    p: Personalizer = request.app.state.p
    return p


def keys(request: Request) -> Keys:
    k: Keys = request.app.state.keys
    return k


def bearer_caller(request: Request) -> AccessToken:
    """The token in ``Authorization: Bearer ...``, checked against the ledger's token view."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("send Authorization: Bearer <token>")
    return personalizer(request).tokens.authenticate(token.strip())


# declares the scheme in OpenAPI (the Authorize button of /docs); the check is ours, so a
# missing or malformed header is our problem+json 401, not FastAPI's 403
_BEARER = HTTPBearer(auto_error=False, description="A token from `whylens tokens create`.")


async def current_personalizer(request: Request) -> Personalizer:
    """:func:`personalizer` as a dependency. ``async`` because it only reads app state: FastAPI
    runs a plain ``def`` dependency on the thread pool, a hop that costs more than the lookup."""
    return personalizer(request)


def role(*roles: str) -> Callable[..., Awaitable[AccessToken]]:
    """A dependency admitting bearer tokens of ``roles`` only.

    ``async``, so the check runs on the event loop instead of costing a thread-pool hop per
    request: it is a SHA-256 and a dict lookup after the token view's catch-up, which reads the
    ledger's head (one indexed read) and folds entries only when another process appended.
    """

    async def check(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
    ) -> AccessToken:
        caller = bearer_caller(request)
        if caller.role not in roles:
            raise Forbidden(f"this route is for the {' or '.join(roles)} role")
        return caller

    check.__name__ = f"role_{'_'.join(roles)}"
    return check


def session_caller(request: Request, *roles: str) -> AccessToken:
    """The console user of the session cookie, if their token is live and of ``roles``."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        raise NotAuthenticated("log in to the console with your token")
    token_id, session_id = keys(request).open_session(value)
    tokens = personalizer(request).tokens
    if tokens.session_ended(session_id):
        raise NotAuthenticated("this session was logged out; log in again")
    token = tokens.get(token_id)
    if token is None or token.revoked:
        raise NotAuthenticated("this session's token was revoked; log in again")
    if token.role not in roles:
        raise Forbidden(f"this page is for the {' or '.join(roles)} role")
    return token


def link_of(request: Request, token: str) -> WhyLink:
    """The verified why-link in the path."""
    return personalizer(request).links.open(token)


def _mac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
