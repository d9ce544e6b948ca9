"""The purposes catalog: what personal data may be processed for, and on which legal basis.

Each purpose carries its GDPR Art. 6 legal basis, a W3C DPV concept IRI and, where one exists,
the IAB TCF v2.2 purposes it corresponds to. Only purposes whose legal basis is ``consent`` need
a grant; the others (``service`` runs on the contract with the person) are always authorised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from ..errors import UnknownPurpose
from ..types import Frozen

__all__ = ["BUILTIN_PURPOSES", "LegalBasis", "Purpose", "PurposeCatalog"]

LegalBasis = Literal[
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_task",
    "legitimate_interest",
]

_PURPOSE_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Purpose(Frozen):
    """One purpose of processing."""

    id: str = Field(pattern=_PURPOSE_ID.pattern)
    name: str
    description: str
    legal_basis: LegalBasis
    dpv: str
    tcf_purposes: tuple[int, ...] = ()

    @property
    def needs_consent(self) -> bool:
        """True when processing is allowed only after a grant."""
        return self.legal_basis == "consent"


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
)


class PurposeCatalog:
    """The purposes this deployment knows: the built-in ones plus any the app registers."""

    def __init__(self, purposes: Iterable[Purpose] = BUILTIN_PURPOSES) -> None:
        self._by_id: dict[str, Purpose] = {}
        for purpose in purposes:
            self.register(purpose)

    def register(self, purpose: Purpose) -> Purpose:
        """Add an app-defined purpose. Registering the same definition twice is a no-op."""
        existing = self._by_id.get(purpose.id)
        if existing is not None and existing != purpose:
            raise UnknownPurpose(
                f"purpose {purpose.id!r} is already registered with a different definition"
            )
        self._by_id[purpose.id] = purpose
        return purpose

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
