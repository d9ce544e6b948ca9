"""Signed, expiring, subject-scoped links to the "why am I seeing this" page.

``p.links.why(subject)`` returns ``/why/<token>``. The token is canonical JSON — the subject's
pseudonym, an optional decision id, the expiry, and the subject id *encrypted under the subject's
own data key* (so the page can act for the person, and an erased person's links stop working) —
followed by an HMAC-SHA256 under a key derived from the keyring. The raw subject id never appears
in the token. Opening a link checks the MAC first, then the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

from .._canonical import canonical_json, loads
from ..audit.trail import AuditTrail
from ..crypto.field import field_aad
from ..errors import (
    CryptoError,
    DecisionNotFound,
    InvalidLink,
    LinkExpired,
    SubjectError,
)
from ..keys import SubjectKeys
from ..types import Frozen
from .keys import derive_key

__all__ = ["DEFAULT_TTL", "WhyLink", "WhyLinks"]

DEFAULT_TTL = timedelta(days=7)
_MAX_TTL = timedelta(days=90)
_VERSION = 1
_MAX_TOKEN = 1024
_FIELD = "why-link/subject"


class WhyLink(Frozen):
    """An opened, verified link: whose it is and what it may reach."""

    subject: str
    """The person's id in the application (decrypted; never shown or logged)."""
    pseudonym: str
    decision_id: str | None = None
    expires_at: datetime


class WhyLinks:
    """``p.links``: make and open why-links (see the module docstring)."""

    def __init__(self, mac_key: bytes, keys: SubjectKeys, audit: AuditTrail) -> None:
        self._key = derive_key(mac_key, "why-links/v1")
        self._keys = keys
        self._audit = audit

    def why(
        self, subject: str, decision_id: str | None = None, *, ttl: timedelta = DEFAULT_TTL
    ) -> str:
        """The path ``/why/<token>`` of ``subject``'s page, valid for ``ttl`` (at most 90 days).

        With ``decision_id`` the page opens on that decision, which must be the subject's own.
        """
        if not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= _MAX_TTL:
            raise InvalidLink("ttl must be a timedelta of more than 0 and at most 90 days")
        pseudo = self._keys.pseudonym(subject)
        if decision_id is not None and self._audit.state(decision_id).subject != pseudo:
            raise DecisionNotFound("no decision with that id for this subject")
        cipher = self._keys.cipher(pseudo, create=True)
        sealed = cipher.encrypt(subject.encode(), aad=field_aad(subject=pseudo, field=_FIELD))
        body = {
            "v": _VERSION,
            "p": pseudo,
            "d": decision_id,
            "e": int(time.time() + ttl.total_seconds()),
            "s": _b64(sealed),
        }
        payload = _b64(canonical_json(body))
        return f"/why/{payload}.{_b64(self._mac(payload))}"

    def open(self, token: str) -> WhyLink:
        """Verify ``token`` (the part after ``/why/``): :class:`InvalidLink` when it is not one
        of ours or its subject was erased, :class:`LinkExpired` past its expiry."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise InvalidLink("this link is not valid")
        payload, mac = token.split(".")
        try:
            given = _unb64(mac)
        except ValueError:
            raise InvalidLink("this link is not valid") from None
        if not hmac.compare_digest(given, self._mac(payload)):
            raise InvalidLink("this link is not valid")
        try:
            body = loads(_unb64(payload))
            pseudo, decision_id, expires = str(body["p"]), body["d"], int(body["e"])
            sealed = _unb64(str(body["s"]))
            if body["v"] != _VERSION:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise InvalidLink("this link is not valid") from None
        if time.time() >= expires:
            raise LinkExpired("this link has expired; ask for a new one")
        try:
            cipher = self._keys.cipher(pseudo, create=False)
            subject = cipher.decrypt(sealed, aad=field_aad(subject=pseudo, field=_FIELD)).decode()
        except (CryptoError, SubjectError):
            raise InvalidLink("this link is no longer valid") from None
        return WhyLink(
            subject=subject,
            pseudonym=pseudo,
            decision_id=decision_id if isinstance(decision_id, str) else None,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
