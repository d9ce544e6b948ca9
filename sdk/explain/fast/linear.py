# numba types these kernels itself; numpy scalars and numba decorators are noise to mypy
# mypy: ignore-errors
"""Linear TreeSHAP kernels: exact path-dependent TreeSHAP in O(nodes x depth) per row and tree.

For the trees whose Fast TreeSHAP v2 tables (2**n values per leaf) do not fit the memory budget.
The idea is Bifet, Read and Xu's Linear TreeShap (NeurIPS 2022): a leaf's Shapley sum is a
polynomial in one variable, the polynomials of the leaves below an edge are summed once, and each
edge adds its feature's share from that sum. We evaluate the polynomials at Gauss-Legendre nodes
instead of keeping coefficients, which makes every step a positive product (no cancellation):

With ``k! (n-k-1)! / n! = int_0^1 t^k (1-t)^(n-k-1) dt``, the value of leaf ``l`` (value ``v``,
distinct path features ``U``, zero fractions ``z_j``, ``o_j = 1`` if the row follows every split
on ``j``) for feature ``i`` is

    phi_i += v * (o_i - z_i) * int_0^1 prod_{j in U, j != i} a_j(t) dt,   a_j(t) = z_j (1-t) + o_j t

so with ``P_l(t) = v * prod_{j in U} a_j(t)`` it is ``int P_l(t) (o_i - z_i) / a_i(t) dt``, a
polynomial of degree ``n - 1``: ``ceil(n / 2)`` Gauss-Legendre points integrate it exactly. When
feature ``i`` is split again lower on the path, ``(o_i - z_i) / a_i`` telescopes over its splits,
so each edge adds ``int S(t) [(o - z) / a after the edge - (o - z) / a before it] dt`` where ``S``
is the sum of ``P_l`` over the leaves below the edge: the same for all of them. ``a`` only depends
on the model and on whether the row follows the edge, so the per-edge factors (the ratio ``a after
/ a before`` that builds ``P`` top down, and the weighted difference above) are computed once per
model version for the two cases; a row then costs one multiply on the way down and one multiply-add
and one add on the way up per edge and point. A feature the row already left on the path has
``o = 0`` and both factors reduce to the cover ratio and zero.
"""

from __future__ import annotations

import numba
import numpy as np

from .kernels import ZERO_THRESHOLD, _category

__all__ = ["edge_factors", "explain_rows_linear", "points_for", "quadrature"]

_JIT = {"nogil": True, "cache": True, "fastmath": False}
# the per-edge sums may be reassociated (vector lanes) and fused: a few ulps, far below 1e-9;
# no flag that would change NaN or infinity handling (the decisions test NaN)
_JIT_SUM = {"nogil": True, "cache": True, "fastmath": {"reassoc", "contract"}}
_U = np.uint64


def points_for(max_unique: int) -> int:
    """Gauss-Legendre points that integrate a path of ``max_unique`` features exactly.

    Padding to a multiple of the vector width (more points stay exact) measured no faster: the
    loops over points vectorize with unsigned indices either way.
    """
    return max(1, (max_unique + 1) // 2)


def quadrature(max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]: row ``m`` holds the ``m``-point rule."""
    nodes = np.zeros((max_points + 1, max(max_points, 1)), dtype=np.float64)
    weights = np.zeros_like(nodes)
    for m in range(1, max_points + 1):
        x, w = np.polynomial.legendre.leggauss(m)
        nodes[m, :m] = (x + 1.0) / 2.0
        weights[m, :m] = w / 2.0
    return nodes, weights


@numba.njit(**_JIT)
def edge_factors(
    tree_node_off: np.ndarray,
    tree_internal: np.ndarray,
    lin_off: np.ndarray,
    lin_points: np.ndarray,
    nodes: np.ndarray,
    weights: np.ndarray,
    z_prev: np.ndarray,
    ratio_left: np.ndarray,
    ratio_right: np.ndarray,
    value_left: np.ndarray,
    value_right: np.ndarray,
    mul: np.ndarray,
    dif: np.ndarray,
) -> None:
    """Fill each linear tree's per-edge factors at ``lin_off[t]``.

    ``mul`` into a leaf is scaled by the leaf's value (``value_left`` / ``value_right``: the
    child's leaf value, 1.0 for an internal child). Layout: ``((k * 2 + side) * 2 + follows) *
    m + point`` for internal node ``k`` of the tree,
    ``side`` 0 left / 1 right, ``follows`` 1 when the row takes that child; ``m = lin_points[t]``
    and row ``m`` of ``nodes`` and ``weights`` is the ``m``-point rule.
    """
    for t in range(tree_node_off.shape[0]):
        base = lin_off[t]
        m = lin_points[t]
        if base < 0:
            continue
        no = tree_node_off[t]
        for k in range(tree_internal[t]):
            g = no + k
            z_old = z_prev[g]
            for side in range(2):
                z_new = z_old * (ratio_left[g] if side == 0 else ratio_right[g])
                # a leaf child's value enters with its edge: P at the leaf is then its S
                scale = value_left[g] if side == 0 else value_right[g]
                for p in range(m):
                    tp = nodes[m, p]
                    u = 1.0 - tp
                    a_old = z_old * u + tp
                    b_old = (1.0 - z_old) / a_old
                    a_on = z_new * u + tp
                    at = base + ((k * 2 + side) * 2) * m + p
                    # the row leaves the edge: a = z (1 - t), (o - z) / a = -1 / (1 - t)
                    mul[at] = scale * z_new * u / a_old
                    dif[at] = weights[m, p] * (-1.0 / u - b_old)
                    # the row takes the edge
                    mul[at + m] = scale * a_on / a_old
                    dif[at + m] = weights[m, p] * ((1.0 - z_new) / a_on - b_old)


@numba.njit(**_JIT_SUM)
def explain_rows_linear(
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
    scaled_left: np.ndarray,
    scaled_right: np.ndarray,
    lin_off: np.ndarray,
    lin_points: np.ndarray,
    mul: np.ndarray,
    dif: np.ndarray,
    max_internal: int,
    max_leaves: int,
    max_points: int,
) -> None:
    """Add the TreeSHAP values of the linear trees (``lin_off[t] >= 0``) into ``out``.

    Same contract as ``kernels.explain_rows`` for the other trees; trees are the outer loop so
    that one tree's factors stay in cache while a block of rows uses them. ``scaled_left`` /
    ``scaled_right``: the cover ratios times the child's leaf value (1.0 for an internal child),
    as in ``edge_factors``.
    """
    size = max_internal + max_leaves + 1
    dis = np.zeros(size, dtype=np.int64)
    went = np.zeros(size, dtype=np.int64)
    # P (the product down to each node), then in place S (the sum of the leaves' P below it)
    acc = np.empty((size, max(max_points, 1)), dtype=np.float64)
    for t in range(tree_node_off.shape[0]):
        base = lin_off[t]
        if base < 0:
            continue
        m = lin_points[t]
        um = _U(m)
        cls = tree_class[t]
        lo = tree_leaf_off[t]
        ni = tree_internal[t]
        no = tree_node_off[t]
        for r in range(x.shape[0]):
            row = x[r]
            phi = out[r, cls]
            dis[0] = 0
            for p in range(um):
                acc[0, p] = 1.0
            for k in range(ni):
                g = no + k
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
                went[k] = go
                d = dis[k]
                bit = np.int64(1) << slot[g]
                lc = left[g]
                rc = right[g]
                dis[lc] = d | (bit * (1 - go))
                dis[rc] = d | (bit * go)
                # unsigned indices: no negative-index wraparound, so these loops vectorize
                uk = _U(k)
                ul = _U(lc)
                ur = _U(rc)
                if d & bit:
                    # the row already left this feature's path: a = z (1 - t) scales by the ratio
                    rl = scaled_left[g]
                    rr = scaled_right[g]
                    for p in range(um):
                        acc[ul, p] = acc[uk, p] * rl
                    for p in range(um):
                        acc[ur, p] = acc[uk, p] * rr
                else:
                    fl_at = _U(base + (k * 4 + go) * m)
                    fr_at = _U(base + (k * 4 + 3 - go) * m)
                    for p in range(um):
                        acc[ul, p] = acc[uk, p] * mul[fl_at + p]
                    for p in range(um):
                        acc[ur, p] = acc[uk, p] * mul[fr_at + p]
            for j in range(tree_leaves[t]):
                if dis[ni + j] == 0:
                    pred[r, cls] += leaf_value[lo + j]
            for k in range(ni - 1, -1, -1):
                g = no + k
                uk = _U(k)
                ul = _U(left[g])
                ur = _U(right[g])
                bit = np.int64(1) << slot[g]
                if dis[k] & bit:
                    for p in range(um):
                        acc[uk, p] = acc[ul, p] + acc[ur, p]
                    continue
                go = went[k]
                fl_at = _U(base + (k * 4 + go) * m)
                fr_at = _U(base + (k * 4 + 3 - go) * m)
                share = 0.0
                for p in range(um):
                    share += acc[ul, p] * dif[fl_at + p] + acc[ur, p] * dif[fr_at + p]
                for p in range(um):
                    acc[uk, p] = acc[ul, p] + acc[ur, p]
                phi[feature[g]] += share
