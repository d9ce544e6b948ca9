"""Beyond-accuracy metrics of served lists: coverage, novelty, intra-list diversity, calibration.

All take plain lists of served item ids (one list per request) and catalogue facts, so they can be
computed for any model version on any log of lists:

- catalogue coverage: distinct items served / catalogue size;
- novelty: mean self-information ``-log2`` of an item's share of all popularity (add-one smoothed);
- intra-list diversity: mean over lists of the mean pairwise dissimilarity (1 - similarity);
- calibration divergence: mean over lists of Steck's ``KL(p || q~)`` to each person's categories;
- NDCG@k with gains ``2^rel - 1`` (queries without a relevant item are skipped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .rerank import calibration_kl

__all__ = [
    "calibration_divergence",
    "catalogue_coverage",
    "evaluate_lists",
    "intra_list_diversity",
    "midranks",
    "ndcg_at",
    "novelty",
]


def catalogue_coverage(lists: Sequence[Sequence[str]], catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    if catalogue_size <= 0:
        return float("nan")
    return len({item for items in lists for item in items}) / catalogue_size


def novelty(lists: Sequence[Sequence[str]], popularity: Mapping[str, float]) -> float:
    """Mean ``-log2 p(item)`` over served items, ``p`` the add-one smoothed popularity share."""
    total = sum(popularity.values()) + len(popularity)
    values = [
        -np.log2((popularity.get(item, 0.0) + 1.0) / total) for items in lists for item in items
    ]
    return float(np.mean(values)) if values else float("nan")


def intra_list_diversity(
    lists: Sequence[Sequence[str]],
    *,
    categories: Mapping[str, str] | None = None,
    vectors: Mapping[str, np.ndarray] | None = None,
) -> float:
    """Mean pairwise dissimilarity within a list, averaged over lists of two or more items.

    Dissimilarity is "different category" (0/1) with ``categories``, else ``1 - cosine`` of
    ``vectors`` mapped to [0, 1].
    """
    scores = []
    for items in lists:
        if len(items) < 2:
            continue
        if categories is not None:
            cats = np.asarray([categories[i] for i in items])
            sim = (cats[:, None] == cats[None, :]).astype(np.float64)
        elif vectors is not None:
            x = np.asarray([vectors[i] for i in items], dtype=np.float64)
            norm = np.linalg.norm(x, axis=1)
            x = x / np.where(norm > 0, norm, 1.0)[:, None]
            sim = (x @ x.T + 1.0) / 2.0
        else:
            raise ValueError("intra_list_diversity needs categories or vectors")
        n = len(items)
        off = ~np.eye(n, dtype=bool)
        scores.append(float((1.0 - sim[off]).mean()))
    return float(np.mean(scores)) if scores else float("nan")


def calibration_divergence(
    lists: Sequence[Sequence[str]],
    targets: Sequence[Mapping[str, float]],
    categories: Mapping[str, str],
) -> float:
    """Mean ``KL(p || q~)`` of each list's categories against its person's distribution."""
    values = [
        calibration_kl(target, [categories[i] for i in items])
        for items, target in zip(lists, targets, strict=True)
        if items and target
    ]
    values = [v for v in values if v == v]
    return float(np.mean(values)) if values else float("nan")


def midranks(x: np.ndarray) -> np.ndarray:
    """0-based ranks of ``x`` in ascending order; tied values share their mean rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    values = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and values[j + 1] == values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2
        i = j + 1
    return ranks


def ndcg_at(
    relevance_in_served_order: Sequence[float], all_relevance: Sequence[float], k: int
) -> float:
    """NDCG@k of one served order; ``nan`` when the query has no relevant item."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = (2.0 ** np.asarray(relevance_in_served_order[:k], dtype=np.float64)) - 1.0
    ideal = (2.0 ** np.sort(np.asarray(all_relevance, dtype=np.float64))[::-1][:k]) - 1.0
    idcg = float((ideal * discounts[: len(ideal)]).sum())
    if idcg <= 0:
        return float("nan")
    return float((gains * discounts[: len(gains)]).sum()) / idcg


def evaluate_lists(
    lists: Sequence[Sequence[str]],
    *,
    catalogue_size: int,
    popularity: Mapping[str, float],
    categories: Mapping[str, str],
    targets: Sequence[Mapping[str, float]],
) -> dict[str, float]:
    """The four beyond-accuracy figures of a log of lists, as one dict."""
    return {
        "coverage": catalogue_coverage(lists, catalogue_size),
        "novelty": novelty(lists, popularity),
        "diversity": intra_list_diversity(lists, categories=categories),
        "calibration_kl": calibration_divergence(lists, targets, categories),
    }
