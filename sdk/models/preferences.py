"""A person's own controls over their recommendations, stored as preference events.

``p.preferences`` records what the person asked for on the ledger (stream ``preferences``), the
content encrypted under the person's key — which concepts and items someone dislikes is personal
data — and folds the events into the state the next ``recommend`` applies:

- ``see_fewer(subject, concept)``: halves the concept's part in every score (again per call);
- ``remove_interest(subject, concept)``: the concept no longer counts at all (weight 0);
- ``not_interested(subject, item_id)``: the item is never recommended to them again;
- ``set_profiling(subject, False)``: recommendations not based on profiling (EU DSA Art. 38);
- ``reset(subject)``: back to the defaults (the events stay on the ledger).

A concept's part is its exact TreeSHAP contribution, so "halved" and "removed" are literal: the
served score is the model's score minus the removed share of that contribution.
"""

from __future__ import annotations

import base64
import os
import threading
from typing import Any

from pydantic import Field

from .._canonical import canonical_json, loads
from ..crypto.field import field_aad
from ..errors import ConfigurationError, DecryptionError, SubjectErased, UnknownSubject
from ..keys import SubjectKeys
from ..ledger import Ledger, LedgerEntry
from ..ledger.follow import LedgerFollower
from ..types import Frozen

__all__ = ["STREAM", "PreferenceState", "Preferences"]

STREAM = "preferences"
_KIND = "preference"
_ERASURES = "subjects"
_MAX_TEXT = 128


class PreferenceState(Frozen):
    """What a person asked for, folded from their preference events."""

    concept_weights: dict[str, float] = Field(default_factory=dict)
    """Concept -> factor on its contribution (0.5 per "see fewer", 0 once removed)."""
    excluded_items: tuple[str, ...] = ()
    profiling: bool = True
    """False: this person asked for recommendations not based on profiling."""
    events: int = 0


class Preferences:
    """``p.preferences``: record and read a person's recommendation preferences."""

    def __init__(
        self, ledger: Ledger, keys: SubjectKeys, follower: LedgerFollower | None = None
    ) -> None:
        self._ledger = ledger
        self._keys = keys
        self._follower = follower if follower is not None else LedgerFollower(ledger)
        self._lock = threading.Lock()
        self._cache: dict[str, PreferenceState] = {}
        # bumped per subject by every preference entry folded, so a state read from the log
        # while a newer entry arrives is not cached over it
        self._generation: dict[str, int] = {}
        # an erasure (stream "subjects", by any process) makes the person's state unreadable
        self._follower.register(_PreferenceView(self), (STREAM, _ERASURES))

    def _invalidate(self, pseudo: str | None) -> None:
        """A preference entry (of any process) was folded: read that person's state again."""
        with self._lock:
            if pseudo is None:
                self._cache, self._generation = {}, {}
                return
            self._generation[pseudo] = self._generation.get(pseudo, 0) + 1
            self._cache.pop(pseudo, None)

    def see_fewer(self, subject: str, concept: str) -> PreferenceState:
        """The person wants to see fewer items recommended because of ``concept``."""
        return self._record(subject, {"action": "see_fewer", "concept": _text(concept)})

    def remove_interest(self, subject: str, concept: str) -> PreferenceState:
        """``concept`` no longer counts in this person's recommendations."""
        return self._record(subject, {"action": "remove_interest", "concept": _text(concept)})

    def not_interested(self, subject: str, item_id: str) -> PreferenceState:
        """Never recommend ``item_id`` to this person again."""
        return self._record(subject, {"action": "not_interested", "item_id": _text(item_id)})

    def set_profiling(self, subject: str, enabled: bool) -> PreferenceState:
        """``False``: recommendations for this person use no personal data (DSA Art. 38)."""
        if not isinstance(enabled, bool):
            raise ConfigurationError("enabled must be True or False")
        return self._record(subject, {"action": "profiling", "enabled": enabled})

    def reset(self, subject: str) -> PreferenceState:
        """Back to the defaults; earlier events stay on the ledger as history."""
        return self._record(subject, {"action": "reset"})

    def state(self, subject: str) -> PreferenceState:
        """The preferences the next recommendation for ``subject`` applies (as recorded by any
        process)."""
        self._follower.catch_up()
        return self.state_of_pseudonym(self._keys.pseudonym(subject, create=False))

    def state_of_pseudonym(self, pseudo: str) -> PreferenceState:
        """Like :meth:`state`, for a subject known by pseudonym (default state once erased),
        without catching up: the serving call did that once."""
        with self._lock:
            cached = self._cache.get(pseudo)
            generation = self._generation.get(pseudo, 0)
        if cached is not None:
            return cached
        try:
            cipher = self._keys.cipher(pseudo, create=False)
        except (SubjectErased, DecryptionError, UnknownSubject):
            # erased (crypto-shredded), or no key yet: nothing this person asked for is readable
            return PreferenceState()
        events = []
        for entry in self._ledger.entries(stream=STREAM, subject=pseudo, kinds=(_KIND,)):
            blob = base64.b64decode(entry.data["payload"])
            plain = cipher.decrypt(blob, aad=_aad(pseudo, entry.data["preference_id"]))
            events.append(loads(plain))
        state = _fold(events)
        with self._lock:
            if self._generation.get(pseudo, 0) == generation:
                self._cache[pseudo] = state
        return state

    def _record(self, subject: str, event: dict[str, Any]) -> PreferenceState:
        pseudo = self._keys.pseudonym(subject)
        cipher = self._keys.cipher(pseudo, create=True)
        preference_id = f"pref_{os.urandom(12).hex()}"
        blob = cipher.encrypt(canonical_json(event), aad=_aad(pseudo, preference_id))
        entry = self._ledger.append(
            STREAM,
            _KIND,
            {"preference_id": preference_id, "payload": base64.b64encode(blob).decode()},
            subject=pseudo,
        )
        self._follower.appended(entry)
        return self.state_of_pseudonym(pseudo)


def _aad(pseudo: str, preference_id: str) -> bytes:
    return field_aad(subject=pseudo, field=f"preference/{preference_id}")


def _text(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_TEXT:
        raise ConfigurationError(f"a concept or item id must be a string of 1-{_MAX_TEXT} chars")
    return value


def _fold(events: list[dict[str, Any]]) -> PreferenceState:
    weights: dict[str, float] = {}
    excluded: list[str] = []
    profiling = True
    for event in events:
        action = event["action"]
        if action == "see_fewer":
            weights[event["concept"]] = weights.get(event["concept"], 1.0) * 0.5
        elif action == "remove_interest":
            weights[event["concept"]] = 0.0
        elif action == "not_interested" and event["item_id"] not in excluded:
            excluded.append(event["item_id"])
        elif action == "profiling":
            profiling = bool(event["enabled"])
        elif action == "reset":
            weights, excluded, profiling = {}, [], True
    return PreferenceState(
        concept_weights=weights,
        excluded_items=tuple(excluded),
        profiling=profiling,
        events=len(events),
    )


class _PreferenceView:
    """The ledger view of stream ``preferences`` (``Preferences.reset`` is the person's call, so
    the view is this small adapter). The content is encrypted under each person's key, so a
    folded entry only invalidates that person's state; it is decrypted when next needed."""

    def __init__(self, preferences: Preferences) -> None:
        self._preferences = preferences

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``preferences`` entry."""
        if entry.subject is not None:
            self._preferences._invalidate(entry.subject)

    def reset(self) -> None:
        """Forget every cached state (before a rebuild)."""
        self._preferences._invalidate(None)
