"""Versioned privacy notices: registered on the ledger, referenced by every grant.

A notice version is identified by ``(notice_id, version, language)`` and pinned by the SHA-256 of
the exact text shown. Registering a new version of a notice makes consents given under an older
version ``stale`` from that moment on (see :mod:`sdk.consent.state`); stale consent does not
authorise processing unless the app opts in (``p.consent.configure(accept_stale=True)``).

Versions of one ``notice_id`` form a sequence in registration order; the *current* version at a
moment is the last one registered before it. Translations share a version: registering the German
text of version ``"3"`` does not make English consents under ``"3"`` stale.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InvalidConsentEvent
from ..types import Notice

__all__ = ["NOTICE_KIND", "NoticeRegistry", "RegisteredNotice"]

NOTICE_KIND = "consent.notice"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}")


@dataclass(frozen=True, slots=True)
class RegisteredNotice:
    """A notice version as recorded on the ledger."""

    notice: Notice
    seq: int
    at: datetime


class NoticeRegistry:
    """``p.consent.notices``: register notice versions and look them up (rebuilt from the log)."""

    def __init__(
        self,
        record: Callable[[dict[str, Any]], object] | None = None,
        *,
        sync: Callable[[], object] | None = None,
    ) -> None:
        self._record = record
        self._sync = sync
        """Brings the registry up to date with the ledger (versions other processes registered)."""
        self._lock = threading.RLock()
        self._by_id: dict[str, list[RegisteredNotice]] = {}
        self.on_change: Callable[[], None] | None = None

    def register(
        self, notice_id: str, *, version: str, text: str | bytes, language: str = "en"
    ) -> Notice:
        """Record that version ``version`` of notice ``notice_id`` in ``language`` is ``text``.

        Idempotent for the same text; a different text under a version already registered raises
        :class:`InvalidConsentEvent` (give changed text a new version). The text itself is not
        stored, only its SHA-256.
        """
        for name, value, pattern in (
            ("notice_id", notice_id, _ID),
            ("version", version, _VERSION),
            ("language", language, _LANG),
        ):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise InvalidConsentEvent(f"notice {name} is malformed (see the docs for its form)")
        if isinstance(text, str):
            text = text.encode("utf-8", "surrogatepass")
        if not isinstance(text, bytes) or not text:
            raise InvalidConsentEvent("a notice needs the non-empty text that is shown")
        notice = Notice(
            notice_id=notice_id,
            version=version,
            language=language,
            text_sha256=hashlib.sha256(text).hexdigest(),
        )
        if self._sync is not None:
            self._sync()
        with self._lock:
            existing = self.get(notice_id, version, language)
            if existing is not None:
                if existing.text_sha256 != notice.text_sha256:
                    raise InvalidConsentEvent(
                        f"version {version!r} of notice {notice_id!r} ({language}) is already "
                        "registered with another text; register the changed text as a new version"
                    )
                return existing
        if self._record is None:
            raise InvalidConsentEvent("this notice registry is read-only")
        # outside our lock: recording folds the entry back in through the follower's lock
        self._record(notice.model_dump(mode="json"))
        return notice

    def add(self, data: dict[str, Any], seq: int, at: datetime) -> RegisteredNotice | None:
        """Index a ``consent.notice`` ledger entry (None if its data is not a notice)."""
        try:
            notice = Notice.model_validate(data, strict=False)
        except ValueError:
            return None
        item = RegisteredNotice(notice, seq, at)
        with self._lock:
            self._by_id.setdefault(notice.notice_id, []).append(item)
        if self.on_change is not None:
            self.on_change()
        return item

    def get(self, notice_id: str, version: str, language: str) -> Notice | None:
        """The registered notice version in one language, or None."""
        for item in self._by_id.get(notice_id, ()):
            n = item.notice
            if n.version == version and n.language == language:
                return n
        return None

    def is_registered(self, notice_id: str) -> bool:
        """True if any version of ``notice_id`` was registered."""
        return notice_id in self._by_id

    def has_version(self, notice_id: str, version: str) -> bool:
        """True if ``version`` of ``notice_id`` was registered (in any language)."""
        return any(i.notice.version == version for i in self._by_id.get(notice_id, ()))

    def current(self, notice_id: str, at: datetime | None = None) -> RegisteredNotice | None:
        """The version of ``notice_id`` in force at ``at`` (default: the latest registered)."""
        items = self._by_id.get(notice_id)
        if not items:
            return None
        if at is None:
            return items[-1]
        found = None
        for item in items:
            if item.at > at:
                break
            found = item
        return found

    def versions(self, notice_id: str) -> list[Notice]:
        """Every registered version (and language) of ``notice_id``, in registration order."""
        if self._sync is not None:
            self._sync()
        return [i.notice for i in self._by_id.get(notice_id, ())]

    def is_stale(self, notice: Notice | None, at: datetime) -> bool:
        """True if consent given under ``notice`` is stale at ``at``: a later version of the
        same notice was registered by then. Unregistered notice ids never go stale."""
        if notice is None:
            return False
        current = self.current(notice.notice_id, at)
        return current is not None and current.notice.version != notice.version

    def clear(self) -> None:
        """Forget everything (before a rebuild from the ledger)."""
        with self._lock:
            self._by_id.clear()

    def resolve(self, notice: Notice | str | None) -> Notice | None:
        """The notice a grant records: a registered id means its current version; a registered
        version is checked (and its text hash filled in); unregistered ids pass as given."""
        if notice is None:
            return None
        if isinstance(notice, str):
            current = self.current(notice)
            if current is not None:
                return current.notice
            notice = Notice(notice_id=notice)
        if not isinstance(notice, Notice):
            raise InvalidConsentEvent("notice must be a Notice, a notice id, or None")
        if self.is_registered(notice.notice_id):
            known = self.get(notice.notice_id, notice.version, notice.language)
            if known is None:
                raise InvalidConsentEvent(
                    f"notice {notice.notice_id!r} has no registered version {notice.version!r} "
                    f"in {notice.language!r}; register it first"
                )
            if notice.text_sha256 not in (None, known.text_sha256):
                raise InvalidConsentEvent(
                    f"the text hash given for notice {notice.notice_id!r} version "
                    f"{notice.version!r} differs from the registered one"
                )
            return known
        return notice
