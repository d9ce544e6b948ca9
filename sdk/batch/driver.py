"""What a batch job needs of the driver's Personalizer: its ledger, consent, preferences, data
keys and model registry. A protocol, so this package names no higher layer (the Personalizer
satisfies it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..consent import ConsentLedger
    from ..keys import SubjectKeys
    from ..ledger import Ledger
    from ..models.preferences import Preferences
    from ..models.registry import ModelRegistry

__all__ = ["Driver"]


class Driver(Protocol):
    """The parts of ``p`` a job reads on the driver (workers get none of them)."""

    ledger: Ledger
    consent: ConsentLedger
    preferences: Preferences
    keys: SubjectKeys
    models: ModelRegistry
