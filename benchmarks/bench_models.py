"""Issue 6: recommend() with re-ranking, batch scoring, and the fat-tail report per model version.

Timings: ``recommend`` (consent, rules, preferences, TreeSHAP, re-ranking, encryption, one audit
append) against the raw LightGBM work it wraps (``predict`` on the candidates plus
``pred_contrib`` on the served rows), and ``sdk.batch.explain_batches`` against raw
``pred_contrib`` on the same rows. Quality: NDCG@5, catalogue coverage, novelty, intra-list
diversity and calibration divergence before and after re-ranking, per model version, on the demo
shop and on lgbm_rank. On the demo shop, NDCG@5 is measured on held-out queries of
``ranking_frame`` (graded relevance from the three weeks after the features' cut-off), with models
trained through whylens on the other queries and the lists served by ``recommend`` under each
re-ranking policy.
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
from sdk.batch import explain_batches  # noqa: E402
from sdk.batch.jobs import prepare_job  # noqa: E402
from sdk.demo.shop import candidates_for, generate_shop, ranking_frame  # noqa: E402
from sdk.demo.story import ranking_schema  # noqa: E402
from sdk.models.metrics import evaluate_lists, ndcg_at  # noqa: E402
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
LABEL_WINDOW_DAYS = 21  # ranking_frame's default: features at the cut-off, relevance after it


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


def _shop_ndcg_report(p: Personalizer, shop) -> None:  # type: ignore[no-untyped-def]
    frame = ranking_frame(shop, label_window_days=LABEL_WINDOW_DAYS)
    cats = dict(zip(shop.items["item_id"], shop.items["category"], strict=True))
    frame = frame.assign(category=frame["item_id"].map(cats))
    consenting = set(shop.customers["customer_id"][shop.customers["consents_to_personalization"]])
    queries = np.unique(frame.loc[frame["subject"].isin(consenting), "query_id"])
    held = np.sort(np.random.default_rng(7).choice(queries, size=len(queries) // 3,
                                                   replace=False))
    is_held = frame["query_id"].isin(held)
    train, test = frame[~is_held], frame[is_held]
    # the calibration target is what the person did before the cut-off, not the labels after it
    cutoff = shop.reference_date - pd.Timedelta(days=LABEL_WINDOW_DAYS)
    past = shop.events[shop.events["ts"] < cutoff]
    past = past.assign(category=past["item_id"].map(cats))
    queries_held = [(str(g["subject"].iloc[0]), g.drop(columns=["relevance", "query_id"]),
                     g["relevance"].to_numpy(float)) for _, g in test.groupby("query_id")]
    targets = {s: category_distribution(list(past.loc[past["customer_id"] == s, "category"]))
               for s, _, _ in queries_held}
    print(f"\ndemo shop held-out queries: {len(held)} of {len(queries)} consenting customers' "
          f"queries ({len(test)} rows, relevance 0-3); model r-heldout trained through whylens on "
          f"the other {frame['query_id'].nunique() - len(held)} queries (consented rows only), "
          f"k={K}")
    print(f"{'version':>7} {'policy':<17} {'NDCG@5':>7} {'vs model':>8}")
    for rounds in (30, 80):
        card = p.models.train_ranker("r-heldout", train, ranking_schema(), target="relevance",
                                     group="query_id", num_boost_round=rounds)
        p.models.sign_off("r-heldout", card.version, reviewer="bench")
        model = p.models.get("r-heldout", card.version)
        names = list(model.schema.names)
        raw = np.nanmean([ndcg_at(rel[np.argsort(-model.raw_scores(g[names].to_numpy()),
                                                 kind="stable")], rel, K)
                          for _, g, rel in queries_held])
        before = None
        for name, policy in POLICIES.items():
            values = []
            for subject, cands, rel in queries_held:
                recs = p.recommend(subject, cands, model=model, k=K, rerank=policy,
                                   interests=targets[subject])
                grade = dict(zip(cands["item_id"], rel, strict=True))
                values.append(ndcg_at([grade[i.item_id] for i in recs.items], rel, K))
            ndcg = float(np.nanmean(values))
            before = ndcg if before is None else before
            print(f"{'v' + str(card.version):>7} {name:<17} {ndcg:>7.4f} {ndcg - before:>+8.4f}"
                  + (f"   (raw LightGBM order {raw:.4f}; {rounds} rounds, {card.rows_used} rows)"
                     if name == "model order" else ""))


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
        payload = prepare_job(p, "r", rows["subject"].astype(str).tolist())
        batch = _median(lambda: list(explain_batches([rows.iloc[i:i + 1000]
                                                      for i in range(0, len(rows), 1000)],
                                                     payload)), 5)
        print(f"{'explain_batches, ' + str(len(rows)) + ' rows':<34} {batch * 1e3:>7.1f}ms "
              f"{raw_batch * 1e3:>11.1f}ms {batch / raw_batch:>6.1f}x  "
              f"({len(rows) / batch:,.0f} rows/s)")
        _shop_report(p, shop, [1, 2])
        _shop_ndcg_report(p, shop)
    _letor_report()


if __name__ == "__main__":
    main()
