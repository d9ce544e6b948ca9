"""whylens's exact TreeSHAP explainer for LightGBM, in numba: Fast TreeSHAP v2 tables, computed
once per model version within a memory budget, for shallow trees; Linear TreeSHAP (memory and
work linear in depth) for the trees the tables cannot hold; a v1-style path for a few rows
against big tables.

Equal to LightGBM's ``pred_contrib`` (path-dependent TreeSHAP, raw margin) within 1e-9.
"""

from .explainer import DEFAULT_MEMORY_BUDGET, MAX_TABLE_BITS, Explainer
from .model import FlatModel, parse_model

__all__ = ["DEFAULT_MEMORY_BUDGET", "MAX_TABLE_BITS", "Explainer", "FlatModel", "parse_model"]
