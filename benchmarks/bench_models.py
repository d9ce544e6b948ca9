"""Issue 6: recommend() with re-ranking, batch scoring, and the fat-tail report per model version.

Timings: ``recommend`` (consent, rules, preferences, TreeSHAP, re-ranking, encryption, one audit
append) against the raw LightGBM work it wraps (``predict`` on the candidates plus
``pred_contrib`` on the served rows), and ``score_batches`` against raw ``pred_contrib`` on the
same rows. Quality: NDCG@5, catalogue coverage, novelty, intra-list diversity and calibration
divergence before and after re-ranking, per model version, on the demo shop and on lgbm_rank.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from _timing import median  # noqa: E402
from test_rerank_quality import letor_lists, run  # noqa: E402

from sdk import Personalizer  # noqa: E402
from sdk.demo.shop import candidates_for, generate_shop, ranking_frame  # noqa: E402
from sdk.demo.story import ranking_schema  # noqa: E402
from sdk.models.batch import score_batches  # noqa: E402
from sdk.models.metrics import evaluate_lists  # noqa: E402
from sdk.models.rerank import RerankPolicy, category_distribution  # noqa: E402

POLICIES = {
    "model order": RerankPolicy(),
    "mmr 0.3": RerankPolicy(mmr=0.3, category_column="category"),
    "calibrated 0.5": RerankPolicy(calibration=0.5, category_column="category"),
    "long tail >=2": RerankPolicy(long_tail_floor=2, popularity_column="item_popularity_30d"),
    "all + explore .1": RerankPolicy(mmr=0.2, calibration=0.3, category_column="category",
                                     long_tail_floor=2, popularity_column="item_popularity_30d",
                                     exploration=0.1, seed=1),
}
K = 5


def _median(fn, repeats: int = 40) -> float:
    return median(fn, repeats, warmup=5)

def _shop_report(p: Personalizer, shop, versions: list[int]) -> None:  # type: ignore[no-untyped-def]
    consenting = shop.customers["consents_to_personalization"]
    customers = list(shop.customers["customer_id"][consenting])[:30]
    cats = dict(zip(shop.items["item_id"], shop.items["category"], strict=True))
    pop = dict(zip(shop.items["item_id"], shop.items["popularity"].astype(float), strict=True))
    events = shop.events.assign(category=shop.events["item_id"].map(cats))
    frames = {c: candidates_for(shop, c).assign(category=lambda f: f["item_id"].map(cats))
              for c in customers}
    targets = {c: category_distribution(list(events.loc[events["customer_id"] == c, "category"]))
               for c in customers}
    print(f"\ndemo shop: {len(customers)} consenting customers, 30 candidates each, k={K}, "
          f"catalogue {len(shop.items)} items")
    print(f"{'version':>7} {'policy':<17} {'coverage':>8} {'novelty':>8} {'ILD':>6} {'cal KL':>7}")
    for version in versions:
        model = p.models.get("r", version)
        for name, policy in POLICIES.items():
            lists = []
            for c in customers:
                recs = p.recommend(c, frames[c], model=model, k=K, rerank=policy,
                                   interests=targets[c])
                lists.append([i.item_id for i in recs.items])
            f = evaluate_lists(lists, catalogue_size=len(shop.items), popularity=pop,
                               categories=cats, targets=[targets[c] for c in customers])
            print(f"{'v' + str(version):>7} {name:<17} {f['coverage']:>8.3f} {f['novelty']:>8.3f} "
                  f"{f['diversity']:>6.3f} {f['calibration_kl']:>7.3f}")


def _letor_report() -> None:
    data = letor_lists.__wrapped__()  # the fixture's plain function
    print("\nlgbm_rank test split (50 queries, 768 docs), k=5; topics and popularity prior derived")
    print(f"{'policy':<17} {'NDCG@5':>7} {'coverage':>8} {'novelty':>8} {'ILD':>6} {'cal KL':>7}")
    for name, policy in {
        "model order": RerankPolicy(),
        "mmr 0.3": RerankPolicy(mmr=0.3, category_column="topic"),
        "mmr 0.5": RerankPolicy(mmr=0.5, category_column="topic"),
        "calibrated 0.5": RerankPolicy(calibration=0.5, category_column="topic"),
        "long tail >=2": RerankPolicy(long_tail_floor=2, popularity_column="prior"),
    }.items():
        f, ndcg = run(data, policy)
        print(f"{name:<17} {ndcg:>7.4f} {f['coverage']:>8.3f} {f['novelty']:>8.3f} "
              f"{f['diversity']:>6.3f} {f['calibration_kl']:>7.3f}")


def main() -> None:
    shop = generate_shop(seed=7)
    with tempfile.TemporaryDirectory() as folder, Personalizer.open(
        Path(folder) / "m.db", durability="normal"
    ) as p:
        for c in shop.customers["customer_id"][shop.customers["consents_to_personalization"]]:
            p.consent.grant(c, "personalization")
        frame = ranking_frame(shop)
        for rounds in (30, 80):
            card = p.models.train_ranker("r", frame, ranking_schema(), target="relevance",
                                         group="query_id", num_boost_round=rounds)
            p.models.sign_off("r", card.version, reviewer="bench")
            print(f"shop-ranker v{card.version}: {rounds} rounds, holdout NDCG@5 "
                  f"{card.metrics['ndcg@5']:.4f}, rows used {card.rows_used}, "
                  f"left out {card.rows_left_out} ({card.left_out_by_purpose})")
        model = p.models.get("r")
        who = "cust-0007"
        cands = candidates_for(shop, who).merge(shop.items[["item_id", "category"]], on="item_id")
        x = np.ascontiguousarray(cands[list(model.schema.names)].to_numpy())
        booster = model.booster

        def raw() -> None:
            s = booster.predict(x, raw_score=True, num_threads=1)
            booster.predict(x[np.argsort(-s)[:K]], pred_contrib=True, num_threads=1)

        base = _median(raw)
        print(f"\n{'path':<34} {'median':>9} {'raw LightGBM':>13} {'ratio':>7}")
        for name in ("model order", "all + explore .1"):
            t = _median(lambda n=name: p.recommend(who, cands, model="r", k=K, rerank=POLICIES[n]))
            print(f"{'recommend, ' + name:<34} {t * 1e3:>7.2f}ms {base * 1e3:>11.2f}ms "
                  f"{t / base:>6.1f}x")
        rows = pd.concat([candidates_for(shop, c).assign(subject=c)
                          for c in shop.customers["customer_id"][:100]], ignore_index=True)
        xb = np.ascontiguousarray(rows[list(model.schema.names)].to_numpy())
        raw_batch = _median(lambda: booster.predict(xb, pred_contrib=True, num_threads=1), 5)
        batch = _median(lambda: list(score_batches(p, [rows.iloc[i:i + 1000]
                                                       for i in range(0, len(rows), 1000)],
                                                   model="r")), 5)
        print(f"{'score_batches, ' + str(len(rows)) + ' rows':<34} {batch * 1e3:>7.1f}ms "
              f"{raw_batch * 1e3:>11.1f}ms {batch / raw_batch:>6.1f}x  "
              f"({len(rows) / batch:,.0f} rows/s)")
        _shop_report(p, shop, [1, 2])
    _letor_report()


if __name__ == "__main__":
    main()
