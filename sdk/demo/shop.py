"""A generated handmade-goods shop for the ``whylens demo`` story.

Everything here is synthetic: names come from short word lists, e-mail addresses use the reserved
``example.com`` / ``example.org`` domains, and all randomness flows from
``numpy.random.default_rng(seed)``, so the same seed gives identical frames. Time is anchored at a
fixed :data:`REFERENCE_DATE`, never the wall clock.

>>> shop = generate_shop()
>>> frame = ranking_frame(shop)                      # train a ranker
>>> story = story_customers()
>>> candidates = candidates_for(shop, story.outdoor_lover)   # score one customer now
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sdk.demo.shop_features import (
    FEATURE_COLUMNS,
    ITEM_FEATURES,
    PERSONAL_FEATURES,
    candidates_for,
    feature_docs,
    pair_features,
    ranking_frame,
)

__all__ = [
    "CATEGORIES",
    "CREDIT_FEATURES",
    "FEATURE_COLUMNS",
    "ITEM_FEATURES",
    "PERSONAL_FEATURES",
    "REFERENCE_DATE",
    "Shop",
    "StoryCustomers",
    "candidates_for",
    "credit_feature_docs",
    "credit_frame",
    "feature_docs",
    "generate_shop",
    "pair_features",
    "ranking_frame",
    "story_customers",
]

REFERENCE_DATE = pd.Timestamp("2026-11-01", tz="UTC")
""""Now" in the demo: events cover the 90 days before it."""

HISTORY_DAYS = 90
_DAY = pd.Timedelta(days=1)

# category -> (mean price in EUR, makers' trade, title modifiers | title nouns)
_CATALOGUE: dict[str, tuple[float, str, str, str]] = {
    "outdoor": (
        85.0,
        "Outfitters",
        "Waxed canvas|Hand-stitched leather|Oiled cotton|Hemp|Recycled sailcloth",
        "hiking roll|field bag|camp apron|firewood carrier|map case|bedroll strap",
    ),
    "kitchen": (
        45.0,
        "Woodworks",
        "Walnut|Olive wood|Cherry|Maple|Oak",
        "cutting board|serving spoon|salad servers|spice box|bread board|butter knife",
    ),
    "textiles": (
        60.0,
        "Loom",
        "Hand-knit merino|Hand-woven linen|Naturally dyed wool|Block-printed cotton|Felted alpaca",
        "beanie|scarf|throw|cushion cover|mittens|table runner",
    ),
    "ceramics": (
        38.0,
        "Pottery",
        "Hand-thrown stoneware|Wood-fired porcelain|Speckled earthenware|Raku-glazed|Ash-glazed",
        "mug|bowl|vase|teapot|plate|pitcher",
    ),
    "jewellery": (
        95.0,
        "Metalsmiths",
        "Hammered silver|Recycled gold|Brushed brass|Sea-glass|Enamelled copper",
        "ring|pendant|earrings|bangle|cufflinks|brooch",
    ),
    "stationery": (
        24.0,
        "Bindery",
        "Hand-bound leather|Letterpress|Marbled-paper|Linen-covered|Hand-stitched kraft",
        "journal|notebook|card set|sketchbook|bookmark set|writing set",
    ),
}
CATEGORIES: tuple[str, ...] = tuple(_CATALOGUE)


def _words(text: str) -> list[str]:
    return text.split()


_MAKER_NAMES = _words(
    "Alder Birch Bramble Cedar Ember Fernhill Heron Juniper Kestrel Larch Moss Nettle Otter "
    "Pebble Quarry Rowan Sorrel Thistle Umber Willow Wren Yarrow Hazel Tidewater"
)
_FIRST_NAMES = _words(
    "Amara Ben Chiara Dev Elin Farid Greta Hugo Ines Jakub Kofi Lena Mateo Noor Oskar Priya "
    "Quinn Rosa Sven Tara Ugo Vera Wei Ximena Yusuf Zoe Anouk Bruno Clara Daan Emre Freya Goran "
    "Hana Ivo Julia Karim Lotte Milan Nadia Olu Pia Rafael Sofia Theo Uma Viktor Wanda Yara "
    "Zainab Leon Mira Nils Ada"
)
_DOMAINS = ("org", "com")
_INITIALS = list("ABCDEFGHIJKLMNOPRSTVWZ")
_CITIES = _words(
    "Amsterdam Barcelona Berlin Bristol Copenhagen Dublin Ghent Gothenburg Krakow Lisbon "
    "Ljubljana Lyon Porto Tallinn Turin Vienna Innsbruck Utrecht Leeds Aarhus"
)

CREDIT_FEATURES: tuple[str, ...] = (
    "months_as_customer",
    "orders_last_year",
    "returns_last_year",
    "avg_order_eur",
    "late_payments",
)


@dataclass(frozen=True)
class StoryCustomers:
    """Customers the demo story follows; their properties hold for every seed.

    - ``outdoor_lover`` consents to personalization, loves outdoor goods only, browses a lot;
    - ``never_consents`` has a browsing history but never consents;
    - ``withdraws`` consents at the start (kitchen and ceramics) and withdraws during the demo;
    - ``loan_applicant`` has loyalty features in the middle of the repayment curve (true
      probability about 0.5), a natural borderline case for the credit model.
    """

    outdoor_lover: str = "cust-0007"
    never_consents: str = "cust-0042"
    withdraws: str = "cust-0023"
    loan_applicant: str = "cust-0108"


# story id -> (display name, e-mail, city, favourite categories, consents, activity)
_STORY: dict[str, tuple[str, str, str, tuple[str, ...], bool, float]] = {
    "cust-0007": ("Maya K.", "maya.k@example.com", "Innsbruck", ("outdoor",), True, 70.0),
    "cust-0042": ("Jonas B.", "jonas.b@example.org", "Utrecht", ("stationery",), False, 35.0),
    "cust-0023": ("Aiko T.", "aiko.t@example.com", "Leeds", ("kitchen", "ceramics"), True, 45.0),
    "cust-0108": ("Samir O.", "samir.o@example.org", "Aarhus", ("textiles",), True, 30.0),
}
# loan applicant's loyalty features: months, orders, returns, avg order, late payments
_STORY_LOAN = (18, 6, 1, 78.0, 1)


def story_customers() -> StoryCustomers:
    """Ids of the customers the demo story follows (fixed, whatever the seed)."""
    return StoryCustomers()


@dataclass(frozen=True)
class Shop:
    """A generated shop. Treat the frames as read-only.

    - ``items``: item_id, title, category, maker, price_eur, popularity (shop-wide purchases in
      the 30 days before the reference date), rating (1-5), listed_on (UTC timestamp);
    - ``customers``: customer_id, display_name, email, city, favourite_categories (tuple of
      category names), consents_to_personalization, and :data:`CREDIT_FEATURES`;
    - ``events``: customer_id, item_id, kind ("view" | "purchase"), ts (UTC), sorted by ts.
    """

    seed: int
    reference_date: pd.Timestamp
    items: pd.DataFrame
    customers: pd.DataFrame
    events: pd.DataFrame

    @property
    def story(self) -> StoryCustomers:
        """The story customers (same as :func:`story_customers`)."""
        return story_customers()


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _items(rng: np.random.Generator, per_category: int) -> pd.DataFrame:
    makers = rng.permutation(np.array(_MAKER_NAMES))
    rows: list[dict[str, Any]] = []
    for c, (category, (mean_price, trade, modifiers, nouns)) in enumerate(_CATALOGUE.items()):
        titles = [f"{m} {n}" for m in modifiers.split("|") for n in nouns.split("|")]
        chosen = rng.choice(len(titles), size=per_category, replace=False)
        shop_makers = [f"{name} {trade}" for name in makers[4 * c : 4 * c + 4]]
        maker_of = rng.choice(4, size=per_category, p=[0.4, 0.3, 0.2, 0.1])
        prices = mean_price * rng.lognormal(-0.06, 0.35, size=per_category)
        for k in range(per_category):
            rows.append(
                {
                    "title": titles[int(chosen[k])],
                    "category": category,
                    "maker": shop_makers[int(maker_of[k])],
                    "price_eur": float(np.round(prices[k] * 2) / 2),
                }
            )
    items = pd.DataFrame(rows)
    n = len(items)
    items.insert(0, "item_id", [f"item-{i + 1:03d}" for i in range(n)])
    appeal = rng.lognormal(0.0, 0.9, size=n)
    items["rating"] = np.clip(3.9 + 0.35 * np.log(appeal) + rng.normal(0, 0.25, n), 1, 5).round(1)
    items["listed_on"] = REFERENCE_DATE - pd.to_timedelta(rng.integers(100, 900, n), unit="D")
    items["_appeal"] = appeal
    return items


def _customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    ids = [f"cust-{i + 1:04d}" for i in range(n)]
    taken = {story[1] for story in _STORY.values()}
    names, emails = [], []
    for first, initial in zip(rng.choice(_FIRST_NAMES, n), rng.choice(_INITIALS, n), strict=True):
        local, k = f"{_ascii(first)}.{initial.lower()}", 1
        while (email := f"{local}{k if k > 1 else ''}@example.{_DOMAINS[k % 2]}") in taken:
            k += 1
        taken.add(email)
        names.append(f"{first} {initial}.")
        emails.append(email)
    favourites = []
    for _ in range(n):
        count = 1 if rng.random() < 0.55 else 2
        favourites.append(tuple(str(c) for c in rng.choice(CATEGORIES, count, replace=False)))
    activity = rng.lognormal(np.log(28.0), 0.5, n)
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "display_name": names,
            "email": emails,
            "city": rng.choice(_CITIES, n),
            "favourite_categories": favourites,
            "consents_to_personalization": rng.random(n) < 0.6,
            "z_activity": activity,
            "z_price_level": rng.lognormal(np.log(50.0), 0.4, n),
            "z_buy_rate": rng.beta(2.0, 14.0, n),
        }
    )
    for cid, (name, email, city, fav, consents, act) in _STORY.items():
        i = ids.index(cid)
        frame.at[i, "display_name"], frame.at[i, "email"], frame.at[i, "city"] = name, email, city
        frame.at[i, "favourite_categories"] = fav
        frame.at[i, "consents_to_personalization"] = consents
        frame.at[i, "z_activity"] = act
    return frame


def _loyalty(rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    n = len(customers)
    orders = rng.poisson(customers["z_activity"] * customers["z_buy_rate"] * 4.0 * 0.8)
    values = {
        "months_as_customer": rng.integers(1, 97, n),
        "orders_last_year": orders,
        "returns_last_year": rng.binomial(orders, rng.beta(1.5, 10.0, n)),
        "avg_order_eur": (customers["z_price_level"] * rng.lognormal(0.2, 0.3, n)).round(2),
        "late_payments": rng.poisson(rng.gamma(0.6, 1.0, n)),
    }
    frame = pd.DataFrame(values).astype("float64")
    frame.loc[customers["customer_id"] == StoryCustomers.loan_applicant] = _STORY_LOAN
    return frame


def _events(rng: np.random.Generator, items: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    category = items["category"].to_numpy()
    makers = items["maker"].to_numpy()
    log_price = np.log(items["price_eur"].to_numpy())
    base = items["_appeal"].to_numpy()
    span = HISTORY_DAYS * 86400
    cust, item, kind, offset = [], [], [], []
    activity, buy_rate = customers["z_activity"].to_numpy(), customers["z_buy_rate"].to_numpy()
    price_level = customers["z_price_level"].to_numpy()
    for c, fav_categories in enumerate(customers["favourite_categories"]):
        favs = list(fav_categories)
        weight = base * np.where(np.isin(category, favs), 10.0 / len(favs) + 1.0, 1.0)
        for fav in favs:  # one favourite maker per favourite category
            fav_makers = np.unique(makers[category == fav])
            weight = weight * np.where(makers == rng.choice(fav_makers), 2.5, 1.0)
        weight *= np.exp(-((log_price - np.log(price_level[c])) ** 2) / (2 * 0.6**2))
        n = rng.poisson(activity[c])
        seen = rng.choice(len(items), size=n, p=weight / weight.sum())
        when = rng.uniform(0, span, n)
        bought = rng.random(n) < buy_rate[c]
        paid = when[bought] - rng.uniform(60, 2 * 86400, int(bought.sum()))
        keep = paid > 0
        cust += [c] * (n + int(keep.sum()))
        item += [*seen, *seen[bought][keep]]
        kind += ["view"] * n + ["purchase"] * int(keep.sum())
        offset += [*when, *paid[keep]]
    ts = REFERENCE_DATE - pd.to_timedelta(np.round(np.asarray(offset)), unit="s")
    events = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy()[np.asarray(cust, dtype=int)],
            "item_id": items["item_id"].to_numpy()[np.asarray(item, dtype=int)],
            "kind": kind,
            "ts": ts,
        }
    )
    return events.sort_values(["ts", "customer_id", "kind"], kind="stable").reset_index(drop=True)


def generate_shop(seed: int = 7, *, n_customers: int = 200, items_per_category: int = 20) -> Shop:
    """Generate the demo shop: 120 items, 200 customers and 90 days of events by default."""
    if n_customers < 108 or not 1 <= items_per_category <= 30:
        raise ValueError("need n_customers >= 108 (story customers) and 1..30 items per category")
    rng = np.random.default_rng(seed)
    items = _items(rng, items_per_category)
    customers = _customers(rng, n_customers)
    customers = pd.concat([customers, _loyalty(rng, customers)], axis=1)
    events = _events(rng, items, customers)
    recent = events[(events["kind"] == "purchase") & (events["ts"] >= REFERENCE_DATE - 30 * _DAY)]
    counts = recent.groupby("item_id").size()
    items["popularity"] = counts.reindex(items["item_id"]).fillna(0).astype("int64").to_numpy()
    items = items[
        ["item_id", "title", "category", "maker", "price_eur", "popularity", "rating", "listed_on"]
    ]
    customers = customers.drop(columns=["z_activity", "z_price_level", "z_buy_rate"])
    return Shop(seed, REFERENCE_DATE, items, customers, events)


def _credit_logit(x: pd.DataFrame) -> np.ndarray:
    """True log-odds of repaying; the loan applicant's features put it at about 0."""
    z = (
        0.045 * np.minimum(x["months_as_customer"], 48)
        + 0.17 * np.minimum(x["orders_last_year"], 30)
        - 0.7 * x["returns_last_year"]
        - 1.3 * x["late_payments"]
        + 0.008 * (x["avg_order_eur"] - 60.0)
    )
    return np.asarray(z, dtype="float64")


def credit_frame(shop: Shop) -> pd.DataFrame:
    """Loyalty-credit training data, one row per customer.

    Columns: ``subject``, :data:`CREDIT_FEATURES` (float64) and ``repaid`` (int 1/0), drawn from a
    logistic model of the features plus noise (a learnable, imperfect signal).
    """
    features = shop.customers[list(CREDIT_FEATURES)].astype("float64")
    p = 1.0 / (1.0 + np.exp(-_credit_logit(features)))
    repaid = np.random.default_rng([shop.seed, 17]).random(len(p)) < p
    frame = pd.concat(
        [shop.customers[["customer_id"]].rename(columns={"customer_id": "subject"}), features],
        axis=1,
    )
    frame["repaid"] = repaid.astype("int64")
    return frame


_CREDIT_DOCS: dict[str, tuple[str, str, bool]] = {
    "months_as_customer": ("how long you have been a customer", "loyalty", False),
    "orders_last_year": ("how many orders you placed last year", "loyalty", True),
    "returns_last_year": ("how many orders you returned last year", "returns", True),
    "avg_order_eur": ("your average order value", "spending", False),
    "late_payments": ("late payments on past invoices", "payment history", False),
}


def credit_feature_docs() -> dict[str, dict[str, Any]]:
    """Per credit feature: ``purpose`` ("profiling"), ``label``, ``concept``, ``sensitive``,
    ``actionable`` — the same keys as :func:`feature_docs`."""
    return {
        name: {
            "purpose": "profiling",
            "label": label,
            "concept": concept,
            "sensitive": False,
            "actionable": actionable,
        }
        for name, (label, concept, actionable) in _CREDIT_DOCS.items()
    }
