"""Features of the demo shop: one computation shared by training frames and live scoring.

:func:`pair_features` is the only place a feature is computed. :func:`ranking_frame` calls it at a
cut-off three weeks before the shop's reference date and grades what each customer did after the
cut-off (a real prediction task); :func:`candidates_for` calls it at the reference date itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sdk.errors import UnknownSubject

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sdk.demo.shop import Shop

__all__ = [
    "FEATURE_COLUMNS",
    "ITEM_FEATURES",
    "PERSONAL_FEATURES",
    "candidates_for",
    "feature_docs",
    "pair_features",
    "ranking_frame",
]

PERSONAL_FEATURES: tuple[str, ...] = (
    "views_same_category_30d",
    "purchases_same_category_90d",
    "days_since_last_view_category",
    "viewed_this_maker",
    "price_vs_usual_spend",
)
"""Computed from one customer's own behaviour: purpose ``personalization``."""

ITEM_FEATURES: tuple[str, ...] = (
    "item_popularity_30d",
    "item_price_eur",
    "item_age_days",
    "item_rating",
)
"""Catalogue statistics, the same for every customer: purpose ``service``."""

FEATURE_COLUMNS: tuple[str, ...] = PERSONAL_FEATURES + ITEM_FEATURES

_DAY = pd.Timedelta(days=1)
_NEVER_DAYS = 90.0  # days_since_last_view_category when the category was never viewed (a cap)


def pair_features(
    shop: Shop, customer_ids: Sequence[str], item_ids: Sequence[str], as_of: pd.Timestamp
) -> pd.DataFrame:
    """Feature rows (columns :data:`FEATURE_COLUMNS`, float64) for aligned (customer, item) pairs.

    Only events strictly before ``as_of`` are used, so a frame built at a past cut-off never sees
    the future it is asked to predict.
    """
    items = shop.items.set_index("item_id")
    events = shop.events[shop.events["ts"] < as_of]
    events = events.join(items[["category", "maker", "price_eur"]], on="item_id")
    views = events[events["kind"] == "view"]
    buys = events[events["kind"] == "purchase"]

    pairs = pd.DataFrame({"customer_id": list(customer_ids), "item_id": list(item_ids)})
    pairs = pairs.join(items, on="item_id")
    by_cat = pd.MultiIndex.from_arrays([pairs["customer_id"], pairs["category"]])

    def per_category(frame: pd.DataFrame, days: int) -> np.ndarray:
        recent = frame[frame["ts"] >= as_of - days * _DAY]
        counts = recent.groupby(["customer_id", "category"]).size()
        values: np.ndarray = counts.reindex(by_cat).fillna(0).to_numpy(dtype="float64")
        return values

    last_view = views.groupby(["customer_id", "category"])["ts"].max().reindex(by_cat)
    since = ((as_of - last_view) / _DAY).fillna(_NEVER_DAYS).clip(upper=_NEVER_DAYS)

    seen_makers = pd.MultiIndex.from_arrays([views["customer_id"], views["maker"]])
    by_maker = pd.MultiIndex.from_arrays([pairs["customer_id"], pairs["maker"]])

    usual = buys.groupby("customer_id")["price_eur"].median()
    usual = usual.combine_first(views.groupby("customer_id")["price_eur"].median())
    usual_spend = usual.reindex(pairs["customer_id"]).fillna(items["price_eur"].median())

    recent_buys = buys[buys["ts"] >= as_of - 30 * _DAY]
    popularity = recent_buys.groupby("item_id").size().reindex(pairs["item_id"]).fillna(0)

    out = pd.DataFrame(
        {
            "views_same_category_30d": per_category(views, 30),
            "purchases_same_category_90d": per_category(buys, 90),
            "days_since_last_view_category": since.to_numpy(dtype="float64"),
            "viewed_this_maker": by_maker.isin(seen_makers).astype("float64"),
            "price_vs_usual_spend": pairs["price_eur"].to_numpy() / usual_spend.to_numpy(),
            "item_popularity_30d": popularity.to_numpy(dtype="float64"),
            "item_price_eur": pairs["price_eur"].to_numpy(dtype="float64"),
            "item_age_days": ((as_of - pairs["listed_on"]) / _DAY).to_numpy(dtype="float64"),
            "item_rating": pairs["rating"].to_numpy(dtype="float64"),
        }
    )
    return out.round(4).astype("float64")[list(FEATURE_COLUMNS)]


def ranking_frame(
    shop: Shop, *, label_window_days: int = 21, candidates_per_query: int = 25
) -> pd.DataFrame:
    """Learning-to-rank training data: one query per customer, ``candidates_per_query`` rows each.

    Features are computed at ``reference_date - label_window_days``; ``relevance`` grades what the
    customer did in the label window after it: 3 purchased, 2 viewed twice or more, 1 viewed once,
    0 not interacted. Candidates are the customer's interacted items (at most all but five) plus
    random negatives. Customers with no interaction in the window are left out (nothing to rank).

    Columns: ``subject``, ``query_id`` (int), ``item_id``, :data:`FEATURE_COLUMNS` (float64) and
    ``relevance`` (int 0-3). Rows of one query are contiguous, queries ordered by customer id.
    Every customer is included whatever their consent flag: filtering by consent is the SDK's job.
    """
    cutoff = shop.reference_date - label_window_days * _DAY
    later = shop.events[shop.events["ts"] >= cutoff]
    stats = (
        later.assign(bought=later["kind"] == "purchase", viewed=later["kind"] == "view")
        .groupby(["customer_id", "item_id"])[["bought", "viewed"]]
        .sum()
    )
    grade = np.where(stats["bought"] > 0, 3, np.minimum(stats["viewed"], 2))
    grades = pd.Series(grade, index=stats.index, dtype="int64")

    rng = np.random.default_rng([shop.seed, 11])
    all_items = shop.items["item_id"].to_numpy()
    subjects: list[str] = []
    item_ids: list[str] = []
    relevance: list[int] = []
    query_ids: list[int] = []
    for query, (customer, found) in enumerate(grades.groupby(level="customer_id", sort=True)):
        found = found.droplevel("customer_id").sort_values(ascending=False, kind="stable")
        found = found.iloc[: candidates_per_query - 5]
        pool = np.setdiff1d(all_items, found.index.to_numpy())
        negatives = rng.choice(pool, size=candidates_per_query - len(found), replace=False)
        order = rng.permutation(candidates_per_query)
        ids = np.concatenate([found.index.to_numpy(), np.sort(negatives)])[order]
        rel = np.concatenate([found.to_numpy(), np.zeros(len(negatives), "int64")])[order]
        subjects += [str(customer)] * candidates_per_query
        item_ids += [str(i) for i in ids]
        relevance += [int(r) for r in rel]
        query_ids += [query] * candidates_per_query

    features = pair_features(shop, subjects, item_ids, cutoff)
    head = pd.DataFrame({"subject": subjects, "query_id": query_ids, "item_id": item_ids})
    frame = pd.concat([head, features], axis=1)
    frame["relevance"] = np.asarray(relevance, dtype="int64")
    return frame


def candidates_for(shop: Shop, customer_id: str, n: int = 30) -> pd.DataFrame:
    """``n`` candidate items to rank for ``customer_id`` now, at the shop's reference date.

    A deterministic sample of the catalogue, spread evenly over the categories, without the items
    the customer already bought; sorted by item id. Columns: ``item_id`` then
    :data:`FEATURE_COLUMNS` (float64), the same features in the same order as
    :func:`ranking_frame`.
    """
    ids = shop.customers["customer_id"]
    if customer_id not in set(ids):
        raise UnknownSubject(
            f"the demo shop has no customer {customer_id!r}; ids look like 'cust-0001'"
        )
    index = int(np.flatnonzero(ids.to_numpy() == customer_id)[0])
    mine = shop.events[shop.events["customer_id"] == customer_id]
    bought = set(mine.loc[mine["kind"] == "purchase", "item_id"])
    pool = shop.items.loc[~shop.items["item_id"].isin(bought), ["item_id", "category"]]
    rng = np.random.default_rng([shop.seed, 13, index])
    pool = pool.assign(key=rng.random(len(pool)))
    pool["turn"] = pool.groupby("category")["key"].rank(method="first")
    chosen = sorted(str(i) for i in pool.sort_values(["turn", "key"])["item_id"].iloc[:n])
    features = pair_features(shop, [customer_id] * len(chosen), chosen, shop.reference_date)
    return pd.concat([pd.DataFrame({"item_id": chosen}), features], axis=1)


_DOCS: dict[str, tuple[str, str, str]] = {
    "views_same_category_30d": (
        "personalization",
        "your recent views in this category",
        "browsing",
    ),
    "purchases_same_category_90d": (
        "personalization",
        "your past purchases in this category",
        "purchases",
    ),
    "days_since_last_view_category": (
        "personalization",
        "how recently you browsed this category",
        "browsing",
    ),
    "viewed_this_maker": (
        "personalization",
        "you have looked at this maker's work before",
        "browsing",
    ),
    "price_vs_usual_spend": (
        "personalization",
        "how the price compares with what you usually spend",
        "price",
    ),
    "item_popularity_30d": ("service", "how popular this item is in the shop", "popularity"),
    "item_price_eur": ("service", "the item's price", "price"),
    "item_age_days": ("service", "how long the item has been in the shop", "novelty"),
    "item_rating": ("service", "how other customers rate this item", "ratings"),
}


def feature_docs() -> dict[str, dict[str, Any]]:
    """Per ranking feature: ``purpose``, ``label``, ``concept``, ``sensitive``, ``actionable``.

    The keys match :class:`sdk.Feature`'s arguments, so ``Feature(name, **doc)`` builds a schema.
    """
    return {
        name: {
            "purpose": purpose,
            "label": label,
            "concept": concept,
            "sensitive": False,
            "actionable": False,
        }
        for name, (purpose, label, concept) in _DOCS.items()
    }
