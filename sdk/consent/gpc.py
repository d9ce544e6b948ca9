"""Global Privacy Control (the ``Sec-GPC`` request header) on the consent ledger.

A ``Sec-GPC: 1`` header is a person's opt-out of the sale and sharing of their data and of
targeted advertising. How whylens records it:

- **Opt-out first.** Call ``p.consent.apply_gpc(subject, request.headers.get("Sec-GPC"))`` at the
  start of the request, before any decision. When the signal is on, every covered purpose
  (default: ``marketing``; set ``p.consent.gpc.purposes``) that is not already withdrawn is
  withdrawn through the normal ``withdraw`` path with source ``"gpc"``, so the decision made
  next in the same request already sees it. Repeating the header records nothing new.
- **Signal state.** Changes of the signal (on, and off again: a request from the same person
  without the header after one with it) are ledger entries of their own (stream
  ``consent_signals``, kind ``gpc.signal``), so "was GPC on?" is answerable for any moment.
- **Conflicting opt-in.** While the latest signal is on, ``grant`` of a covered purpose raises
  :class:`~sdk.errors.GPCConflict` unless the person acknowledged the conflict
  (``grant(..., acknowledge_gpc_conflict=True)``). The acknowledged grant is recorded as usual and
  followed by a ``gpc.conflict`` entry that holds both signals: the GPC signal entry and the
  opt-in entry (seq and hash of each), and the acknowledgement. Later requests with the header
  then leave that purpose granted; a new off-to-on change of the signal opts out again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GPCConflict, InvalidConsentEvent
from ..types import ConsentReceipt

if TYPE_CHECKING:
    from ..ledger import LedgerEntry
    from ..ledger.follow import LedgerFollower
    from .ledger import ConsentLedger

__all__ = ["DEFAULT_GPC_PURPOSES", "SIGNAL_STREAM", "GlobalPrivacyControl", "gpc_header_is_on"]

SIGNAL_STREAM = "consent_signals"
DEFAULT_GPC_PURPOSES: tuple[str, ...] = ("marketing",)
_MAX_HEADER = 64


def gpc_header_is_on(value: str | bytes | None) -> bool:
    """True only for the value ``"1"`` (surrounding whitespace ignored); any other value, or no
    header, is no signal, as the GPC specification says."""
    if value is None:
        return False
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise InvalidConsentEvent(
            f"sec_gpc_header must be a str, bytes or None, not {type(value).__name__}"
        )
    return len(value) <= _MAX_HEADER and value.strip() == "1"


@dataclass
class _Subject:
    on: bool = False
    seq: int | None = None
    hash: str | None = None
    acknowledged: set[str] = field(default_factory=set)


class GlobalPrivacyControl:
    """GPC state of every subject, folded from the ledger; ``p.consent.gpc``."""

    def __init__(self, consent: ConsentLedger, follower: LedgerFollower) -> None:
        self._consent = consent
        self._follower = follower
        # serialises "read the signal, then write" per call; never taken by apply(), which runs
        # under the follower's lock while a holder of this lock may be waiting for that one
        self._lock = threading.RLock()
        self._purposes: tuple[str, ...] = tuple(
            p for p in DEFAULT_GPC_PURPOSES if p in consent.purposes
        )
        self._subjects: dict[str, _Subject] = {}
        self.view = _SignalView(self)
        """The ledger view (stream ``consent_signals``) the follower folds."""
        follower.register(self.view, (SIGNAL_STREAM,))

    @property
    def purposes(self) -> tuple[str, ...]:
        """The purposes a GPC signal opts out of (sale, sharing, targeted advertising)."""
        return self._purposes

    @purposes.setter
    def purposes(self, purposes: Iterable[str]) -> None:
        self._purposes = self._consent.purposes.require(purposes)

    def active(self, subject: str) -> bool:
        """True if the latest GPC signal recorded for ``subject`` (by any process) is on."""
        self._follower.catch_up()
        return self._active(subject)

    def _active(self, subject: str) -> bool:
        state = self._subjects.get(self._consent._keys.pseudonym(subject, create=False))
        return state is not None and state.on

    # -- the header --------------------------------------------------------------------------

    def apply(
        self, subject: str, sec_gpc_header: str | bytes | None, *, source: str = "gpc"
    ) -> ConsentReceipt | None:
        """Record the request's GPC signal; returns the withdrawal receipt when one was made."""
        on = gpc_header_is_on(sec_gpc_header)
        consent = self._consent
        # a signal that is off changes nothing for an id never seen: a read, no pseudonym made
        pseudo = consent._keys.pseudonym(subject, create=on)
        # only our own lock: the ledger's locks are taken inside withdraw(), in its own order
        with self._lock:
            self._follower.catch_up()
            state = self._subjects.get(pseudo)
            receipt = None
            if on:
                turning_on = state is None or not state.on
                kept = set() if turning_on or state is None else state.acknowledged
                status = consent.state_of_pseudonym(pseudo).purposes
                due = [
                    p
                    for p in self._purposes
                    if consent.purposes.get(p).needs_consent
                    and status.get(p) != "withdrawn"
                    and p not in kept
                ]
                # the withdrawal first: if we stop between the two entries we have failed closed
                if due:
                    receipt = consent.withdraw(subject, due, source=source)
                if turning_on:
                    self._append(pseudo, "gpc.signal", {"on": True, "purposes": list(due)})
            elif state is not None and state.on:
                self._append(pseudo, "gpc.signal", {"on": False, "purposes": []})
            return receipt

    # -- grants against the signal -------------------------------------------------------------

    def conflicts(self, subject: str, purposes: Iterable[str]) -> tuple[str, ...]:
        """Which of ``purposes`` an active GPC signal of ``subject`` opted out of."""
        self._follower.catch_up()
        if not self._active(subject):
            return ()
        return tuple(p for p in purposes if p in self._purposes)

    def check_grant(
        self, subject: str, purposes: Iterable[str], acknowledged: bool
    ) -> tuple[str, ...]:
        """Raise :class:`GPCConflict` for an unacknowledged opt-in against an active signal;
        returns the conflicting purposes (to record with :meth:`record_conflict`)."""
        if not isinstance(acknowledged, bool):
            raise InvalidConsentEvent("acknowledge_gpc_conflict must be True or False")
        conflicting = self.conflicts(subject, purposes)
        if conflicting and not acknowledged:
            state = self._subjects[self._consent._keys.pseudonym(subject)]
            raise GPCConflict(
                f"purposes {', '.join(conflicting)} were opted out by a Global Privacy Control "
                f"signal (ledger entry {state.seq}); show the person the conflict and, if they "
                "confirm, grant again with acknowledge_gpc_conflict=True (JSON: true)"
            )
        return conflicting

    def record_conflict(
        self, subject: str, purposes: tuple[str, ...], receipt: ConsentReceipt
    ) -> None:
        """Append the conflict entry: the GPC signal, the opt-in and the acknowledgement."""
        pseudo = self._consent._keys.pseudonym(subject)
        with self._lock:
            state = self._subjects[pseudo]
            self._append(
                pseudo,
                "gpc.conflict",
                {
                    "purposes": list(purposes),
                    "gpc_signal": {"seq": state.seq, "hash": state.hash, "sec_gpc": "1"},
                    "opt_in": {
                        "seq": receipt.ledger_seqs[0],
                        "hash": receipt.entry_hashes[0],
                        "source": receipt.source,
                    },
                    "acknowledged": True,
                },
            )

    # -- internals -----------------------------------------------------------------------------

    def _append(self, pseudo: str, kind: str, data: dict[str, Any]) -> None:
        entry = self._consent._ledger.append(SIGNAL_STREAM, kind, data, subject=pseudo)
        self._follower.appended(entry)

    def _fold(self, pseudo: str, kind: str, data: dict[str, Any], seq: int, hash_: str) -> None:
        state = self._subjects.setdefault(pseudo, _Subject())
        if kind == "gpc.signal":
            if data.get("on") and not state.on:
                state.acknowledged = set()
            state.on = bool(data.get("on"))
            state.seq, state.hash = seq, hash_
        elif kind == "gpc.conflict":
            state.acknowledged.update(data.get("purposes", ()))


class _SignalView:
    """Folds ``consent_signals`` entries into a :class:`GlobalPrivacyControl` (its own ``apply``
    is the header call, so the view is this small adapter)."""

    def __init__(self, gpc: GlobalPrivacyControl) -> None:
        self._gpc = gpc

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``consent_signals`` entry."""
        if entry.subject is not None:
            self._gpc._fold(entry.subject, entry.kind, entry.data, entry.seq, entry.hash)

    def reset(self) -> None:
        """Forget every subject's signal state (before a rebuild)."""
        self._gpc._subjects = {}
