"""A LightGBM model as flat arrays for the compiled explainer, parsed from LightGBM's model text.

Everything the kernels need is read from ``Booster.model_to_string()`` (the same text whose SHA-256
the registry records): split features, thresholds, decision types (categorical, default-left,
missing type None/Zero/NaN), categorical bitsets, leaf values and the data counts LightGBM uses as
cover. Per leaf we keep the distinct features on its root path ("slots", in order of first use) and
each slot's zero fraction ``z`` (the product of cover ratios along the path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ModelNotExplainable

__all__ = ["FlatModel", "parse_model"]

MAX_SLOTS = 62
"""Distinct features one root-to-leaf path may have (slot sets are 64-bit masks)."""
_I32 = np.int32
_I64 = np.int64


@dataclass(frozen=True)
class FlatModel:
    """The trees of one model version, flattened (see the module docstring)."""

    num_features: int
    num_class: int
    feature_names: tuple[str, ...]
    num_iterations: int
    pandas_categorical: list[list[object]] | None
    tree_node_off: np.ndarray
    tree_leaf_off: np.ndarray
    tree_internal: np.ndarray
    tree_leaves: np.ndarray
    tree_class: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    flags: np.ndarray
    cat_start: np.ndarray
    cat_len: np.ndarray
    cat_bits: np.ndarray
    slot: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf_value: np.ndarray
    leaf_cover: np.ndarray
    uf_off: np.ndarray
    n_unique: np.ndarray
    uf_feature: np.ndarray
    uf_z: np.ndarray
    uf_w: np.ndarray
    """``1 - z`` per slot."""
    uf_r: np.ndarray
    """``(1 - z) / z`` per slot."""
    z_prev: np.ndarray
    """Per internal node: the zero fraction its feature had on the root path before this node
    (1.0 at the feature's first split on the path); Linear TreeSHAP's edge factors start there."""
    ratio_left: np.ndarray
    """Per internal node: the left child's cover over the node's cover."""
    ratio_right: np.ndarray
    """Per internal node: the right child's cover over the node's cover."""
    tree_max_unique: np.ndarray
    """Per tree: the most distinct features on one of its root-to-leaf paths (its depth in
    features, which sizes both the v2 tables, 2**n, and the Linear TreeSHAP quadrature, n/2)."""
    expected: np.ndarray
    """Expected value per class (the bias column): sum over trees of cover-weighted leaf values."""

    @property
    def max_internal(self) -> int:
        return int(self.tree_internal.max(initial=0))

    @property
    def max_leaves(self) -> int:
        return int(self.tree_leaves.max(initial=0))


def _numbers(value: str, dtype: type) -> np.ndarray:
    if not value:
        return np.zeros(0, dtype=dtype)
    return np.array(value.split(" "), dtype=np.float64).astype(dtype)


def _header_and_trees(text: str) -> tuple[dict[str, str], list[dict[str, str]], str]:
    head, sep, rest = text.partition("\nTree=")
    if not sep:
        raise ModelNotExplainable("the model text has no trees")
    header = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    body, _, tail = ("Tree=" + rest).partition("end of trees")
    trees = []
    for block in body.split("Tree=")[1:]:
        fields = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
        trees.append(fields)
    return header, trees, tail


def _pandas_categorical(tail: str) -> list[list[object]] | None:
    import json

    for line in tail.splitlines():
        if line.startswith("pandas_categorical:"):
            value = json.loads(line[len("pandas_categorical:") :])
            return value if value else None
    return None


def parse_model(text: str) -> FlatModel:
    """Flatten LightGBM model text; refuses models TreeSHAP cannot explain exactly."""
    header, trees, tail = _header_and_trees(text)
    if any(t.get("is_linear", "0") != "0" for t in trees):
        raise ModelNotExplainable(
            "the model has linear trees (linear_tree=true): their leaves are linear functions, so "
            "TreeSHAP cannot explain them exactly; retrain without linear_tree"
        )
    num_class = int(header.get("num_tree_per_iteration", header.get("num_class", "1")))
    num_features = int(header["max_feature_idx"]) + 1
    names = tuple(header.get("feature_names", "").split(" ")) if "feature_names" in header else ()
    t_node, t_leaf, t_int, t_leaves, t_cls, t_max = [], [], [], [], [], []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in _PARTS}
    cat_bits: list[np.ndarray] = []
    uf_feature: list[int] = []
    uf_z: list[float] = []
    uf_off: list[int] = []
    n_unique: list[int] = []
    expected = np.zeros(num_class, dtype=np.float64)
    nodes = leaves = bits = 0
    for index, tree in enumerate(trees):
        cls = index % num_class
        n_leaves = int(tree["num_leaves"])
        leaf_value = _numbers(tree["leaf_value"], np.float64)
        t_node.append(nodes)
        t_leaf.append(leaves)
        t_int.append(n_leaves - 1)
        t_leaves.append(n_leaves)
        t_cls.append(cls)
        parts["leaf_value"].append(leaf_value)
        if n_leaves == 1:
            parts["leaf_cover"].append(np.ones(1))
            uf_off.append(len(uf_feature))
            n_unique.append(0)
            t_max.append(0)
            expected[cls] += leaf_value[0]
            leaves += 1
            continue
        feature = _numbers(tree["split_feature"], _I32)
        threshold = _numbers(tree["threshold"], np.float64)
        decision = _numbers(tree["decision_type"], _I32)
        left = _numbers(tree["left_child"], _I32)
        right = _numbers(tree["right_child"], _I32)
        internal_count = _numbers(tree["internal_count"], np.float64)
        leaf_count = _numbers(tree["leaf_count"], np.float64)
        cat_start = np.zeros(n_leaves - 1, dtype=_I32)
        cat_len = np.zeros(n_leaves - 1, dtype=_I32)
        if int(tree.get("num_cat", "0")) > 0:
            bounds = _numbers(tree["cat_boundaries"], _I64)
            words = np.array(tree["cat_threshold"].split(" "), dtype=np.uint64).astype(np.uint32)
            for k in np.flatnonzero(decision & 1):
                idx = int(threshold[k])
                cat_start[k] = bits + bounds[idx]
                cat_len[k] = bounds[idx + 1] - bounds[idx]
            cat_bits.append(words)
            bits += len(words)
        if np.any(internal_count <= 0) or np.any(leaf_count <= 0):
            raise ModelNotExplainable(
                f"tree {index} has a node that no training row reached (zero cover); "
                "path-dependent TreeSHAP is undefined for it"
            )
        slots, z_prev, ratios, paths = _paths(feature, left, right, internal_count, leaf_count)
        for leaf in range(n_leaves):
            features, zs = paths[leaf]
            if len(features) > MAX_SLOTS:
                raise ModelNotExplainable(
                    f"tree {index} has a path through more than {MAX_SLOTS} distinct features"
                )
            uf_off.append(len(uf_feature))
            n_unique.append(len(features))
            uf_feature.extend(features)
            uf_z.extend(zs)
        t_max.append(max(len(paths[leaf][0]) for leaf in range(n_leaves)))
        expected[cls] += float(np.sum(leaf_count / internal_count[0] * leaf_value))
        parts["feature"].append(feature)
        parts["threshold"].append(threshold)
        parts["flags"].append(decision.astype(np.int8))
        parts["cat_start"].append(cat_start)
        parts["cat_len"].append(cat_len)
        parts["slot"].append(slots)
        parts["z_prev"].append(z_prev)
        parts["ratio_left"].append(ratios[:, 0])
        parts["ratio_right"].append(ratios[:, 1])
        # children as local indices: internal nodes first, then leaf k at n_internal + k
        parts["left"].append(np.where(left >= 0, left, n_leaves - 1 + ~left).astype(_I32))
        parts["right"].append(np.where(right >= 0, right, n_leaves - 1 + ~right).astype(_I32))
        parts["leaf_cover"].append(leaf_count)
        nodes += n_leaves - 1
        leaves += n_leaves

    def cat(key: str, dtype: type) -> np.ndarray:
        arrays = parts[key]
        return np.ascontiguousarray(np.concatenate(arrays) if arrays else np.zeros(0), dtype=dtype)

    return FlatModel(
        num_features=num_features,
        num_class=num_class,
        feature_names=names,
        num_iterations=len(trees) // max(num_class, 1),
        pandas_categorical=_pandas_categorical(tail),
        tree_node_off=np.array(t_node, dtype=_I64),
        tree_leaf_off=np.array(t_leaf, dtype=_I64),
        tree_internal=np.array(t_int, dtype=_I32),
        tree_leaves=np.array(t_leaves, dtype=_I32),
        tree_class=np.array(t_cls, dtype=_I32),
        feature=cat("feature", _I32),
        threshold=cat("threshold", np.float64),
        flags=cat("flags", np.int8),
        cat_start=cat("cat_start", _I32),
        cat_len=cat("cat_len", _I32),
        cat_bits=np.ascontiguousarray(
            np.concatenate(cat_bits) if cat_bits else np.zeros(1), dtype=np.uint32
        ),
        slot=cat("slot", _I32),
        left=cat("left", _I32),
        right=cat("right", _I32),
        leaf_value=cat("leaf_value", np.float64),
        leaf_cover=cat("leaf_cover", np.float64),
        uf_off=np.array(uf_off, dtype=_I64),
        n_unique=np.array(n_unique, dtype=_I32),
        uf_feature=np.array(uf_feature, dtype=_I32),
        uf_z=np.array(uf_z, dtype=np.float64),
        uf_w=1.0 - np.array(uf_z, dtype=np.float64),
        uf_r=(1.0 - np.array(uf_z, dtype=np.float64)) / np.array(uf_z, dtype=np.float64),
        z_prev=cat("z_prev", np.float64),
        ratio_left=cat("ratio_left", np.float64),
        ratio_right=cat("ratio_right", np.float64),
        tree_max_unique=np.array(t_max, dtype=_I32),
        expected=expected,
    )


_PARTS = (
    "feature",
    "threshold",
    "flags",
    "cat_start",
    "cat_len",
    "slot",
    "z_prev",
    "ratio_left",
    "ratio_right",
    "left",
    "right",
    "leaf_value",
    "leaf_cover",
)


def _paths(
    feature: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    internal_count: np.ndarray,
    leaf_count: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, tuple[list[int], list[float]]]]:
    """Per internal node its feature's slot on the root path, that feature's zero fraction before
    the node and the children's cover ratios (left, right); per leaf its (features, z)."""
    slots = np.zeros(len(feature), dtype=_I32)
    z_prev = np.ones(len(feature), dtype=np.float64)
    ratios = np.ones((len(feature), 2), dtype=np.float64)
    paths: dict[int, tuple[list[int], list[float]]] = {}
    # (node, distinct features so far, their zero fractions)
    stack: list[tuple[int, list[int], list[float]]] = [(0, [], [])]
    while stack:
        node, feats, zs = stack.pop()
        f = int(feature[node])
        try:
            s = feats.index(f)
        except ValueError:
            s = len(feats)
        slots[node] = s
        z_prev[node] = zs[s] if s < len(feats) else 1.0
        for side, child in enumerate((int(left[node]), int(right[node]))):
            cover = internal_count[child] if child >= 0 else leaf_count[~child]
            ratio = float(cover / internal_count[node])
            ratios[node, side] = ratio
            if s < len(feats):
                cf, cz = feats, zs.copy()
                cz[s] *= ratio
            else:
                cf, cz = [*feats, f], [*zs, ratio]
            if child >= 0:
                stack.append((child, cf, cz))
            else:
                paths[~child] = (cf, cz)
    return slots, z_prev, ratios, paths
