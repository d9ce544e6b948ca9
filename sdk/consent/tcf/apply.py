"""Turning a TC string into whylens consent: ``p.consent.apply_tcf(subject, tc_string, vendor_id)``.

Each purpose of the catalog that needs consent and names ``tcf_purposes`` is decided for the
vendor the app acts as (``vendor_id``, its IAB Global Vendor List id):

- **granted** when the vendor has consent and every mapped TCF purpose has consent, and no
  publisher restriction forbids the vendor that purpose or moves it to legitimate interest;
- otherwise **withdrawn** if the purpose is currently given (``withdraw``), else **refused**
  (``refuse``: the person was asked and said no).

Both go through the ledger's ordinary ``grant`` / ``withdraw``. The ledger never holds the string:
the recorded source is ``"<source>:vendor=<id>:sha256=<hex>"``, the SHA-256 of the exact string,
so the string a CMP stored can later be matched to the entry. Applying the same string again
records nothing. While a Global Privacy Control signal is on, purposes it covers are not granted
(they are reported in ``held_by_gpc``) unless ``acknowledge_gpc_conflict=True``.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from pydantic import Field

from ...errors import InvalidConsentEvent
from ...types import ConsentReceipt, Frozen
from .codec import decode_tc_string
from .model import RestrictionType, TCModel

if TYPE_CHECKING:
    from ..ledger import ConsentLedger

__all__ = ["TcfOutcome", "apply_tcf", "tcf_decisions"]

_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_DENYING = (RestrictionType.NOT_ALLOWED, RestrictionType.REQUIRE_LI)
_IN_FORCE = ("given", "renewed", "stale")


class TcfOutcome(Frozen):
    """What :func:`apply_tcf` decided and recorded."""

    tc_string_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    vendor_id: int
    source: str
    """The source recorded on the ledger entries."""
    granted: tuple[str, ...]
    withdrawn: tuple[str, ...]
    refused: tuple[str, ...]
    unchanged: tuple[str, ...]
    """Purposes whose latest ledger event already records this same string's decision."""
    held_by_gpc: tuple[str, ...]
    """Purposes the string grants but an active GPC signal opted out of (not granted)."""
    receipts: tuple[ConsentReceipt, ...]


def tcf_decisions(
    model: TCModel, vendor_id: int, mapping: dict[str, tuple[int, ...]]
) -> dict[str, bool]:
    """For each whylens purpose (id -> its TCF purposes): may ``vendor_id`` process on consent?"""
    vendor_ok = vendor_id in model.vendor_consents
    out = {}
    for purpose, tcf_purposes in mapping.items():
        out[purpose] = vendor_ok and all(
            tp in model.purpose_consents and model.restriction_for(vendor_id, tp) not in _DENYING
            for tp in tcf_purposes
        )
    return out


def apply_tcf(
    consent: ConsentLedger,
    subject: str,
    tc_string: str,
    vendor_id: int,
    *,
    source: str | None = None,
    validate: bool = True,
    acknowledge_gpc_conflict: bool = False,
) -> TcfOutcome:
    """Decode ``tc_string`` (strictly unless ``validate=False``) and record its decisions."""
    if type(vendor_id) is not int or not 1 <= vendor_id <= 65535:
        raise InvalidConsentEvent("vendor_id must be an int from 1 to 65535 (the GVL vendor id)")
    label = "tcf" if source is None else source
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidConsentEvent(
            "source must be 1 to 40 characters of letters, digits, '_', '.' or '-'"
        )
    model = decode_tc_string(tc_string, validate=validate)
    digest = hashlib.sha256(tc_string.encode("utf-8")).hexdigest()
    recorded = f"{label}:vendor={vendor_id}:sha256={digest}"
    mapping = {p.id: p.tcf_purposes for p in consent.purposes if p.tcf_purposes and p.needs_consent}
    decisions = tcf_decisions(model, vendor_id, mapping)

    history = consent.history(subject)
    latest = {e.purpose: e for e in history}
    applied = {e.purpose for e in history if e.source == recorded}
    # a CMP re-sends its stored string on every page: a string already applied for a purpose,
    # or one last updated before the purpose's latest event, is not a new choice of the
    # person's, so it cannot undo what they did since (a withdrawal on the why page)
    unchanged = tuple(
        p
        for p, ok in decisions.items()
        if p in latest
        and (
            (latest[p].source == recorded and (latest[p].action == "grant") == ok)
            or p in applied
            or (_by_the_person(latest[p].source) and model.last_updated < latest[p].at)
        )
    )
    status = consent.state(subject).purposes
    to_grant = [p for p, ok in decisions.items() if ok and p not in unchanged]
    denied = [p for p, ok in decisions.items() if not ok and p not in unchanged]
    to_withdraw = [p for p in denied if status.get(p) in _IN_FORCE]
    to_refuse = [p for p in denied if p not in to_withdraw]
    held: tuple[str, ...] = ()
    if not acknowledge_gpc_conflict:
        held = consent.gpc.conflicts(subject, to_grant)
        to_grant = [p for p in to_grant if p not in held]

    receipts = []
    if to_grant:
        receipts.append(
            consent.grant(
                subject,
                to_grant,
                source=recorded,
                acknowledge_gpc_conflict=acknowledge_gpc_conflict,
            )
        )
    if to_withdraw:
        receipts.append(consent.withdraw(subject, to_withdraw, source=recorded))
    if to_refuse:
        receipts.append(consent.refuse(subject, to_refuse, source=recorded))
    return TcfOutcome(
        tc_string_sha256=digest,
        vendor_id=vendor_id,
        source=recorded,
        granted=tuple(to_grant),
        withdrawn=tuple(to_withdraw),
        refused=tuple(to_refuse),
        unchanged=unchanged,
        held_by_gpc=held,
        receipts=tuple(receipts),
    )


_TCF_SOURCE = re.compile(r":vendor=\d+:sha256=[0-9a-f]{64}$")


def _by_the_person(source: str | None) -> bool:
    """Whether an event is a choice the person made elsewhere: not one recorded from a TC string
    (its source names the string's hash), and not a GPC signal (weighed by its own conflict
    rule, which a TCF grant can acknowledge)."""
    if source is None:
        return True
    return _TCF_SOURCE.search(source) is None and not source.startswith("gpc")
