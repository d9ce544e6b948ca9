"""The exact explainer of one model version: precompute once, explain any number of rows.

``Explainer.for_booster(booster)`` parses the model, decides per tree whether its Fast TreeSHAP v2
tables fit the memory budget (smallest trees first, paths of at most ``TABLE_MAX_BITS`` features)
and fills them in compiled code; every other tree gets Linear TreeSHAP's per-edge factors
(``linear.py``), whose memory grows with depth, not 2**depth. The result is cached by the
model's SHA-256 content hash (and, weakly, by booster object), so serving pays for it once per
model version, not per request.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from .inputs import row_blocks, row_count
from .model import MAX_SLOTS, FlatModel, parse_model

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["DEFAULT_MEMORY_BUDGET", "MAX_TABLE_BITS", "Explainer"]

DEFAULT_MEMORY_BUDGET = 64 * 1024 * 1024
"""Bytes of v2 tables one model version may hold; trees beyond it use Linear TreeSHAP."""
WARM_TABLE_BYTES = 8 * 1024 * 1024
"""Tables up to this size stay in cache between requests and serve single rows too."""
TABLE_MIN_ROWS = 16
"""Bigger tables pay off only when a block of rows reuses each tree's tables (tree-major loop)."""
MAX_TABLE_BITS = 16
"""A leaf with more distinct features on its path than this never gets a table (2**16 values)."""
TABLE_MAX_BITS = 12
"""Trees deeper than this (distinct features on a path) use Linear TreeSHAP even when their
tables would fit: past it the 2**n-value tables miss the cache and one look-up per (leaf,
feature) costs more than Linear TreeSHAP's ``n / 2`` quadrature points per edge. Measured on the
100-tree, 255-leaf bench model (paths of 12-20 features): 50x a plain predict with every table
that fits 64 MB, 79x with all tables, 45x with every tree on Linear TreeSHAP; at 31 leaves
(paths of 6-12) the tables stay ahead, 11.4x against 13.0x."""
_CACHE_SIZE = 16

_lock = threading.Lock()
_by_hash: OrderedDict[tuple[str, int], Explainer] = OrderedDict()
_by_booster: weakref.WeakKeyDictionary[Any, tuple[int, Explainer]] = weakref.WeakKeyDictionary()


class Explainer:
    """Exact path-dependent TreeSHAP (raw margin) of one LightGBM model version.

    ``explain(data)`` returns ``(values, raw)``: ``values`` of shape ``(rows, outputs,
    features + 1)`` with the bias (expected value) in the last column, and ``raw`` of shape
    ``(rows, outputs)``, the model's raw margin from the same tree walk.
    """

    def __init__(
        self,
        flat: FlatModel,
        content_hash: str,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        *,
        table_bits: int = TABLE_MAX_BITS,
        warm_table_bytes: int = WARM_TABLE_BYTES,
    ) -> None:
        self.model = flat
        self.warm_table_bytes = warm_table_bytes
        self.content_hash = content_hash
        self.memory_budget = memory_budget
        n = flat.n_unique.astype(np.int64)
        sizes = np.where(n <= MAX_TABLE_BITS, np.int64(1) << np.minimum(n, 62), 0)
        # per tree: its tables' total size; a tree too deep for tables sorts last and never fits
        leaf_tree = np.repeat(np.arange(len(flat.tree_leaves)), flat.tree_leaves)
        tree_size = np.bincount(leaf_tree, weights=sizes, minlength=len(flat.tree_leaves))
        tree_size = tree_size.astype(np.int64)
        deep = flat.tree_max_unique > min(MAX_TABLE_BITS, table_bits)
        tree_size[deep] = np.iinfo(np.int64).max // 4
        # smallest trees first: the most trees on tables for the budget; the rest, and every tree
        # deeper than ``table_bits``, go to Linear TreeSHAP (memory linear in depth)
        has_table = np.zeros(len(tree_size), dtype=bool)
        total = 0
        limit = memory_budget // 8
        for tree in np.argsort(tree_size, kind="stable"):
            size = int(tree_size[tree])
            if total + size > limit:
                break
            has_table[tree] = True
            total += size
        linear = ~has_table & (flat.tree_internal > 0)
        table_off = np.full(len(n), -1, dtype=np.int64)
        tabled = np.flatnonzero(has_table[leaf_tree])
        table_off[tabled] = np.cumsum(sizes[tabled]) - sizes[tabled]
        self.table_off = table_off
        self._no_tables = np.full(len(n), -1, dtype=np.int64)
        self.tables = np.zeros(max(total, 1), dtype=np.float64)
        # numba loads on first use, not at ``import sdk``
        from . import kernels
        from . import linear as lin

        self._kernels = kernels
        self._linear = lin
        self.weights = kernels.shapley_weights(MAX_SLOTS + 1)
        bits = int(n[table_off >= 0].max(initial=0))
        kernels.build_tables(
            flat.leaf_value,
            flat.uf_off,
            flat.n_unique,
            flat.uf_z,
            table_off,
            self.weights,
            self.tables,
            bits,
        )
        points = np.array([lin.points_for(int(d)) for d in flat.tree_max_unique], dtype=np.int64)
        lin_size = np.where(linear, 8 * points * flat.tree_internal, 0)
        self.lin_off = np.where(linear, np.cumsum(lin_size) - lin_size, -1).astype(np.int64)
        self.lin_points = points
        self.max_points = int(points[linear].max(initial=1))
        nodes, qweights = lin.quadrature(self.max_points)
        self.lin_mul = np.zeros(max(int(lin_size.sum()), 1), dtype=np.float64)
        self.lin_dif = np.zeros_like(self.lin_mul)
        # per internal node: the child's leaf value, 1.0 when the child is an internal node
        leaf_base = np.repeat(flat.tree_leaf_off - flat.tree_internal, flat.tree_internal)
        inner = np.repeat(flat.tree_internal, flat.tree_internal)
        value_left, value_right = (
            np.where(child >= inner, flat.leaf_value[np.maximum(leaf_base + child, 0)], 1.0)
            for child in (flat.left.astype(np.int64), flat.right.astype(np.int64))
        )
        self._scaled_left = flat.ratio_left * value_left
        self._scaled_right = flat.ratio_right * value_right
        lin.edge_factors(
            flat.tree_node_off, flat.tree_internal, self.lin_off, points, nodes, qweights,
            flat.z_prev, flat.ratio_left, flat.ratio_right, value_left, value_right,
            self.lin_mul, self.lin_dif,
        )  # fmt: skip
        self.linear_trees = int(np.count_nonzero(linear))
        self._any_linear = self.linear_trees > 0

    # -- construction and cache --------------------------------------------------------------

    @classmethod
    def from_model_string(
        cls,
        text: str,
        *,
        content_hash: str | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> Explainer:
        """The (cached) explainer of LightGBM model text; refuses models it cannot explain."""
        digest = content_hash or hashlib.sha256(text.encode()).hexdigest()
        key = (digest, memory_budget)
        with _lock:
            found = _by_hash.get(key)
            if found is not None:
                _by_hash.move_to_end(key)
                return found
        explainer = cls(parse_model(text), digest, memory_budget)
        with _lock:
            _by_hash[key] = explainer
            while len(_by_hash) > _CACHE_SIZE:
                _by_hash.popitem(last=False)
        return explainer

    @classmethod
    def for_booster(
        cls,
        booster: lgb.Booster,
        *,
        content_hash: str | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> Explainer:
        """The explainer of ``booster``, built once per model version and then cached.

        Pass the model's ``content_hash`` (SHA-256 of ``model_to_string()``) when known: the
        look-up then costs a dictionary access instead of serialising the model.
        """
        iteration = booster.current_iteration()
        with _lock:
            if content_hash is not None:
                found = _by_hash.get((content_hash, memory_budget))
                if found is not None:
                    return found
            weak = _by_booster.get(booster)
            if (
                weak is not None
                and weak[0] == iteration
                and weak[1].memory_budget == memory_budget
                and content_hash in (None, weak[1].content_hash)
            ):
                return weak[1]
        text = booster.model_to_string()
        explainer = cls.from_model_string(
            text, content_hash=content_hash, memory_budget=memory_budget
        )
        with _lock:
            _by_booster[booster] = (iteration, explainer)
        return explainer

    # -- explaining ----------------------------------------------------------------------------

    @property
    def num_features(self) -> int:
        """Number of feature columns the model takes."""
        return self.model.num_features

    @property
    def num_outputs(self) -> int:
        """1 for binary classifiers, rankers and regressors; the class count for multiclass."""
        return self.model.num_class

    @property
    def table_bytes(self) -> int:
        """Memory held by the Fast TreeSHAP v2 tables."""
        return int(self.tables.nbytes)

    @property
    def linear_bytes(self) -> int:
        """Memory held by the Linear TreeSHAP edge factors (linear in depth, per edge)."""
        return int(self.lin_mul.nbytes + self.lin_dif.nbytes)

    @property
    def leaves_without_table(self) -> int:
        """Leaves of the trees explained without v2 tables (by Linear TreeSHAP)."""
        return int(np.count_nonzero(self.table_off < 0))

    def explain(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """Exact SHAP values and raw margins of every row of ``data`` (one thread)."""
        m = self.model
        rows = row_count(data)
        values = np.zeros((rows, m.num_class, m.num_features + 1), dtype=np.float64)
        raw = np.zeros((rows, m.num_class), dtype=np.float64)
        start = 0
        for block in row_blocks(data, m.num_features, m.pandas_categorical):
            stop = start + block.shape[0]
            self._run(block, values[start:stop], raw[start:stop])
            start = stop
        values[:, :, m.num_features] = m.expected
        return values, raw

    def _run(self, block: np.ndarray, out: np.ndarray, pred: np.ndarray) -> None:
        m = self.model
        # a few rows against big tables would be one cache miss per look-up: the v1-style path,
        # pure arithmetic, is faster then
        use = block.shape[0] >= TABLE_MIN_ROWS or self.table_bytes <= self.warm_table_bytes
        self._kernels.explain_rows(
            block, out, pred,
            m.tree_node_off, m.tree_leaf_off, m.tree_internal, m.tree_leaves, m.tree_class,
            m.feature, m.threshold, m.flags, m.cat_start, m.cat_len, m.cat_bits,
            m.slot, m.left, m.right, m.leaf_value,
            m.uf_off, m.n_unique, m.uf_feature, m.uf_z, m.uf_w, m.uf_r,
            self.table_off if use else self._no_tables, self.tables, self.weights,
            self.lin_off, m.max_internal, m.max_leaves,
        )  # fmt: skip
        if self._any_linear:
            self._linear.explain_rows_linear(
                block, out, pred,
                m.tree_node_off, m.tree_leaf_off, m.tree_internal, m.tree_leaves, m.tree_class,
                m.feature, m.threshold, m.flags, m.cat_start, m.cat_len, m.cat_bits,
                m.slot, m.left, m.right, m.leaf_value, self._scaled_left, self._scaled_right,
                self.lin_off, self.lin_points, self.lin_mul, self.lin_dif,
                m.max_internal, m.max_leaves, self.max_points,
            )  # fmt: skip
