"""Human sign-off before a model version serves, and shadow candidates beside the serving one.

Both are ledger entries (stream ``models``), so who approved which exact version, and when, is
part of the same tamper-evident chain as consent and decisions. A sign-off names the version's
*governed hash* (:mod:`sdk.models.governed`: model text, card with its review policy, and schema);
so does the ``model.registered`` entry written when a version is trained — before its row goes
into the ``models`` table, the first registration of a version number claiming it — which lets
every process check a version it loads even before (or without) a sign-off, and refuse one the
ledger never registered (a row inserted behind whylens's back). A sign-off recorded by an older
whylens names only the text's content hash: it no longer lets the version serve (the reviewer
signs off again, approving the card and schema as stored now). The in-memory index
is a view folded by the store's shared :class:`~sdk.ledger.follow.LedgerFollower`; the registry
catches up before it serves, so a sign-off or shadow setting recorded by another process counts
on the next call.
"""

from __future__ import annotations

import threading
from datetime import datetime

from pydantic import Field

from ..errors import ConfigurationError, ModelNotSignedOff, ModelTampered
from ..ledger import Ledger, LedgerEntry
from ..ledger.follow import LedgerFollower
from ..types import Frozen

__all__ = ["STREAM", "Governance", "SignOff"]

STREAM = "models"
_SIGN_OFF = "model.sign_off"
_SHADOW = "model.shadow"
_REGISTERED = "model.registered"


class SignOff(Frozen):
    """A person's recorded approval of one model version (its exact content hash)."""

    name: str
    version: int
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    governed_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    """What the sign-off covers (text, card, schema); ``None`` for a sign-off recorded before
    governed hashes existed, which covered the text only and no longer lets a version serve."""
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
        # (name, version) -> (seq, governed hash) of its first registration: the claim
        self._registered: dict[tuple[str, int], tuple[int, str]] = {}
        self._follower.register(self, (STREAM,))

    def catch_up(self) -> None:
        """Fold the sign-offs and shadow settings every process recorded since the last call."""
        self._follower.catch_up()

    def reset(self) -> None:
        """Forget every sign-off and shadow setting (before a rebuild)."""
        with self._lock:
            self._signed = {}
            self._shadow = {}
            self._registered = {}

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``models`` stream entry."""
        data = entry.data
        with self._lock:
            if entry.kind == _SIGN_OFF:
                record = SignOff(**data, at=entry.ts, seq=entry.seq)
                self._signed[(record.name, record.version)] = record
            elif entry.kind == _REGISTERED:
                # the first registration of a version number wins; a later one lost the claim
                self._registered.setdefault(
                    (str(data["name"]), int(data["version"])),
                    (entry.seq, str(data["governed_hash"])),
                )
            elif entry.kind == _SHADOW:
                if data["version"] is None:
                    self._shadow.pop(data["name"], None)
                else:
                    self._shadow[data["name"]] = int(data["version"])

    def register(self, name: str, version: int, governed: str) -> bool:
        """Record the governed hash of a newly trained version (checked on every load), before
        its row is stored; False if another process registered that version number first (the
        caller then tries the next one)."""
        entry = self._ledger.append(
            STREAM, _REGISTERED, {"name": name, "version": version, "governed_hash": governed}
        )
        self._follower.appended(entry)  # folds every entry before it first
        with self._lock:
            return self._registered.get((name, version)) == (entry.seq, governed)

    def latest_registered(self, name: str) -> int | None:
        """The highest version of ``name`` registered on the ledger (as folded so far)."""
        with self._lock:
            versions = [v for (n, v) in self._registered if n == name]
        return max(versions) if versions else None

    def is_registered(self, name: str, version: int) -> bool:
        """True if the ledger registered this version, or a reviewer signed off its governed
        hash (how a version trained before registrations existed is vouched for)."""
        with self._lock:
            signed = self._signed.get((name, version))
            return (name, version) in self._registered or (
                signed is not None and signed.governed_hash is not None
            )

    def check_registered_to_serve(self, name: str, version: int) -> None:
        """Raise :class:`ModelTampered` unless the ledger vouches for this version (see
        :meth:`is_registered`): what lets a version serve when sign-off is not required."""
        self.catch_up()
        if not self.is_registered(name, version):
            raise ModelTampered(
                f"model {name!r} v{version} has no registration on the ledger: it was not "
                "trained by whylens (a row added to the models table?) and is not served. If "
                "it was trained by a whylens older than registrations, review it and sign it "
                f"off: p.models.sign_off({name!r}, {version}, reviewer=...)"
            )

    def check_registered(self, name: str, version: int, governed: str) -> None:
        """Raise :class:`ModelTampered` if the ledger recorded another governed hash for this
        version at registration or sign-off (as the ledger stands now, any process)."""
        self.catch_up()
        with self._lock:
            claim = self._registered.get((name, version))
            expected = {claim[1] if claim is not None else None}
            signed = self._signed.get((name, version))
        if signed is not None:
            expected.add(signed.governed_hash)
        expected.discard(None)
        if expected and expected != {governed}:
            raise _tampered(name, version)

    def sign_off(
        self,
        name: str,
        version: int,
        content_hash: str,
        reviewer: str,
        note: str | None,
        governed_hash: str | None = None,
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
            "governed_hash": governed_hash,
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

    def check(
        self, name: str, version: int, content_hash: str, governed_hash: str | None = None
    ) -> SignOff:
        """The sign-off that lets this exact version serve: :class:`ModelNotSignedOff` if there
        is none (or only one over the text, from an older whylens), :class:`ModelTampered` if it
        covers another text, card or schema than ``governed_hash``."""
        record = self.signed(name, version)
        if record is not None and record.governed_hash is None:
            raise ModelNotSignedOff(
                f"model {name!r} v{version} was signed off over its model text only (before "
                "sign-offs covered the card, review policy and schema); check its card and sign "
                f"it off again: p.models.sign_off({name!r}, {version}, reviewer=..., note=...) "
                f"(CLI: whylens models sign-off {name} {version} --reviewer ...)"
            )
        if record is not None and (
            record.content_hash != content_hash or record.governed_hash != governed_hash
        ):
            raise _tampered(name, version)
        if record is None:
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


def _tampered(name: str, version: int) -> ModelTampered:
    return ModelTampered(
        f"model {name!r} v{version}: the stored model text, card, review policy or schema no "
        "longer match what was registered and signed off (the models table was edited); it is "
        "not served. Restore the database from a backup, or retrain and sign off a new version"
    )
