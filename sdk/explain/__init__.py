"""Explanations: exact TreeSHAP attributions, concept grouping and narratives per audience.

Usable on its own: ``tree_shap(booster, matrix)`` gives additivity-checked attributions of any
LightGBM booster.
"""

from .card import LogicCard, logic_card
from .compare import compare_items
from .concepts import ShownReasons, concept_contributions, end_user_reasons, reviewer_reasons
from .counterfactual import find_counterfactual
from .narrative import LOCALES
from .readability import flesch_reading_ease
from .treeshap import EXPLAINER, Attributions, tree_shap

__all__ = [
    "EXPLAINER",
    "LOCALES",
    "Attributions",
    "LogicCard",
    "ShownReasons",
    "compare_items",
    "concept_contributions",
    "end_user_reasons",
    "find_counterfactual",
    "flesch_reading_ease",
    "logic_card",
    "reviewer_reasons",
    "tree_shap",
]
