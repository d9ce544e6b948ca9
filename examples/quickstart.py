"""Quickstart: consent, a ranker, and recommendations that say why — on a throwaway database.

Run: .venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sdk import Feature, FeatureSchema, Personalizer

rng = np.random.default_rng(0)
subjects = [f"user-{i}" for i in range(60)]
rows = []
for q, subject in enumerate(subjects):  # one query per user, 12 candidate items each
    taste = rng.random()
    for item in range(12):
        views = rng.poisson(3 * taste * (item % 3 == 0))
        popularity = rng.random()
        relevance = int(min(3, views + (popularity > 0.8)))
        rows.append({"subject": subject, "query_id": q, "item_id": f"item-{item}",
                     "views_in_category": float(views), "popularity": popularity,
                     "relevance": relevance})
history = pd.DataFrame(rows)

with tempfile.TemporaryDirectory() as folder:
    p = Personalizer.open(Path(folder) / "shop.db")  # SQLite file + 0600 keyring beside it
    for subject in subjects[:40]:
        p.consent.grant(subject, ["personalization"], notice="privacy-notice-v3")
    schema = FeatureSchema([
        Feature("views_in_category", purpose="personalization", label="your recent views"),
        Feature("popularity", purpose="service", label="how popular this item is"),
    ])
    card = p.models.train_ranker("ranker", history, schema, target="relevance",
                                 group="query_id", num_boost_round=20)
    print(f"trained on {card.rows_used} consented rows, left out {card.rows_left_out}")
    p.models.sign_off("ranker", card.version, reviewer="reviewer.anna")  # a person approves it
    candidates = history[history["subject"] == "user-1"].drop(columns=["subject", "relevance"])
    for who in ("user-1", "user-55"):  # user-55 never consented
        recs = p.recommend(who, candidates, model="ranker", k=3)
        print(f"{who}: {recs.notice}")
        for item in recs.items:
            print(f"  {item.rank}. {item.item_id:<8} [{item.source}] {item.why}")
    print("audit verify:", p.audit.verify().ok)
    p.close()
