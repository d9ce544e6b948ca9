"""Issue 7, item 8: the model logic card (GDPR Art. 15(1)(h), DSA Art. 27), Markdown and JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shap
from test_explain_data import german_personalizer

from sdk.errors import ExplanationError
from sdk.explain.card import LogicCard
from sdk.models.matrix import frame_matrix


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory):
    p, frame, schema = german_personalizer(tmp_path_factory.mktemp("card"))
    yield p, frame, schema
    p.close()


def test_global_concept_importance_is_mean_abs_exact_shap(german) -> None:
    p, frame, schema = german
    reference = frame.iloc[800:]
    card = p.logic_card("credit", reference)
    model = p.models.get("credit")
    # shap on the raw frame (categories as pandas categories), as without whylens
    raw = reference[list(schema.names)]
    phi = np.asarray(shap.TreeExplainer(model.booster).shap_values(raw)).reshape(raw.shape)
    x = frame_matrix(model.schema, reference)
    for c in card.concepts:
        columns = [schema.index(n) for n in c.features]
        expected = float(np.abs(phi[:, columns].sum(axis=1)).mean())
        assert c.mean_abs_shap == pytest.approx(expected, abs=1e-9)
    assert sum(c.share for c in card.concepts) == pytest.approx(1.0)
    assert [c.mean_abs_shap for c in card.concepts] == sorted(
        (c.mean_abs_shap for c in card.concepts), reverse=True
    )
    assert card.reference_rows == 200 and card.content_hash == model.content_hash
    # the same card from a matrix in schema order
    assert p.logic_card("credit", x).concepts == card.concepts


def test_markdown_and_json_say_what_counts_what_for_and_what_the_person_can_do(german) -> None:
    p, frame, _ = german
    card = p.logic_card("credit", frame.iloc[800:])
    md = card.to_markdown()
    for text in ("# How credit works (version 1)", "the loan you asked for", "your age",
                 "Automated decisions", "needs your consent", "## What you can do",
                 "Withdraw your consent", "Ask for a person to review", "never named"):
        assert text in md, text
    loan = next(c for c in card.concepts if c.concept == "loan")
    assert f"| the loan you asked for | {loan.share:.0%} | profiling | yes | no |" in md
    assert any("lowering the amount asked for" in a for a in card.person_can_change)
    assert not any("your age" in a for a in card.person_can_change)  # sensitive: not an action
    data = json.loads(card.json_text())
    assert data["purposes"][0]["purpose"] == "profiling"
    assert data["purposes"][0]["legal_basis"] == "consent"
    assert LogicCard.model_validate_json(card.json_text()) == card
    assert card.to_json() == data


def test_bad_reference_sets_are_refused(german) -> None:
    p, frame, _ = german
    with pytest.raises(ExplanationError, match="empty"):
        p.logic_card("credit", frame.iloc[:0])
    with pytest.raises(ExplanationError, match="columns"):
        p.logic_card("credit", np.zeros((3, 2)))
