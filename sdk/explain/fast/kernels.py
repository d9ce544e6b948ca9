# numba types these kernels itself; numpy scalars and numba decorators are noise to mypy
# mypy: ignore-errors
"""Compiled kernels of the exact explainer (numba, one thread, cached on disk).

The path-dependent TreeSHAP value of one leaf ``l`` with value ``v`` is a Shapley value over the
``n`` distinct features ``U`` on its root path. With ``z_j`` the product of the cover ratios along
the path for feature ``j`` and ``A`` the features whose splits the row follows (``o_j = 1``):

    phi_i += -v * E(A) * R               for i in U \\ A
    phi_i += (1 - z_i) * v * E(A \\ {i}) * R   for i in A
    E(B) = sum_{S in B} |S|! (n - |S| - 1)! / n! * prod_{j in B \\ S} z_j
    R = prod_{j not in A} z_j

Fast TreeSHAP v2 (Yang 2021) precomputes such sums for every subset of every leaf once per model,
so explaining a row costs one table look-up per (leaf, feature). We store
``T(B) = v * E(B) * prod_{j not in B} z_j``, which folds the row's ``R`` in: ``-T(A)`` for
``i`` not in ``A`` and ``T(A - i) * (1 - z_i) / z_i`` for ``i`` in ``A`` (``z_i > 0``: models with
zero-cover nodes are refused). A leaf whose table would not fit the memory budget computes ``E``
from the polynomial ``prod_{j in A} (z_j + t)`` instead (O(n^2) per leaf and row, no memory),
which is the v1-style path.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .model import MAX_SLOTS

# LightGBM's kZeroThreshold is the float literal 1e-35f widened to double
ZERO_THRESHOLD = float(np.float32(1e-35))

_JIT = {"nogil": True, "cache": True, "fastmath": False}


def shapley_weights(n_max: int) -> np.ndarray:
    """``w[n, k] = k! (n - k - 1)! / n!`` for ``0 <= k < n <= n_max``."""
    w = np.zeros((n_max + 1, n_max + 1), dtype=np.float64)
    for n in range(1, n_max + 1):
        for k in range(n):
            w[n, k] = math.exp(math.lgamma(k + 1) + math.lgamma(n - k) - math.lgamma(n + 1))
    return w


@numba.njit(**_JIT)
def build_tables(
    leaf_value: np.ndarray,
    uf_off: np.ndarray,
    n_unique: np.ndarray,
    uf_z: np.ndarray,
    table_off: np.ndarray,
    weights: np.ndarray,
    tables: np.ndarray,
    max_bits: int,
) -> None:
    """Fill ``tables[table_off[l] + B] = T_l(B)`` for every leaf that has a table."""
    scratch = np.empty(((1 << max_bits), max_bits + 1), dtype=np.float64)
    zprod = np.empty(1 << max_bits, dtype=np.float64)
    for leaf in range(leaf_value.shape[0]):
        start = table_off[leaf]
        if start < 0:
            continue
        n = n_unique[leaf]
        off = uf_off[leaf]
        v = leaf_value[leaf]
        scratch[0, 0] = 1.0
        zprod[0] = 1.0
        e_values = tables[start : start + (1 << n)]
        e_values[0] = weights[n, 0]
        for b in range(1, 1 << n):
            low = 0
            while not (b >> low) & 1:
                low += 1
            parent = b ^ (1 << low)
            z = uf_z[off + low]
            zprod[b] = zprod[parent] * z
            size = 0
            rest = b
            while rest:
                rest &= rest - 1
                size += 1
            # coefficients of prod_{j in B} (z_j + t): t^k chosen from k features "present"
            scratch[b, size] = scratch[parent, size - 1]
            for k in range(size - 1, 0, -1):
                scratch[b, k] = z * scratch[parent, k] + scratch[parent, k - 1]
            scratch[b, 0] = z * scratch[parent, 0]
            e = 0.0
            for k in range(size + 1):
                e += weights[n, k] * scratch[b, k]
            e_values[b] = e
        full = (1 << n) - 1
        for b in range(1 << n):
            e_values[b] *= v * zprod[full ^ b]


@numba.njit(inline="always")
def _category(fv: float) -> int:
    """The category LightGBM's CategoricalDecision reads from ``fv``; -1 always goes right."""
    if fv != fv or fv >= 2147483648.0:
        return -1
    return np.int64(fv)


@numba.njit(**_JIT)
def explain_rows(
    x: np.ndarray,
    out: np.ndarray,
    pred: np.ndarray,
    tree_node_off: np.ndarray,
    tree_leaf_off: np.ndarray,
    tree_internal: np.ndarray,
    tree_leaves: np.ndarray,
    tree_class: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    flags: np.ndarray,
    cat_start: np.ndarray,
    cat_len: np.ndarray,
    cat_bits: np.ndarray,
    slot: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    leaf_value: np.ndarray,
    uf_off: np.ndarray,
    n_unique: np.ndarray,
    uf_feature: np.ndarray,
    uf_z: np.ndarray,
    uf_w: np.ndarray,
    uf_r: np.ndarray,
    table_off: np.ndarray,
    tables: np.ndarray,
    weights: np.ndarray,
    lin_off: np.ndarray,
    max_internal: int,
    max_leaves: int,
) -> None:
    """Add each tree's TreeSHAP values of every row of ``x`` into ``out[row, class, feature]``.

    ``pred[row, class]`` receives the sum of the reached leaves' values (the raw margin). Trees
    are the outer loop so that one tree's tables stay in cache while a block of rows uses them.
    Trees with ``lin_off[t] >= 0`` are left to ``linear.explain_rows_linear``.
    """
    dis = np.zeros(max_internal + max_leaves + 1, dtype=np.int64)
    poly = np.empty(MAX_SLOTS + 2, dtype=np.float64)
    agree_slots = np.empty(MAX_SLOTS + 2, dtype=np.int64)
    dis_slots = np.empty(MAX_SLOTS + 2, dtype=np.int64)
    for t in range(tree_node_off.shape[0]):
        if lin_off[t] >= 0:
            continue
        cls = tree_class[t]
        lo = tree_leaf_off[t]
        ni = tree_internal[t]
        no = tree_node_off[t]
        for r in range(x.shape[0]):
            if ni == 0:
                pred[r, cls] += leaf_value[lo]
                continue
            row = x[r]
            phi = out[r, cls]
            # bit s set: the row disagrees with the path at distinct feature slot s; children are
            # numbered internal first, then leaves (ni + leaf), so no branch on the child's kind
            dis[0] = 0
            for k in range(ni):
                g = no + k
                # LightGBM's Decision, written out here: a call passing arrays costs refcounting
                fv = row[feature[g]]
                fl = np.int64(flags[g])
                if fl & 1:
                    cat = _category(fv)
                    go = 0
                    if cat >= 0 and (cat >> 5) < cat_len[g]:
                        go = (np.int64(cat_bits[cat_start[g] + (cat >> 5)]) >> (cat & 31)) & 1
                else:
                    missing = (fl >> 2) & 3
                    if fv != fv and missing != 2:
                        fv = 0.0
                    if (missing == 1 and -ZERO_THRESHOLD <= fv <= ZERO_THRESHOLD) or (
                        missing == 2 and fv != fv
                    ):
                        go = (fl >> 1) & 1
                    else:
                        go = np.int64(fv <= threshold[g])
                d = dis[k]
                bit = np.int64(1) << slot[g]
                dis[left[g]] = d | (bit * (1 - go))
                dis[right[g]] = d | (bit * go)
            for j in range(tree_leaves[t]):
                leaf = lo + j
                n = n_unique[leaf]
                off = uf_off[leaf]
                d = dis[ni + j]
                pred[r, cls] += leaf_value[leaf] if d == 0 else 0.0
                agree = ((np.int64(1) << n) - 1) & ~d
                start = table_off[leaf]
                if start >= 0:
                    # T(B) = v E(B) prod_{j not in B} z_j, so the row's residual is in T(A) and
                    # T(A - i) * (1 - z_i) / z_i; z_i > 0 (zero covers are refused)
                    minus = tables[start + agree]
                    for s in range(n):
                        plus = tables[start + (agree ^ (np.int64(1) << s))] * uf_r[off + s]
                        phi[uf_feature[off + s]] += -minus if (d >> s) & 1 else plus
                    continue
                # branch-free split of the slots into followed / not followed by the row: a
                # mispredicted branch per (leaf, slot) would cost more than the arithmetic
                residual = 1.0
                na = 0
                nd = 0
                for s in range(n):
                    b = (d >> s) & 1
                    residual *= uf_z[off + s] if b else 1.0
                    agree_slots[na] = s
                    dis_slots[nd] = s
                    na += 1 - b
                    nd += b
                # v1-style: the polynomial prod_{j in A} (z_j + t), then divide out each i in A
                poly[0] = 1.0
                for q in range(na):
                    z = uf_z[off + agree_slots[q]]
                    poly[q + 1] = poly[q]
                    for k in range(q, 0, -1):
                        poly[k] = z * poly[k] + poly[k - 1]
                    poly[0] = z * poly[0]
                v = leaf_value[leaf] * residual
                e_all = 0.0
                for k in range(na + 1):
                    e_all += weights[n, k] * poly[k]
                minus = v * e_all
                for q in range(nd):
                    phi[uf_feature[off + dis_slots[q]]] -= minus
                for q in range(na):
                    s = agree_slots[q]
                    z = uf_z[off + s]
                    # synthetic division by (z + t), top down, summed against the weights as we go
                    c = poly[na]
                    e = weights[n, na - 1] * c
                    for k in range(na - 1, 0, -1):
                        c = poly[k] - z * c
                        e += weights[n, k - 1] * c
                    phi[uf_feature[off + s]] += v * e * uf_w[off + s]
