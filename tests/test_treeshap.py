"""tree_shap: one canonical shape, additivity against LightGBM's own raw score, the recorded game,
output space and explainer version, shap interoperability, and refusal of linear trees."""

from __future__ import annotations

import hashlib

import lightgbm as lgb
import numpy as np
import pytest
import shap
from conftest import GERMAN, feature_row, german_credit, tamper

from sdk import Personalizer
from sdk.errors import AdditivityError, ModelTampered
from sdk.explain import EXPLAINER, tree_shap
from sdk.explain.treeshap import EXPLAINER_VERSION, GAME, OUTPUT_SPACE
from sdk.models.matrix import frame_matrix

PARAMS = {"verbose": -1, "num_threads": 1, "seed": 7, "deterministic": True}


@pytest.fixture(scope="module")
def german() -> tuple[np.ndarray, np.ndarray, list[str]]:
    # a dense float matrix: numeric columns, and each categorical as its integer code (whylens's
    # own encoding); the raw categorical frame is tested on its own below
    frame, schema = german_credit()
    x = frame_matrix(schema, frame)
    return x, frame["good"].to_numpy(), list(schema.names)


def test_binary_views_and_shap_equality(german) -> None:
    x, y, names = german
    booster = lgb.train(
        {**PARAMS, "objective": "binary"}, lgb.Dataset(x, y, feature_name=names), 40
    )
    result = tree_shap(booster, x[:100])
    assert result.values.shape == (100, 1, len(names) + 1)
    assert result.phi.shape == (100, len(names)) and result.base.shape == (100,)
    assert result.raw.shape == (100,)
    assert float(result.residual.max()) < 1e-9
    assert (result.game, result.output_space) == ("path-dependent", "raw-margin")
    assert EXPLAINER_VERSION in result.explainer and GAME in EXPLAINER and OUTPUT_SPACE in EXPLAINER
    reference = shap.TreeExplainer(booster)
    np.testing.assert_allclose(result.phi, reference.shap_values(x[:100]), rtol=0, atol=1e-9)
    as_shap = result.to_shap(x[:100])
    assert isinstance(as_shap, shap.Explanation)
    assert as_shap.values.shape == (100, len(names)) and list(as_shap.feature_names) == names
    np.testing.assert_allclose(
        as_shap.base_values, np.ravel(reference.expected_value)[0], rtol=0, atol=1e-9
    )


def test_multiclass_views_keep_the_class_axis(german) -> None:
    import pandas as pd

    x, _, _ = german
    housing = pd.read_csv(GERMAN)["housing"].str[-1].astype(int).to_numpy() - 1
    booster = lgb.train(
        {**PARAMS, "objective": "multiclass", "num_class": 3}, lgb.Dataset(x, housing), 10
    )
    result = tree_shap(booster, x[:20])
    assert result.outputs == 3 and result.phi.shape == (20, 3, x.shape[1])
    assert result.base.shape == (20, 3) and result.raw.shape == (20, 3)
    np.testing.assert_allclose(result.phi.sum(axis=2) + result.base, result.raw, atol=1e-9)
    assert result.to_shap().values.shape == (20, x.shape[1], 3)


def test_additivity_is_checked_against_the_output_being_explained(german) -> None:
    x, y, _ = german
    booster = lgb.train({**PARAMS, "objective": "binary"}, lgb.Dataset(x, y), 10)
    raw = booster.predict(x[:5], raw_score=True)
    assert tree_shap(booster, x[:5], raw=raw).residual.max() < 1e-9
    wrong = raw.copy()
    wrong[3] += 1e-6
    with pytest.raises(AdditivityError, match="row 3"):
        tree_shap(booster, x[:5], raw=wrong)


def test_decisions_record_the_explainer_and_convert_to_shap(credit) -> None:
    p, frame, schema = credit
    if p.models.sign_off_of("credit", 1) is None:  # serving needs a person's sign-off
        p.models.sign_off("credit", 1, reviewer="reviewer-1")
    decision = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
    auditor = p.explain(decision.decision_id, audience="auditor")
    assert auditor.explainer == EXPLAINER
    assert (auditor.game, auditor.output_space) == ("path-dependent", "raw-margin")
    as_shap = auditor.to_shap()
    assert list(as_shap.feature_names) == list(schema.names)
    assert abs(float(as_shap.values.sum()) + float(as_shap.base_values) - decision.score) < 1e-9


def test_a_stored_model_swapped_for_linear_trees_is_refused_on_load(
    credit, store_url, keyring_path
) -> None:
    _, frame, schema = credit
    x = frame_matrix(schema, frame)
    linear = lgb.train(
        {**PARAMS, "objective": "binary", "linear_tree": True},
        lgb.Dataset(x, frame["good"].to_numpy()),
        3,
    )
    text = linear.model_to_string().encode()
    tamper(
        store_url,
        "UPDATE models SET model_text = ?, content_hash = ? WHERE name = 'credit'",
        (text, hashlib.sha256(text).hexdigest()),
    )
    # the governed hash (text, card, schema) no longer matches: refused before it is parsed
    # (the explainer's own refusal of linear trees: test_fast_explainer.py)
    with (
        Personalizer.open(store_url, keyring=keyring_path) as again,
        pytest.raises(ModelTampered),
    ):
        again.models.get("credit")
