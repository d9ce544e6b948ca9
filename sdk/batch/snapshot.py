"""Snapshots that travel: consent and preferences of a job's subjects as of one ledger position.

A batch job reads the store once, on the driver, and ships plain immutable values to the workers:
a :class:`ConsentSnapshot` (which purposes each subject's consent authorises) and a
:class:`PreferenceSnapshot` (concept weights, exclusions and the non-profiling choice). Both are
pydantic models of tuples, picklable and small — people who share a state share one profile —
and each carries the ledger position it was taken at and a SHA-256 over its canonical JSON
(RFC 8785), which go on the job's audit record. A worker never sees a database, a lock or a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from .._canonical import sha256_of
from ..errors import BatchError
from ..models.preferences import STREAM as PREFERENCES_STREAM
from ..models.preferences import PreferenceState
from ..types import ConsentState, Frozen, PurposeStatus

if TYPE_CHECKING:
    from .driver import Driver

__all__ = [
    "ConsentProfile",
    "ConsentSnapshot",
    "PreferenceSnapshot",
    "take_snapshots",
]

_HASH = r"^[0-9a-f]{64}$"


class ConsentProfile(Frozen):
    """One consent state shared by any number of subjects: each purpose's status and the
    purposes it authorises (worked out on the driver with ``ConsentState.allows``)."""

    purposes: tuple[tuple[str, PurposeStatus], ...]
    allowed: tuple[str, ...]

    def allows(self, purpose: str) -> bool:
        """True if processing for ``purpose`` is authorised (unknown purposes: False)."""
        return purpose in self.allowed

    @classmethod
    def of(cls, state: ConsentState) -> ConsentProfile:
        """The profile of one subject's state."""
        names = sorted(state.purposes)
        return cls(
            purposes=tuple((n, state.purposes[n]) for n in names),
            allowed=tuple(n for n in names if state.allows(n)),
        )


class _Snapshot(Frozen):
    position: int = Field(ge=0)
    """The ledger size the snapshot was taken at: every entry up to this seq, none after."""
    as_of: datetime
    subjects: tuple[tuple[str, int], ...]
    """(pseudonym, profile index), sorted by pseudonym; subjects not listed have profile 0."""
    snapshot_hash: str = Field(pattern=_HASH)

    _index: dict[str, int] | None = PrivateAttr(default=None)

    def _profile_index(self, pseudo: str) -> int:
        if self._index is None:
            self._index = dict(self.subjects)
        return self._index.get(pseudo, 0)

    def content(self) -> dict[str, Any]:
        """What :attr:`snapshot_hash` covers."""
        return self.model_dump(mode="json", exclude={"snapshot_hash"})

    def verify(self) -> None:
        """Raise :class:`~sdk.errors.BatchError` unless the hash matches the content."""
        if sha256_of(self.content()) != self.snapshot_hash:
            raise BatchError(
                "the snapshot does not match its hash; it was changed after it was taken"
            )


class ConsentSnapshot(_Snapshot):
    """The consent of a set of subjects as of one ledger position.

    ``profiles[0]`` is the state of a subject with no consent events (nothing that needs consent
    is authorised).
    """

    profiles: tuple[ConsentProfile, ...] = Field(min_length=1)

    def state_of(self, pseudo: str) -> ConsentProfile:
        """The consent profile of subject ``pseudo``."""
        return self.profiles[self._profile_index(pseudo)]

    def profile_index(self, pseudo: str) -> int:
        """Which profile subject ``pseudo`` has (rows with one index share one masking plan)."""
        return self._profile_index(pseudo)

    @classmethod
    def build(
        cls,
        position: int,
        as_of: datetime,
        default: ConsentState,
        states: Mapping[str, ConsentState],
    ) -> ConsentSnapshot:
        """A snapshot of ``states`` (pseudonym -> state); ``default`` is the no-events state."""
        profiles, subjects = _profiles(ConsentProfile.of(default), (
            (pseudo, ConsentProfile.of(state)) for pseudo, state in states.items()
        ))
        sealed: Any = _sealed(
            cls, position=position, as_of=as_of, profiles=profiles, subjects=subjects
        )
        return sealed  # type: ignore[no-any-return]


class PreferenceSnapshot(_Snapshot):
    """The recommendation preferences of a set of subjects as of one ledger position.

    ``profiles[0]`` is the default (no preference events).
    """

    profiles: tuple[PreferenceState, ...] = Field(min_length=1)

    def state_of(self, pseudo: str) -> PreferenceState:
        """The preferences of subject ``pseudo``."""
        return self.profiles[self._profile_index(pseudo)]

    def profile_index(self, pseudo: str) -> int:
        """Which profile subject ``pseudo`` has."""
        return self._profile_index(pseudo)

    @classmethod
    def build(
        cls, position: int, as_of: datetime, states: Mapping[str, PreferenceState]
    ) -> PreferenceSnapshot:
        """A snapshot of ``states`` (pseudonym -> preferences)."""
        profiles, subjects = _profiles(PreferenceState(), states.items())
        sealed: Any = _sealed(
            cls, position=position, as_of=as_of, profiles=profiles, subjects=subjects
        )
        return sealed  # type: ignore[no-any-return]


def _profiles(default: Any, pairs: Iterable[tuple[str, Any]]) -> tuple[tuple[Any, ...], Any]:
    found: dict[str, int] = {_key(default): 0}
    profiles = [default]
    subjects: list[tuple[str, int]] = []
    for pseudo, profile in pairs:
        key = _key(profile)
        index = found.get(key)
        if index is None:
            index = found[key] = len(profiles)
            profiles.append(profile)
        if index:
            subjects.append((pseudo, index))
    return tuple(profiles), tuple(sorted(subjects))


def _key(profile: Any) -> Any:
    # profiles compare by content (the events count of preferences is not part of it)
    if isinstance(profile, ConsentProfile):
        return (profile.purposes, profile.allowed)
    return (
        tuple(sorted(profile.concept_weights.items())),
        profile.excluded_items,
        profile.profiling,
    )


def _sealed(cls: type[Any], **fields: Any) -> Any:
    unsealed = cls.model_construct(**fields, snapshot_hash="0" * 64)
    snapshot = cls.model_validate(
        {**fields, "snapshot_hash": sha256_of(unsealed.content())}, strict=False
    )
    return snapshot


def take_snapshots(
    p: Driver, pseudonyms: Iterable[str]
) -> tuple[ConsentSnapshot, PreferenceSnapshot]:
    """Consent and preferences of ``pseudonyms`` as of the ledger's current position.

    Only events up to one position count, even if another process appends meanwhile: the
    position is read first, and later events are left out of the fold.
    """
    from ..consent.state import fold_state

    position = p.ledger.size
    consent = p.consent
    consent.refresh()
    at = datetime.now(UTC)
    stale = bool(consent._view.accept_stale)
    wanted = sorted(set(pseudonyms))

    def fold(pseudo: str) -> ConsentState:
        events = [e for e in consent.history_of_pseudonym(pseudo) if e.seq <= position]
        return fold_state(
            pseudo, events, consent.purposes, consent.notices, at, stale_allowed=stale
        )

    known = set(consent.subjects())
    states = {pseudo: fold(pseudo) for pseudo in wanted if pseudo in known}
    default = fold("")
    with_preferences = {
        entry.subject
        for entry in p.ledger.entries(stream=PREFERENCES_STREAM)
        if entry.subject is not None and entry.seq <= position
    }
    preferences = {
        pseudo: _preferences_at(p, pseudo, position)
        for pseudo in wanted
        if pseudo in with_preferences
    }
    return (
        ConsentSnapshot.build(position, at, default, states),
        PreferenceSnapshot.build(position, at, preferences),
    )


def _preferences_at(p: Driver, pseudo: str, position: int) -> PreferenceState:
    state = p.preferences.state_of_pseudonym(pseudo)
    latest = max(
        (e.seq for e in p.ledger.entries(stream=PREFERENCES_STREAM, subject=pseudo)), default=0
    )
    if latest > position:
        # the person changed their preferences while the snapshot was taken: leave them out
        # rather than serve a state from after the position
        raise BatchError(
            "preferences changed while the snapshot was taken; run the job again"
        )
    return state
