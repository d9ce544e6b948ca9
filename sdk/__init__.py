"""whylens: privacy-first personalization.

Wraps LightGBM personalization models in a consent ledger, field-level encryption, exact SHAP
explanations and a tamper-evident audit trail::

    from sdk import Personalizer
    p = Personalizer.open("whylens.db")

Public names are imported lazily, so ``import sdk`` stays fast: LightGBM, shap and pandas load
only when a model is trained or used.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__

logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .audit import verify_export
    from .audit.contact import ServiceLevel, TriagePolicy
    from .consent import Purpose
    from .errors import WhylensError
    from .models import Feature, FeatureSchema, Model
    from .models.rerank import RerankPolicy
    from .models.rules import Rule
    from .models.schema import Concept
    from .personalizer import Personalizer
    from .store import Durability
    from .subjects.personal import Personal
    from .types import (
        Comparison,
        ConsentEvent,
        ConsentReceipt,
        ConsentState,
        ContactCase,
        Counterfactual,
        Decision,
        Disclosure,
        ErasureReceipt,
        Explanation,
        ExportManifest,
        ModelCard,
        Note,
        Notice,
        PersonalEvent,
        Reason,
        Recommendations,
        RecommendedItem,
        ReviewAction,
        ReviewPolicy,
        StaffPick,
        SubjectExport,
        VerifyReport,
    )

_LAZY: dict[str, str] = {
    "Comparison": "sdk.types",
    "Concept": "sdk.models.schema",
    "ConsentEvent": "sdk.types",
    "ConsentReceipt": "sdk.types",
    "ConsentState": "sdk.types",
    "ContactCase": "sdk.types",
    "Counterfactual": "sdk.types",
    "Decision": "sdk.types",
    "Disclosure": "sdk.types",
    "Durability": "sdk.store",
    "ErasureReceipt": "sdk.types",
    "Explanation": "sdk.types",
    "ExportManifest": "sdk.types",
    "Feature": "sdk.models.schema",
    "FeatureSchema": "sdk.models.schema",
    "Model": "sdk.models.registry",
    "ModelCard": "sdk.types",
    "Note": "sdk.types",
    "Notice": "sdk.types",
    "Personal": "sdk.subjects.personal",
    "PersonalEvent": "sdk.types",
    "Personalizer": "sdk.personalizer",
    "Purpose": "sdk.consent.purposes",
    "Reason": "sdk.types",
    "Recommendations": "sdk.types",
    "RecommendedItem": "sdk.types",
    "RerankPolicy": "sdk.models.rerank",
    "ReviewAction": "sdk.types",
    "ReviewPolicy": "sdk.types",
    "Rule": "sdk.models.rules",
    "ServiceLevel": "sdk.audit.contact",
    "StaffPick": "sdk.types",
    "SubjectExport": "sdk.types",
    "TriagePolicy": "sdk.audit.contact",
    "VerifyReport": "sdk.types",
    "WhylensError": "sdk.errors",
    "verify_export": "sdk.audit.export",
}

__all__ = [
    "Comparison",
    "Concept",
    "ConsentEvent",
    "ConsentReceipt",
    "ConsentState",
    "ContactCase",
    "Counterfactual",
    "Decision",
    "Disclosure",
    "Durability",
    "ErasureReceipt",
    "Explanation",
    "ExportManifest",
    "Feature",
    "FeatureSchema",
    "Model",
    "ModelCard",
    "Note",
    "Notice",
    "Personal",
    "PersonalEvent",
    "Personalizer",
    "Purpose",
    "Reason",
    "Recommendations",
    "RecommendedItem",
    "RerankPolicy",
    "ReviewAction",
    "ReviewPolicy",
    "Rule",
    "ServiceLevel",
    "StaffPick",
    "SubjectExport",
    "TriagePolicy",
    "VerifyReport",
    "WhylensError",
    "__version__",
    "verify_export",
]


_SUBPACKAGES = frozenset(
    {"audit", "consent", "crypto", "errors", "explain", "ledger", "models", "subjects", "types"}
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"sdk.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
