"""Explanations: exact TreeSHAP attributions, concept grouping and narratives per audience.

Usable on its own: ``tree_shap(booster, matrix)`` gives additivity-checked attributions of any
LightGBM booster.
"""

from .concepts import ShownReasons, end_user_reasons, reviewer_reasons
from .narrative import LOCALES
from .treeshap import EXPLAINER, Attributions, tree_shap

__all__ = [
    "EXPLAINER",
    "LOCALES",
    "Attributions",
    "ShownReasons",
    "end_user_reasons",
    "reviewer_reasons",
    "tree_shap",
]
