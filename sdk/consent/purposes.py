"""The purposes catalog: what personal data may be processed for, and on which legal basis.

Each purpose carries its GDPR Art. 6 legal basis, a W3C DPV concept (``dpv:`` is
``https://w3id.org/dpv#``; every built-in IRI is a concept of DPV 2) and, where one exists, the
IAB TCF v2.2 purposes it corresponds to. Only purposes whose legal basis is ``consent`` need a
grant; ``legitimate_interest`` and ``public_task`` purposes are authorised until the person
objects (GDPR Art. 21, :meth:`~sdk.consent.ConsentLedger.object`); the others (``service`` runs on
the contract with the person) are always authorised.

App-defined purposes are registered with ``p.consent.purposes.register(Purpose(...))``; through
``p.consent`` the definition is also recorded on the ledger, so a later process (and the consent
state derived from the log alone) knows it without registering it again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import Field

from ..errors import UnknownPurpose
from ..types import Frozen

__all__ = ["BUILTIN_PURPOSES", "DPV_NS", "OBJECTABLE", "LegalBasis", "Purpose", "PurposeCatalog"]

LegalBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_task",
    "legitimate_interest",
]
"""The six lawful bases of GDPR Art. 6(1), (a) to (f); only ``consent`` needs a grant."""

_PURPOSE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
DPV_NS = "https://w3id.org/dpv#"
OBJECTABLE: frozenset[str] = frozenset({"legitimate_interest", "public_task"})
"""Legal bases under which the person has the right to object (GDPR Art. 21(1))."""


class Purpose(Frozen):
    """One purpose of processing."""

    id: str = Field(pattern=_PURPOSE_ID.pattern)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(max_length=2000)
    legal_basis: LegalBasis
    dpv: str = Field(pattern=r"^(dpv:[A-Za-z]{1,120}|https?://\S{1,300})$")
    """A DPV purpose concept (``dpv:Marketing``) or any IRI for app-specific concepts."""
    tcf_purposes: tuple[int, ...] = ()
    validity_days: int | None = Field(default=None, ge=1, le=3660)
    """How long a grant stays valid unless the grant says otherwise (None: until withdrawn)."""

    @property
    def needs_consent(self) -> bool:
        """True when processing is allowed only after a grant."""
        return self.legal_basis == "consent"

    @property
    def objectable(self) -> bool:
        """True when the person may object to this processing (GDPR Art. 21)."""
        return self.legal_basis in OBJECTABLE

    @property
    def dpv_iri(self) -> str:
        """The full DPV IRI (``dpv:X`` expanded to ``https://w3id.org/dpv#X``)."""
        return DPV_NS + self.dpv[4:] if self.dpv.startswith("dpv:") else self.dpv


BUILTIN_PURPOSES: tuple[Purpose, ...] = (
    Purpose(
        id="service",
        name="Providing the service",
        description="What is needed to run the shop or service the person asked for.",
        legal_basis="contract",
        dpv="dpv:ServiceProvision",
    ),
    Purpose(
        id="personalization",
        name="Personalised recommendations",
        description="Using what the person browsed and bought to choose what to show them.",
        legal_basis="consent",
        dpv="dpv:ServicePersonalisation",
        tcf_purposes=(5, 6),
    ),
    Purpose(
        id="profiling",
        name="Automated decisions",
        description="Using the person's data in automated decisions about them (GDPR Art. 22).",
        legal_basis="consent",
        dpv="dpv:DecisionMaking",
    ),
    Purpose(
        id="fraud_prevention",
        name="Fraud prevention",
        description="Detecting and preventing fraud against the person and the shop.",
        legal_basis="legitimate_interest",
        dpv="dpv:FraudPreventionAndDetection",
    ),
    Purpose(
        id="analytics",
        name="Analytics",
        description="Measuring how the service is used, to improve it.",
        legal_basis="consent",
        dpv="dpv:ServiceUsageAnalytics",
        tcf_purposes=(8, 9),
    ),
    Purpose(
        id="marketing",
        name="Marketing",
        description="Personalised advertising and marketing messages.",
        legal_basis="consent",
        dpv="dpv:Marketing",
        tcf_purposes=(3, 4),
    ),
    Purpose(
        id="customer_notes",
        name="Notes to the shop",
        description="Keeping the notes a person leaves for the shop's staff, so that a person "
        "at the shop reads them and can hand-pick items or answer.",
        legal_basis="consent",
        dpv="dpv:CustomerCare",
    ),
)
"""The purposes every catalog starts with (see the purposes reference page for the table)."""


class PurposeCatalog:
    """The purposes this deployment knows: the built-in ones plus any the app registers."""

    def __init__(self, purposes: Iterable[Purpose] = BUILTIN_PURPOSES) -> None:
        self._by_id: dict[str, Purpose] = {}
        self.on_register: Callable[[Purpose], None] | None = None
        """Called with each new definition before it is added (the consent ledger records it)."""
        self.sync: Callable[[], object] | None = None
        """Brings the catalog up to date with the ledger (purposes other processes registered)."""
        for purpose in purposes:
            self.register(purpose)

    def register(self, purpose: Purpose) -> Purpose:
        """Add an app-defined purpose. Registering the same definition twice is a no-op."""
        if not isinstance(purpose, Purpose):
            raise UnknownPurpose("register takes a Purpose(...)")
        if self.sync is not None:
            self.sync()
        existing = self._by_id.get(purpose.id)
        if existing is not None:
            if existing != purpose:
                raise UnknownPurpose(
                    f"purpose {purpose.id!r} is already registered with a different definition"
                )
            return existing
        if self.on_register is not None:
            self.on_register(purpose)
        self._by_id[purpose.id] = purpose
        return purpose

    def _add_recorded(self, purpose: Purpose) -> None:
        """Add a definition read back from the ledger (no hook: it is recorded already)."""
        self._by_id.setdefault(purpose.id, purpose)

    def for_tcf(self, tcf_purpose: int) -> tuple[Purpose, ...]:
        """Our purposes that TCF purpose ``tcf_purpose`` maps onto."""
        return tuple(p for p in self._by_id.values() if tcf_purpose in p.tcf_purposes)

    def get(self, purpose_id: str) -> Purpose:
        """The purpose with this id, or :class:`UnknownPurpose`."""
        try:
            return self._by_id[purpose_id]
        except (KeyError, TypeError):
            raise UnknownPurpose(
                f"unknown purpose {_short(purpose_id)}; known purposes: {', '.join(self.ids)}. "
                "Register app-defined purposes with consent.purposes.register(Purpose(...))."
            ) from None

    def require(self, purposes: str | Iterable[str]) -> tuple[str, ...]:
        """Validate one id or several; returns them de-duplicated in a stable order."""
        items = [purposes] if isinstance(purposes, str) else list(purposes)
        if not items:
            raise UnknownPurpose("no purpose given; name at least one purpose")
        for item in items:
            self.get(item)
        return tuple(dict.fromkeys(items))

    @property
    def ids(self) -> tuple[str, ...]:
        """All purpose ids, sorted."""
        return tuple(sorted(self._by_id))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def __contains__(self, purpose_id: object) -> bool:
        return purpose_id in self._by_id


def _short(value: object) -> str:
    text = repr(value) if isinstance(value, str) else f"of type {type(value).__name__}"
    return text if len(text) <= 66 else text[:63] + "...'"
