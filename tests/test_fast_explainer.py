"""whylens's compiled explainer equals LightGBM's pred_contrib and shap.TreeExplainer within 1e-9.

Real models on real data: the German-credit classifier (dense, with NaN, with pandas categoricals,
multiclass), the LightGBM lambdarank example (sparse input), 255-leaf Adult models and synthetic
trees deeper than 20 distinct features, each through every code path: the Fast TreeSHAP v2 tables,
Linear TreeSHAP (trees whose tables do not fit the memory budget) and the v1-style path used for a
few rows against big tables.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
from conftest import DATA, GERMAN, german_credit
from scipy import sparse

from sdk.errors import FeatureError, ModelNotExplainable
from sdk.explain.fast import MAX_TABLE_BITS, Explainer
from sdk.explain.fast.explainer import TABLE_MAX_BITS, TABLE_MIN_ROWS
from sdk.models.matrix import frame_matrix

ATOL = 1e-9
PARAMS = {"verbose": -1, "num_threads": 1, "seed": 7, "deterministic": True}


def _contrib(booster: lgb.Booster, data: object) -> np.ndarray:
    """pred_contrib as (rows, outputs, features + 1), whatever LightGBM returns for the input."""
    out = booster.predict(data, pred_contrib=True, num_threads=1)
    if isinstance(out, list):
        return np.stack([np.asarray(o.toarray()) for o in out], axis=1)
    out = out.toarray() if sparse.issparse(out) else np.asarray(out)
    k = booster.num_model_per_iteration()
    return out.reshape(out.shape[0], k, -1)


def _all_paths(booster: lgb.Booster) -> list[tuple[Explainer, int]]:
    """(explainer, rows per call): the default choice, all Linear TreeSHAP, all v1-style."""
    tables = Explainer.for_booster(booster)
    m = tables.model
    too_deep = m.tree_max_unique > TABLE_MAX_BITS
    assert tables.linear_trees == int(np.count_nonzero(too_deep))
    assert tables.leaves_without_table == int(m.tree_leaves[too_deep].sum())
    linear = Explainer(m, "test-linear", memory_budget=0)
    assert linear.table_bytes <= 8
    assert linear.linear_trees == int(np.count_nonzero(m.tree_internal > 0))
    # v1-style: blocks of fewer than TABLE_MIN_ROWS rows and no table counted as warm
    v1 = Explainer(m, "test-v1", memory_budget=1 << 40, table_bits=MAX_TABLE_BITS,
                   warm_table_bytes=-1)  # fmt: skip
    return [(tables, 1 << 30), (linear, 1 << 30), (v1, TABLE_MIN_ROWS - 1)]


def _explain(explainer: Explainer, data: object, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    rows = data.shape[0]  # type: ignore[attr-defined]
    if rows <= chunk:
        return explainer.explain(data)
    parts = [explainer.explain(data[i : i + chunk]) for i in range(0, rows, chunk)]  # type: ignore[index]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _check(booster: lgb.Booster, data: object, shap_data: object | None = None) -> None:
    expected = _contrib(booster, data)
    raw = np.asarray(booster.predict(data, raw_score=True, num_threads=1)).reshape(
        expected.shape[0], -1
    )
    for explainer, chunk in _all_paths(booster):
        values, pred = _explain(explainer, data, chunk)
        assert values.shape == expected.shape
        np.testing.assert_allclose(values, expected, rtol=0, atol=ATOL)
        np.testing.assert_allclose(pred, raw, rtol=0, atol=ATOL)
    if shap_data is not None:
        got = shap.TreeExplainer(booster).shap_values(shap_data)
        got = np.asarray(got.toarray() if sparse.issparse(got) else got)
        ours = values[:, :, :-1]
        if got.ndim == 3:  # multiclass: shap gives (rows, features, classes)
            got = got.transpose(0, 2, 1)
        np.testing.assert_allclose(ours.reshape(got.shape), got, rtol=0, atol=ATOL)


@pytest.fixture(scope="module")
def german() -> tuple[np.ndarray, np.ndarray, list[str]]:
    # a dense float matrix: numeric columns, and each categorical as its integer code (whylens's
    # own encoding); the raw categorical frame is tested on its own below
    frame, schema = german_credit()
    x = frame_matrix(schema, frame)
    return x, frame["good"].to_numpy(), list(schema.names)


def test_german_credit_classifier(german) -> None:
    x, y, names = german
    booster = lgb.train(
        {**PARAMS, "objective": "binary", "num_leaves": 31},
        lgb.Dataset(x, y, feature_name=names),
        60,
    )
    _check(booster, x, shap_data=x)


def test_missing_values_nan_zero_and_none(german) -> None:
    x, y, _ = german
    rng = np.random.default_rng(3)
    holes = x.copy()
    holes[rng.random(x.shape) < 0.15] = np.nan
    holes[rng.random(x.shape) < 0.05] = 0.0
    for extra, missing in (({}, 2), ({"zero_as_missing": True}, 1), ({"use_missing": False}, 0)):
        booster = lgb.train(
            {**PARAMS, "objective": "binary", "num_leaves": 15, **extra}, lgb.Dataset(holes, y), 30
        )
        flags = Explainer.for_booster(booster).model.flags
        assert missing in set((flags >> 2) & 3)  # the missing type under test is in the trees
        _check(booster, holes)


def test_pandas_categoricals_with_unseen_and_missing_categories() -> None:
    raw = pd.read_csv(GERMAN)
    columns = ["status", "credit_history", "purpose", "savings", "month", "credit_amount", "age"]
    frame = raw[columns].copy()
    for name in ("status", "credit_history", "purpose", "savings"):
        frame[name] = frame[name].astype("category")
    y = (raw["credit"] == 1).astype(int)
    booster = lgb.train(
        {
            **PARAMS,
            "objective": "binary",
            "num_leaves": 15,
            "min_data_per_group": 5,
            "cat_smooth": 1,
        },
        lgb.Dataset(frame, y),
        40,
    )
    assert np.count_nonzero(Explainer.for_booster(booster).model.flags & 1) > 10
    test = frame.iloc[:200].copy()
    purpose = test["purpose"].astype(object)
    purpose.iloc[:10] = "A-never-seen"
    purpose.iloc[10:20] = np.nan
    test["purpose"] = purpose.astype("category")
    _check(booster, test, shap_data=test)


def test_multiclass_one_canonical_shape(german) -> None:
    x, _, names = german
    housing = pd.read_csv(GERMAN)["housing"].str[-1].astype(int).to_numpy() - 1
    booster = lgb.train(
        {**PARAMS, "objective": "multiclass", "num_class": 3, "num_leaves": 15},
        lgb.Dataset(x, housing, feature_name=names),
        25,
    )
    values, _ = Explainer.for_booster(booster).explain(x[:50])
    assert values.shape == (50, 3, len(names) + 1)
    _check(booster, x[:300], shap_data=x[:300])


def test_lgbm_rank_ranker_on_sparse_input() -> None:
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(str(DATA / "lgbm_rank" / "rank.train"), n_features=300)
    groups = np.loadtxt(DATA / "lgbm_rank" / "rank.train.query", dtype=int)
    test, _ = load_svmlight_file(str(DATA / "lgbm_rank" / "rank.test"), n_features=300)
    booster = lgb.train(
        {**PARAMS, "objective": "lambdarank", "num_leaves": 31}, lgb.Dataset(x, y, group=groups), 40
    )
    test = sparse.csr_matrix(test)
    _check(booster, test, shap_data=test)
    _check(booster, test.tocsc())


def test_budget_is_respected_and_mixed_paths_agree(german) -> None:
    x, y, _ = german
    booster = lgb.train(
        {**PARAMS, "objective": "binary", "num_leaves": 63, "min_data_in_leaf": 3},
        lgb.Dataset(x, y),
        20,
    )
    full = Explainer.for_booster(booster)
    budget = full.table_bytes // 3
    mixed = Explainer(full.model, "test-mixed", memory_budget=budget)
    assert 0 < mixed.table_bytes <= budget
    assert 0 < mixed.leaves_without_table < len(full.model.leaf_value)
    assert 0 < mixed.linear_trees < len(full.model.tree_leaves)  # whole trees move to Linear
    assert mixed.linear_bytes > 8
    np.testing.assert_allclose(mixed.explain(x)[0], _contrib(booster, x), rtol=0, atol=ATOL)


def test_explainer_is_built_once_per_model_version(german) -> None:
    x, y, _ = german
    booster = lgb.train({**PARAMS, "objective": "binary"}, lgb.Dataset(x, y), 5)
    first = Explainer.for_booster(booster)
    assert Explainer.for_booster(booster) is first
    assert Explainer.for_booster(booster, content_hash=first.content_hash) is first
    clone = lgb.Booster(model_str=booster.model_to_string())
    assert Explainer.for_booster(clone) is first  # same content hash, same tables


def test_linear_trees_are_refused(german) -> None:
    x, y, _ = german
    booster = lgb.train(
        {**PARAMS, "objective": "binary", "linear_tree": True}, lgb.Dataset(x, y), 3
    )
    with pytest.raises(ModelNotExplainable, match="linear trees"):
        Explainer.for_booster(booster)


def test_rows_of_the_wrong_width_are_a_feature_error(german) -> None:
    x, y, _ = german
    booster = lgb.train({**PARAMS, "objective": "binary"}, lgb.Dataset(x, y), 3)
    canary = 987654.321
    with pytest.raises(FeatureError) as caught:
        Explainer.for_booster(booster).explain(np.full((1, 3), canary))
    assert "987654" not in str(caught.value)


def test_a_model_of_constant_trees_is_all_bias(german) -> None:
    x, y, _ = german
    booster = lgb.train(
        {**PARAMS, "objective": "binary", "min_gain_to_split": 1e9}, lgb.Dataset(x, y), 3
    )
    values, raw = Explainer.for_booster(booster).explain(x[:10])
    assert not values[:, :, :-1].any()
    np.testing.assert_allclose(values[:, 0, -1], raw[:, 0], rtol=0, atol=0)
    _check(booster, x[:10])


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    frame = pd.read_csv(DATA / "adult" / "adult.csv").sample(6000, random_state=5)
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name].astype("category")
    return frame


def test_255_leaf_trees_on_adult(adult) -> None:
    """LightGBM's deep default shape (255 leaves, no depth limit) on real data with categoricals:
    the v2 tables, Linear TreeSHAP and the v1 path all equal pred_contrib and shap."""
    y = (adult["income-per-year"].astype(str).str.contains(">")).astype(int)
    frame = adult.drop(columns=["income-per-year"])
    booster = lgb.train(
        {**PARAMS, "objective": "binary", "num_leaves": 255, "max_depth": -1,
         "min_data_in_leaf": 2, "min_sum_hessian_in_leaf": 0, "cat_smooth": 1},
        lgb.Dataset(frame, y),
        6,
    )  # fmt: skip
    m = Explainer.for_booster(booster).model
    assert int(m.tree_leaves.max()) == 255 and int(m.tree_max_unique.max()) >= 8
    assert np.count_nonzero(m.flags & 1) > 0  # categorical splits in the deep trees
    _check(booster, frame.iloc[:150], shap_data=frame.iloc[:150])


def _chain(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A target that is a conjunction over many features: leaf-wise growth follows it down a path
    through one new feature per level, so the trees are deeper than 20 distinct features."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, features))
    x[rng.random(x.shape) < 0.01] = np.nan
    inside = np.all(np.nan_to_num(x, nan=1.0) > 0.08, axis=1)
    y = inside.astype(float) + 0.1 * np.nan_to_num(x[:, 0])
    return x, y


def _deep_model(rows: int, features: int, seed: int) -> tuple[lgb.Booster, np.ndarray]:
    x, y = _chain(rows, features, seed)
    booster = lgb.train(
        {**PARAMS, "objective": "regression", "num_leaves": 255, "max_depth": -1,
         "min_data_in_leaf": 2, "min_sum_hessian_in_leaf": 0, "learning_rate": 0.5},
        lgb.Dataset(x, y),
        4,
    )  # fmt: skip
    return booster, x


def test_trees_deeper_than_20_features() -> None:
    booster, x = _deep_model(6000, 24, seed=3)
    explainer = Explainer.for_booster(booster)
    deepest = int(explainer.model.tree_max_unique.max())
    assert deepest >= 20  # 2**20 values per leaf: no table, Linear TreeSHAP's depth/2 points
    assert explainer.linear_trees == 4
    assert explainer.linear_bytes < 64 * 255 * deepest * 8  # linear in depth, not 2**depth
    _check(booster, x[:120], shap_data=x[:120])


def _exact_phi(booster: lgb.Booster, row: np.ndarray) -> np.ndarray:
    """Path-dependent TreeSHAP of one row by its definition: per leaf and path feature
    ``v (o_i - z_i) sum_k k! (n-k-1)! / n! e_k``, ``e_k`` the coefficients of
    ``prod_{j != i} (z_j + o_j y)`` (numeric splits, NaN default direction). Every term is
    positive, so this sum is accurate to a few ulps however deep the path."""
    import math

    def cover(node: dict) -> int:
        return node["internal_count"] if "split_index" in node else node["leaf_count"]

    phi = np.zeros(booster.num_feature())
    for tree in booster.dump_model()["tree_info"]:
        stack: list[tuple[dict, dict]] = [(tree["tree_structure"], {})]
        while stack:
            node, path = stack.pop()
            if "split_index" not in node:
                n = len(path)
                weights = np.array(
                    [math.exp(math.lgamma(k + 1) + math.lgamma(n - k) - math.lgamma(n + 1))
                     for k in range(n)]
                )  # fmt: skip
                factors = [np.array([z, o]) for z, o in path.values()]
                prefix = [np.ones(1)]
                for f in factors:
                    prefix.append(np.convolve(prefix[-1], f))
                suffix = [np.ones(1)]
                for f in reversed(factors):
                    suffix.append(np.convolve(suffix[-1], f))
                for i, (feature, (z, o)) in enumerate(path.items()):
                    poly = np.convolve(prefix[i], suffix[n - 1 - i])
                    phi[feature] += node["leaf_value"] * (o - z) * float(weights @ poly)
                continue
            f, value = node["split_feature"], row[node["split_feature"]]
            if math.isnan(value) and node["missing_type"] != "NaN":
                value = 0.0
            left = node["default_left"] if math.isnan(value) else value <= node["threshold"]
            for child, o in ((node["left_child"], int(left)), (node["right_child"], 1 - left)):
                z, was = path.get(f, (1.0, 1))
                stack.append((child, {**path, f: (z * cover(child) / cover(node), was * o)}))
    return phi


def test_trees_deeper_than_30_features_are_exact() -> None:
    """At 30 distinct features LightGBM's pred_contrib itself drifts (4.7e-9 from the exact value
    on row 32 here: its path unwinding divides by small cover fractions; exact rational arithmetic
    agrees with the positive sums of ``_exact_phi`` to 1e-16 there). Linear TreeSHAP multiplies
    positive factors only and stays within 1e-12 of the definition."""
    booster, x = _deep_model(20_000, 30, seed=11)
    default = Explainer.for_booster(booster)
    assert int(default.model.tree_max_unique.max()) >= 30
    linear = Explainer(default.model, "test-linear", memory_budget=0)
    for row in (27, 32):
        exact = _exact_phi(booster, x[row])
        for explainer in (default, linear):
            values, _ = explainer.explain(x[row : row + 1])
            np.testing.assert_allclose(values[0, 0, :-1], exact, rtol=0, atol=1e-12)
