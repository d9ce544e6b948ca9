"""Bearer tokens for the HTTP API, recorded on the ledger (stream ``access``).

A token is shown once, when made; the ledger keeps only its SHA-256, its role and a name. Revoking
is a later entry. :class:`AccessTokens` is a view folded from those entries; it catches up with
the ledger before every check, so a token made or revoked by another process counts at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Literal, get_args

from ..errors import ConfigurationError, NotAuthenticated
from ..ledger import Ledger, LedgerEntry
from ..types import Frozen

if TYPE_CHECKING:
    from ..ledger.follow import LedgerFollower

__all__ = ["ROLES", "STREAM", "AccessToken", "AccessTokens", "Role", "TokenRecord"]

STREAM = "access"
_CREATE = "access.token"
_REVOKE = "access.revoke"
_END_SESSION = "access.session_ended"
_PREFIX = "wlt_"

Role = Literal["service", "reviewer", "compliance"]
ROLES: tuple[Role, ...] = get_args(Role)
_NAME = re.compile(r"^[A-Za-z0-9_.@:-]{1,64}$")
_TOKEN = re.compile(r"^wlt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")


class TokenRecord(Frozen):
    """What the ledger holds about a token: never the token itself."""

    token_id: str
    sha256: str
    role: Role
    name: str


class AccessToken(Frozen):
    """A token as listed: id, role, name, when made and whether revoked."""

    token_id: str
    role: Role
    name: str
    created_at: datetime
    revoked: bool = False


class AccessTokens:
    """``p.tokens``-style access to the API's bearer tokens (see the module docstring)."""

    def __init__(self, ledger: Ledger, follower: LedgerFollower | None = None) -> None:
        self._ledger = ledger
        self._follower = follower
        self._lock = threading.RLock()
        self._last_seq = 0
        self._by_id: dict[str, AccessToken] = {}
        self._by_hash: dict[str, str] = {}
        self._ended: set[str] = set()
        if follower is not None:
            follower.register(self, [STREAM])

    def reset(self) -> None:
        """Forget every folded entry (the follower rebuilds from the log)."""
        with self._lock:
            self._by_id, self._by_hash, self._last_seq = {}, {}, 0
            self._ended = set()

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``access`` ledger entry into the view."""
        with self._lock:
            self._apply(entry)

    def _apply(self, entry: LedgerEntry) -> None:
        if entry.kind == _CREATE:
            record = TokenRecord.model_validate(entry.data, strict=False)
            self._by_id[record.token_id] = AccessToken(
                token_id=record.token_id, role=record.role, name=record.name, created_at=entry.ts
            )
            self._by_hash[record.sha256] = record.token_id
        elif entry.kind == _REVOKE:
            token_id = str(entry.data["token_id"])
            known = self._by_id.get(token_id)
            if known is not None:
                self._by_id[token_id] = known.model_copy(update={"revoked": True})
        elif entry.kind == _END_SESSION:
            self._ended.add(str(entry.data["session_sha256"]))

    def catch_up(self) -> None:
        """Fold the entries appended since the last call (by any process)."""
        if self._follower is not None:
            self._follower.catch_up()  # the shared follower folds every registered view
            return
        with self._lock:
            for entry in self._ledger.entries(stream=STREAM, after_seq=self._last_seq):
                self._apply(entry)
                self._last_seq = max(self._last_seq, entry.seq)

    def create(self, role: str, name: str) -> tuple[str, AccessToken]:
        """Make a token for ``role``; returns ``(token, listing)``. The token is not kept."""
        if role not in ROLES:
            raise ConfigurationError(f"role must be one of {', '.join(ROLES)}")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError("name must be 1-64 letters, digits or . _ @ : -")
        token_id = secrets.token_hex(8)
        token = f"{_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        record = TokenRecord(token_id=token_id, sha256=_digest(token), role=role, name=name)
        self._ledger.append(STREAM, _CREATE, record.model_dump(mode="json"))
        self.catch_up()
        return token, self._by_id[token_id]

    def revoke(self, token_id: str) -> AccessToken:
        """Revoke a token by its id (as listed); effective for every process at once."""
        self.catch_up()
        known = self._by_id.get(token_id) if isinstance(token_id, str) else None
        if known is None:
            raise ConfigurationError("no token with that id; see `whylens tokens list`")
        if not known.revoked:
            self._ledger.append(STREAM, _REVOKE, {"token_id": token_id})
            self.catch_up()
        return self._by_id[token_id]

    def end_session(self, session_id: str) -> None:
        """A console session is over (logged out): its cookie stops working in every process,
        even a copy of it. Only the session id's SHA-256 goes on the ledger."""
        if not isinstance(session_id, str) or not session_id:
            raise ConfigurationError("a session id is a non-empty string")
        self._ledger.append(STREAM, _END_SESSION, {"session_sha256": _digest(session_id)})
        self.catch_up()

    def session_ended(self, session_id: str) -> bool:
        """Whether :meth:`end_session` was called for ``session_id`` (after catching up)."""
        self.catch_up()
        with self._lock:
            return _digest(session_id) in self._ended

    def list(self) -> list[AccessToken]:
        """Every token ever made, oldest first, revoked ones included."""
        self.catch_up()
        with self._lock:
            return sorted(self._by_id.values(), key=lambda t: t.created_at)

    def authenticate(self, token: str) -> AccessToken:
        """The live token ``token`` is, or :class:`NotAuthenticated`."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise NotAuthenticated("a bearer token looks like wlt_<id>_<secret>")
        self.catch_up()
        with self._lock:
            token_id = self._by_hash.get(_digest(token))
            found = self._by_id.get(token_id) if token_id is not None else None
        if found is None or found.revoked:
            raise NotAuthenticated("this token is unknown or revoked")
        return found

    def get(self, token_id: str) -> AccessToken | None:
        """A token by id after catching up (``None`` if unknown)."""
        self.catch_up()
        with self._lock:
            return self._by_id.get(token_id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
