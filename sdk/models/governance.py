"""Human sign-off before a model version serves, and shadow candidates beside the serving one.

Both are ledger entries (stream ``models``), so who approved which exact trees (by content hash),
and when, is part of the same tamper-evident chain as consent and decisions. The in-memory index
is a view folded by the store's shared :class:`~sdk.ledger.follow.LedgerFollower`; the registry
catches up before it serves, so a sign-off or shadow setting recorded by another process counts
on the next call.
"""

from __future__ import annotations

import threading
from datetime import datetime

from pydantic import Field

from ..errors import ConfigurationError, ModelNotSignedOff
from ..ledger import Ledger, LedgerEntry
from ..ledger.follow import LedgerFollower
from ..types import Frozen

__all__ = ["STREAM", "Governance", "SignOff"]

STREAM = "models"
_SIGN_OFF = "model.sign_off"
_SHADOW = "model.shadow"


class SignOff(Frozen):
    """A person's recorded approval of one model version (its exact content hash)."""

    name: str
    version: int
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    reviewer: str = Field(min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=2000)
    at: datetime
    seq: int


class Governance:
    """Sign-offs and shadow settings, from and to the ledger."""

    def __init__(self, ledger: Ledger, follower: LedgerFollower | None = None) -> None:
        self._ledger = ledger
        self._follower = follower if follower is not None else LedgerFollower(ledger)
        self._lock = threading.Lock()
        self._signed: dict[tuple[str, int], SignOff] = {}
        self._shadow: dict[str, int] = {}
        self._follower.register(self, (STREAM,))

    def catch_up(self) -> None:
        """Fold the sign-offs and shadow settings every process recorded since the last call."""
        self._follower.catch_up()

    def reset(self) -> None:
        """Forget every sign-off and shadow setting (before a rebuild)."""
        with self._lock:
            self._signed = {}
            self._shadow = {}

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``models`` stream entry."""
        data = entry.data
        with self._lock:
            if entry.kind == _SIGN_OFF:
                record = SignOff(**data, at=entry.ts, seq=entry.seq)
                self._signed[(record.name, record.version)] = record
            elif entry.kind == _SHADOW:
                if data["version"] is None:
                    self._shadow.pop(data["name"], None)
                else:
                    self._shadow[data["name"]] = int(data["version"])

    def sign_off(
        self, name: str, version: int, content_hash: str, reviewer: str, note: str | None
    ) -> SignOff:
        """Record that ``reviewer`` approved ``name`` v``version`` for serving."""
        if not isinstance(reviewer, str) or not reviewer.strip() or len(reviewer) > 128:
            raise ConfigurationError("reviewer must name the person signing off (1-128 chars)")
        if note is not None and (not isinstance(note, str) or len(note) > 2000):
            raise ConfigurationError("note must be a string of at most 2000 characters")
        data = {
            "name": name,
            "version": version,
            "content_hash": content_hash,
            "reviewer": reviewer,
            "note": note,
        }
        entry = self._ledger.append(STREAM, _SIGN_OFF, data)
        self._follower.appended(entry)
        with self._lock:
            return self._signed[(name, version)]

    def signed(self, name: str, version: int) -> SignOff | None:
        """The sign-off of that version, if any."""
        with self._lock:
            return self._signed.get((name, version))

    def latest_signed(self, name: str) -> int | None:
        """The highest signed-off version of ``name``."""
        with self._lock:
            versions = [v for (n, v) in self._signed if n == name]
        return max(versions) if versions else None

    def check(self, name: str, version: int, content_hash: str) -> SignOff:
        """The sign-off that lets this exact version serve, or :class:`ModelNotSignedOff`."""
        record = self.signed(name, version)
        if record is None or record.content_hash != content_hash:
            raise ModelNotSignedOff(
                f"model {name!r} v{version} has no recorded sign-off; a reviewer must approve "
                f"it first: p.models.sign_off({name!r}, {version}, reviewer=..., note=...) "
                "(or open the Personalizer with require_sign_off=False)"
            )
        return record

    def set_shadow(self, name: str, version: int | None) -> None:
        """Score ``version`` beside the serving version of ``name`` (``None``: stop)."""
        entry = self._ledger.append(STREAM, _SHADOW, {"name": name, "version": version})
        self._follower.appended(entry)

    def shadow_of(self, name: str) -> int | None:
        """The candidate version shadowing ``name``, if any."""
        with self._lock:
            return self._shadow.get(name)
