"""whylens's exact TreeSHAP explainer for LightGBM: Fast TreeSHAP v2 tables, computed once per
model version within a memory budget, with a v1-style path for leaves too deep for it, in numba.

Equal to LightGBM's ``pred_contrib`` (path-dependent TreeSHAP, raw margin) within 1e-9.
"""

from .explainer import DEFAULT_MEMORY_BUDGET, MAX_TABLE_BITS, Explainer
from .model import FlatModel, parse_model

__all__ = ["DEFAULT_MEMORY_BUDGET", "MAX_TABLE_BITS", "Explainer", "FlatModel", "parse_model"]
