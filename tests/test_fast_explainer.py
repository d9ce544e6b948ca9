"""whylens's compiled explainer equals LightGBM's pred_contrib and shap.TreeExplainer within 1e-9.

Real models on real data: the German-credit classifier (dense, with NaN, with pandas categoricals,
multiclass), the LightGBM lambdarank example (sparse input), each through both code paths: the
Fast TreeSHAP v2 tables and the v1-style path used when the memory budget is exhausted.
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


def _both_paths(booster: lgb.Booster) -> list[Explainer]:
    tables = Explainer.for_booster(booster)
    too_deep = int(np.count_nonzero(tables.model.n_unique > MAX_TABLE_BITS))
    assert tables.leaves_without_table == too_deep
    v1 = Explainer(tables.model, "test-no-tables", memory_budget=0)
    assert v1.table_bytes <= 8 and v1.leaves_without_table == len(tables.model.leaf_value)
    return [tables, v1]


def _check(booster: lgb.Booster, data: object, shap_data: object | None = None) -> None:
    expected = _contrib(booster, data)
    raw = np.asarray(booster.predict(data, raw_score=True, num_threads=1)).reshape(
        expected.shape[0], -1
    )
    for explainer in _both_paths(booster):
        values, pred = explainer.explain(data)
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
