"""Re-ranking on real data: MMR and calibration move diversity and calibration the right way at a
bounded NDCG cost (lgbm_rank), exploration propensities are the true selection probabilities,
and the long-tail floor holds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from sklearn.datasets import load_svmlight_file

from sdk.models.metrics import evaluate_lists, ndcg_at
from sdk.models.rerank import RerankPolicy, category_distribution, popular_head, rerank

RANK = DATA / "lgbm_rank"


@pytest.fixture(scope="module")
def letor_lists() -> dict[str, object]:
    """lgbm_rank test queries scored by a LambdaRank model trained on the train split.

    lgbm_rank has no item ids, categories or popularity: each document gets a topic (which of six
    blocks of 50 features has the largest mean) and a popularity prior (the feature most
    correlated with relevance on the train split, like PageRank in LETOR sets).
    """
    import lightgbm as lgb

    x, y = load_svmlight_file(str(RANK / "rank.train"), n_features=300)
    xt, yt = load_svmlight_file(str(RANK / "rank.test"), n_features=300)
    x, xt = x.toarray(), xt.toarray()
    booster = lgb.train(
        {"objective": "lambdarank", "verbosity": -1, "seed": 7, "deterministic": True,
         "force_row_wise": True, "num_threads": 1},
        lgb.Dataset(x, y, group=np.loadtxt(RANK / "rank.train.query", dtype=int)),
        num_boost_round=60,
    )
    corr = [abs(np.corrcoef(x[:, j], y)[0, 1]) if x[:, j].std() > 0 else 0 for j in range(300)]
    prior = int(np.nanargmax(corr))
    sizes = np.loadtxt(RANK / "rank.test.query", dtype=int)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    topics = xt.reshape(len(xt), 6, 50).mean(axis=2).argmax(axis=1)
    return {
        "scores": booster.predict(xt, raw_score=True, num_threads=1),
        "y": yt, "sizes": sizes, "starts": starts,
        "topic": {f"d{i}": f"t{topics[i]}" for i in range(len(xt))},
        "popularity": {f"d{i}": float(xt[i, prior]) for i in range(len(xt))},
    }


def run(data: dict, policy: RerankPolicy, k: int = 5) -> tuple[dict[str, float], float]:  # type: ignore[type-arg]
    lists, targets, ndcgs = [], [], []
    for start, size in zip(data["starts"], data["sizes"], strict=True):
        ids = [f"d{i}" for i in range(start, start + size)]
        cats = [data["topic"][i] for i in ids]
        scores = data["scores"][start : start + size]
        pop = np.asarray([data["popularity"][i] for i in ids])
        target = category_distribution(cats)  # no user history here: the query's own mix
        picks = rerank(scores, k, policy, categories=cats, popularity=pop, target=target,
                       rng=np.random.default_rng(0))
        rows = [pk.row for pk in picks]
        lists.append([ids[r] for r in rows])
        targets.append(target)
        rel = data["y"][start : start + size]
        ndcgs.append(ndcg_at(rel[rows], rel, k))
    figures = evaluate_lists(lists, catalogue_size=len(data["y"]), popularity=data["popularity"],
                             categories=data["topic"], targets=targets)
    return figures, float(np.nanmean(ndcgs))


def test_mmr_and_calibration_on_lgbm_rank(letor_lists) -> None:  # type: ignore[no-untyped-def]
    base, ndcg = run(letor_lists, RerankPolicy())
    mmr, ndcg_mmr = run(letor_lists, RerankPolicy(mmr=0.5, category_column="topic"))
    cal, ndcg_cal = run(letor_lists, RerankPolicy(calibration=0.5, category_column="topic"))
    tail, ndcg_tail = run(letor_lists, RerankPolicy(long_tail_floor=2,
                                                    popularity_column="prior"))
    print(f"\nlgbm_rank NDCG@5 {ndcg:.4f} -> mmr {ndcg_mmr:.4f}, calibrated {ndcg_cal:.4f}, "
          f"long tail {ndcg_tail:.4f}")
    for name, f in (("model order", base), ("mmr 0.5", mmr), ("calibrated 0.5", cal),
                    ("long tail 2", tail)):
        print(f"  {name:15} " + "  ".join(f"{k} {v:.4f}" for k, v in f.items()))
    assert ndcg > 0.6
    assert mmr["diversity"] > base["diversity"]
    assert cal["calibration_kl"] < base["calibration_kl"]
    assert tail["novelty"] > base["novelty"]
    assert min(ndcg_mmr, ndcg_cal, ndcg_tail) > ndcg - 0.15  # a bounded accuracy cost


def test_without_a_policy_it_is_the_model_order() -> None:
    scores = np.array([0.3, 2.0, -1.0, 2.0, 0.5])
    picks = rerank(scores, 4, RerankPolicy())
    assert [p.row for p in picks] == [1, 3, 4, 0]
    assert all(p.propensity == 1.0 and p.tag == "ranked" for p in picks)


def test_exploration_propensity_is_the_selection_probability() -> None:
    scores = np.array([3.0, 2.0, 1.0, 0.0, -1.0])
    policy = RerankPolicy(exploration=0.4)
    first: dict[int, int] = {}
    stated: dict[int, float] = {}
    n = 4000
    for seed in range(n):
        pick = rerank(scores, 2, policy, rng=np.random.default_rng(seed))[0]
        first[pick.row] = first.get(pick.row, 0) + 1
        stated[pick.row] = pick.propensity
        assert pick.tag == ("ranked" if pick.row == 0 else "exploration")
    assert stated[0] == pytest.approx(0.6 + 0.4 / 5)
    assert stated[3] == pytest.approx(0.4 / 5)
    for row, count in first.items():  # empirical frequency ~ logged propensity
        assert count / n == pytest.approx(stated[row], abs=0.03)


def test_long_tail_floor_and_head() -> None:
    popularity = np.array([100, 50, 30, 5, 4, 3, 2, 1], dtype=float)
    head = popular_head(popularity, 0.5)
    assert head.tolist() == [True] + [False] * 7  # 100 of 195 is already half
    scores = np.array([9, 8, 7, 1, 0.9, 0.8, 0.7, 0.6])
    picks = rerank(scores, 4, RerankPolicy(long_tail_floor=3, popularity_column="p",
                                           head_share=0.8), popularity=popularity)
    tail = ~popular_head(popularity, 0.8)
    assert sum(tail[p.row] for p in picks) >= 3
    assert [p.tag for p in picks].count("long_tail") >= 1


def test_policy_checks_its_own_consistency() -> None:
    with pytest.raises(ValueError):
        RerankPolicy(mmr=0.7, calibration=0.5, category_column="c")
    with pytest.raises(ValueError):
        RerankPolicy(calibration=0.2)
    with pytest.raises(ValueError):
        RerankPolicy(long_tail_floor=2)


def test_placed_promotions_are_never_drawn_again_and_count_for_diversity() -> None:
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    cats = ["a", "a", "b", "b", "c"]
    picks = rerank(scores, 2, RerankPolicy(mmr=0.6, category_column="c"), categories=cats,
                   placed=[0])
    rows = [p.row for p in picks]
    assert 0 not in rows and len(rows) == 2
    assert rows[0] == 2  # item 1 shares the promoted item's category: MMR moves past it
    plain = rerank(scores, 3, RerankPolicy(), placed=[1])
    assert [p.row for p in plain] == [0, 2, 3]
