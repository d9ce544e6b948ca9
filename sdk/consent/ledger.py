"""``p.consent``: consent events on the shared ledger, the state derived from them, receipts.

The ledger is the only truth. An in-memory view (:mod:`sdk.consent.view`: each subject's events,
and the current state per subject with the moment it next changes on its own) is folded from the
log by the store's shared :class:`~sdk.ledger.follow.LedgerFollower`, which catches up with every
process's appends before each call that serves or decides; it can be dropped and rebuilt at any
time (:meth:`ConsentLedger.rebuild`) with the same result. After that one catch-up,
``state_of_pseudonym`` is a dictionary look-up on the hot path of every decision.

Idempotency (GDPR Art. 7(1) and 7(3)). A grant repeating the subject's latest grant with the same
terms (same purposes, notice, source and explicit expiry) while it is still in force, or a
withdrawal repeating the latest withdrawal, records nothing: the controller can already
demonstrate that consent (the first entry proves it), and withdrawing stays exactly as easy as
granting — one call, which may be repeated. The call returns a receipt for the entry that already
says so, with ``recorded=False`` and a fresh proof. A grant that renews (the old one expired, is
stale under a newer notice, or the purpose's validity period starts again) is a new entry.

Fail closed: if the consent log cannot be read or folded, every state look-up raises
:class:`~sdk.errors.ConsentUnavailable`, so no decision runs on consent nobody can prove.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import InvalidConsentEvent
from ..keys import SubjectKeys
from ..ledger import Ledger, LedgerEntry
from ..ledger.follow import LedgerFollower
from ..types import ConsentEvent, ConsentReceipt, ConsentState, Notice, VerifyReport
from .events import PURPOSE_KIND, STREAM, check_at, check_reason, check_source, iso
from .gpc import GlobalPrivacyControl
from .notices import NOTICE_KIND, NoticeRegistry
from .purposes import Purpose, PurposeCatalog
from .receipts import kantara_receipt, receipt_for
from .tcf.apply import TcfOutcome, apply_tcf
from .view import ConsentView

__all__ = ["ConsentLedger"]

_STRIPES = 64


class ConsentLedger:
    """``p.consent``: record consent, read it back at any moment, prove it, verify the chain."""

    def __init__(
        self,
        ledger: Ledger,
        keys: SubjectKeys,
        purposes: PurposeCatalog,
        *,
        accept_stale: bool = False,
        follower: LedgerFollower | None = None,
    ) -> None:
        self._ledger = ledger
        self._keys = keys
        self._follower = follower if follower is not None else LedgerFollower(ledger)
        self.purposes = purposes
        self.notices = NoticeRegistry(record=self._record_notice, sync=self._follower.catch_up)
        self._view = ConsentView(self._follower, purposes, self.notices)
        self._view.accept_stale = bool(accept_stale)
        self._current = self._view.current
        self.controller: dict[str, str] = {}
        """Who is the controller, for receipts: name, contact, address, email, phone."""
        self._lock = threading.RLock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        purposes.on_register = self._record_purpose
        purposes.sync = self._follower.catch_up
        self._follower.register(self._view, (STREAM,))
        self.gpc = GlobalPrivacyControl(self, self._follower)
        """Global Privacy Control: the purposes a signal covers (settable), signal state."""

    # -- the view -----------------------------------------------------------------------------

    @property
    def follower(self) -> LedgerFollower:
        """The catch-up shared by every ledger-derived view of this store."""
        return self._follower

    def rebuild(self) -> None:
        """Drop the in-memory view and build it again from the ledger alone."""
        self._follower.rebuild(self._view)
        self._follower.rebuild(self.gpc.view)

    def refresh(self) -> None:
        """Fold every entry appended since the view was last brought up to date (by any
        process; each serving call does this itself)."""
        self._follower.catch_up()

    def configure(
        self,
        *,
        accept_stale: bool | None = None,
        controller: Mapping[str, str] | None = None,
    ) -> None:
        """Settings: ``accept_stale`` lets consent given under a superseded notice version keep
        authorising processing (default False); ``controller`` names the controller on receipts."""
        with self._lock:
            if accept_stale is not None:
                self._view.accept_stale = bool(accept_stale)
            if controller is not None:
                self.controller = {str(k): str(v) for k, v in controller.items()}
        self._view.forget_states()

    # -- writing ------------------------------------------------------------------------------

    def grant(
        self,
        subject: str,
        purposes: str | Iterable[str],
        *,
        notice: Notice | str | None = None,
        source: str | None = None,
        expires_at: datetime | None = None,
        at: datetime | None = None,
        acknowledge_gpc_conflict: bool = False,
    ) -> ConsentReceipt:
        """Record that ``subject`` consents to ``purposes`` (one ledger entry for all of them).

        ``notice``: the notice shown (a registered notice id means its current version).
        ``expires_at``: when the consent ends (default: each purpose's ``validity_days``, else
        never). ``at``: when it was given, to import historic events (not in the future, not
        before the subject's latest event). Returns a signed receipt; see the module docstring
        for repeated calls. ``acknowledge_gpc_conflict``: the person confirmed this opt-in
        although a Global Privacy Control signal opted them out (see :mod:`sdk.consent.gpc`).
        """
        with self._follower.call():  # one catch-up for the catalog, the notices and GPC
            ids = self.purposes.require(purposes)
            gpc_conflicts = self.gpc.check_grant(subject, ids, acknowledge_gpc_conflict)
            ref = self.notices.resolve(notice)
        if expires_at is not None and (
            not isinstance(expires_at, datetime) or expires_at.tzinfo is None
        ):
            raise InvalidConsentEvent("expires_at must be timezone-aware (e.g. UTC)")

        def data(when: datetime) -> dict[str, Any]:
            if expires_at is not None and expires_at <= when:
                raise InvalidConsentEvent("expires_at is in the past; consent would never apply")
            expires = {}
            for pid in ids:
                days = self.purposes.get(pid).validity_days
                until = expires_at or (when + timedelta(days=days) if days else None)
                if until is not None:
                    expires[pid] = iso(until)
            return {
                "notice": ref.model_dump(mode="json") if ref is not None else None,
                "expires_at": iso(expires_at) if expires_at is not None else None,
                "expires": expires,
            }

        receipt = self._act("grant", subject, ids, source, at, data)
        if gpc_conflicts and receipt.recorded:
            self.gpc.record_conflict(subject, gpc_conflicts, receipt)
        return receipt

    def withdraw(
        self,
        subject: str,
        purposes: str | Iterable[str],
        *,
        source: str | None = None,
        at: datetime | None = None,
    ) -> ConsentReceipt:
        """Record that ``subject`` withdraws consent to ``purposes``; effective immediately."""
        return self._act("withdraw", subject, self.purposes.require(purposes), source, at)

    def refuse(
        self,
        subject: str,
        purposes: str | Iterable[str],
        *,
        source: str | None = None,
        at: datetime | None = None,
    ) -> ConsentReceipt:
        """Record that ``subject`` was asked and said no (dpv:ConsentRefused)."""
        return self._act("refuse", subject, self.purposes.require(purposes), source, at)

    def object(
        self,
        subject: str,
        purposes: str | Iterable[str],
        *,
        source: str | None = None,
        at: datetime | None = None,
    ) -> ConsentReceipt:
        """Record that ``subject`` objects (GDPR Art. 21) to legitimate-interest or public-task
        processing; the purposes become ``objected`` and are no longer authorised. A later
        ``grant`` of the purpose lifts the objection."""
        ids = self.purposes.require(purposes)
        for pid in ids:
            if not self.purposes.get(pid).objectable:
                raise InvalidConsentEvent(
                    f"purpose {pid!r} is not processed on legitimate interest or a public task, "
                    "so there is nothing to object to; for consent-based purposes use withdraw()"
                )
        return self._act("object", subject, ids, source, at)

    def invalidate(
        self,
        subject: str,
        purposes: str | Iterable[str],
        *,
        reason: str,
        at: datetime | None = None,
    ) -> ConsentReceipt:
        """Record that the controller invalidated the subject's consent (dpv:ConsentInvalidated),
        e.g. it was collected without a valid notice. ``reason`` is a short label."""
        why = check_reason(reason)
        return self._act(
            "invalidate", subject, self.purposes.require(purposes), None, at,
            lambda _: {"reason": why},
        )

    def _act(
        self,
        action: str,
        subject: str,
        ids: tuple[str, ...],
        source: str | None,
        at: datetime | None,
        extra: Any = None,
    ) -> ConsentReceipt:
        source = check_source(source)
        self._follower.catch_up()  # an erasure by another process drops the cached pseudonym
        pseudo = self._keys.pseudonym(subject)
        if action == "grant" and not self._keys.cached(pseudo):
            # an erased id stays erased: a new consent under its tombstone would be the start of
            # processing that nothing else (profiles, decisions) accepts any more
            self._keys.raise_if_erased(pseudo)
        with self._stripes[hash(pseudo) % _STRIPES]:
            self._follower.catch_up()  # repeats and the order of events are judged on all of it
            self._view.usable()
            now = datetime.now(UTC)
            events = self._view.events_of(pseudo)
            when = check_at(at, events[-1].at if events else None, now)
            data: dict[str, Any] = {
                "purposes": list(ids),
                "notice": None,
                "source": source,
                "expires_at": None,
                "at": iso(when) if when is not None else None,
            }
            if extra is not None:
                data.update(extra(when or now))
            same = self._repeat_of(pseudo, action, ids, data, now)
            if same is not None:
                return self._receipt(self._ledger.get(same), recorded=False)
            entry = self._ledger.append(STREAM, f"consent.{action}", data, subject=pseudo)
            self._follower.appended(entry)
        return self._receipt(entry, recorded=True)

    def _repeat_of(
        self, pseudo: str, action: str, ids: tuple[str, ...], data: dict[str, Any], now: datetime
    ) -> int | None:
        """The seq of the entry this call would only repeat, or None (see the module docstring)."""
        if data.get("at") is not None or action not in ("grant", "withdraw"):
            return None
        last: dict[str, ConsentEvent] = {}
        for event in self._view.events_of(pseudo):
            last[event.purpose] = event
        seqs = {last[p].seq if p in last else None for p in ids}
        if len(seqs) != 1 or None in seqs:
            return None
        seq = seqs.pop()
        entry = self._ledger.get(seq)  # type: ignore[arg-type]
        old = entry.data
        if (
            entry.kind != f"consent.{action}"
            or set(old["purposes"]) != set(ids)
            or old.get("at") is not None
            or any(old.get(k) != data.get(k) for k in ("notice", "source", "expires_at"))
            or (action == "grant" and old.get("expires") != data.get("expires"))
        ):
            return None
        if action == "grant":
            state = self._view.fold(pseudo, now)
            if any(state.purposes.get(p) not in ("given", "renewed") for p in ids):
                return None
        return seq

    def _record_notice(self, data: dict[str, Any]) -> None:
        self._follower.catch_up()
        self._view.usable()
        entry = self._ledger.append(STREAM, NOTICE_KIND, data)
        self._follower.appended(entry)

    def _record_purpose(self, purpose: Purpose) -> None:
        self._follower.catch_up()
        self._view.usable()
        entry = self._ledger.append(STREAM, PURPOSE_KIND, purpose.model_dump(mode="json"))
        self._follower.appended(entry)

    # -- reading ------------------------------------------------------------------------------

    def state(self, subject: str, *, as_of: datetime | None = None) -> ConsentState:
        """Consent to every purpose at ``as_of`` (default: now), derived from the ledger as it
        stands now (entries of every process)."""
        self._follower.catch_up()
        return self._view.state_of_pseudonym(
            self._keys.pseudonym(subject, create=False), as_of=as_of
        )

    def state_of_pseudonym(self, pseudo: str, *, as_of: datetime | None = None) -> ConsentState:
        """Like :meth:`state`, for a subject already known by pseudonym, without catching up:
        the decision hot path, after the one catch-up of its call (a dictionary look-up while
        nothing has changed)."""
        if as_of is None:
            cached = self._current.get(pseudo)
            if cached is not None and time.time() < cached[1] and not self._follower.stopped:
                return cached[0]
        return self._view.state_of_pseudonym(pseudo, as_of=as_of)

    def history(self, subject: str) -> list[ConsentEvent]:
        """Every consent event of ``subject``, oldest first."""
        self._follower.catch_up()
        return self.history_of_pseudonym(self._keys.pseudonym(subject, create=False))

    def history_of_pseudonym(self, pseudo: str) -> list[ConsentEvent]:
        """Like :meth:`history`, for a subject already known by pseudonym (no catch-up)."""
        self._view.usable()
        return self._view.events_of(pseudo)

    def subjects(self) -> list[str]:
        """The pseudonyms of every subject with consent events."""
        self._follower.catch_up()
        return self._view.subjects()

    def verify(self, *, trusted_checkpoint: str | None = None) -> VerifyReport:
        """Check the whole ledger the consent records are part of: hash chain, Merkle leaves,
        signed checkpoint, and the checkpoints anchored outside the store (plus
        ``trusted_checkpoint``, a note an auditor kept). ``first_bad`` names the first entry
        that fails."""
        return self._ledger.verify(trusted_checkpoint=trusted_checkpoint)

    # -- receipts -----------------------------------------------------------------------------

    def _receipt(self, entry: LedgerEntry, *, recorded: bool) -> ConsentReceipt:
        def statuses(pseudo: str, at: datetime) -> dict[str, str]:
            return dict(self._view.fold(pseudo, at).purposes)

        return receipt_for(
            self._ledger,
            entry,
            recorded=recorded,
            catalog=self.purposes,
            statuses=statuses,
            controller=self.controller.get("name"),
        )

    def kantara(self, receipt: ConsentReceipt, **options: Any) -> dict[str, Any]:
        """The Kantara Consent Receipt v1.1 JSON view of ``receipt`` (controller from
        :meth:`configure`); options: ``jurisdiction``, ``policy_url``, ``service``."""
        return kantara_receipt(
            receipt,
            self.purposes,
            controller=self.controller,
            public_key=self._ledger.public_key,
            **options,
        )

    @property
    def public_key(self) -> bytes | None:
        """The raw Ed25519 key that verifies receipts and checkpoints of this database."""
        return self._ledger.public_key

    # -- web consent signals: IAB TCF (sdk/consent/tcf) and Global Privacy Control (gpc.py) ----

    def apply_gpc(
        self, subject: str, sec_gpc_header: str | bytes | None, *, source: str = "gpc"
    ) -> ConsentReceipt | None:
        """Record the request's ``Sec-GPC`` header ("1": opt out of sale, sharing and targeted
        advertising) before any decision; the withdrawal receipt, or None if nothing changed."""
        return self.gpc.apply(subject, sec_gpc_header, source=source)

    def apply_tcf(
        self,
        subject: str,
        tc_string: str,
        vendor_id: int,
        *,
        source: str | None = None,
        validate: bool = True,
        acknowledge_gpc_conflict: bool = False,
    ) -> TcfOutcome:
        """Map an IAB TCF TC string onto our purposes for GVL vendor ``vendor_id`` and record
        it (its SHA-256, never the string); see :mod:`sdk.consent.tcf.apply`."""
        return apply_tcf(
            self, subject, tc_string, vendor_id, source=source, validate=validate,
            acknowledge_gpc_conflict=acknowledge_gpc_conflict,
        )
