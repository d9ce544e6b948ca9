"""Pydantic v2 models for the data that crosses whylens's boundary (one module per area).

Every model is strict, frozen and closed (``extra="forbid"``) and exports a JSON Schema
(``Model.model_json_schema()``) for compliance tooling. Subjects appear here only as pseudonyms
(keyed HMAC of the application's subject id), never as the raw id.
"""

from __future__ import annotations

from .base import (
    Audience,
    ConsentAction,
    DecisionStatus,
    Frozen,
    ItemSource,
    PurposeStatus,
    VerifyReport,
)
from .consent import ConsentEvent, ConsentReceipt, ConsentState, Notice
from .decisions import HELD_OUTCOME, Decision, Recommendations, RecommendedItem, ReviewAction
from .explanations import Change, Comparison, Counterfactual, Explanation, Reason
from .human import (
    ContactCase,
    Disclosure,
    Escalation,
    ItemDecision,
    Note,
    OversightMetric,
    SampledList,
    StaffPick,
)
from .models import ModelCard, ReviewPolicy
from .rights import ErasureReceipt, ExportManifest, PersonalEvent, SubjectExport

__all__ = [
    "HELD_OUTCOME",
    "Audience",
    "Change",
    "Comparison",
    "ConsentAction",
    "ConsentEvent",
    "ConsentReceipt",
    "ConsentState",
    "ContactCase",
    "Counterfactual",
    "Decision",
    "DecisionStatus",
    "Disclosure",
    "ErasureReceipt",
    "Escalation",
    "Explanation",
    "ExportManifest",
    "Frozen",
    "ItemDecision",
    "ItemSource",
    "ModelCard",
    "Note",
    "Notice",
    "OversightMetric",
    "PersonalEvent",
    "PurposeStatus",
    "Reason",
    "Recommendations",
    "RecommendedItem",
    "ReviewAction",
    "ReviewPolicy",
    "SampledList",
    "StaffPick",
    "SubjectExport",
    "VerifyReport",
]
