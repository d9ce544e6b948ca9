"""Attack on erasure through the exact score: brute-force the person's inputs from the record.

The attacker holds the database after ``p.subjects.erase`` (and any later export), and the model:
models are not personal, their text is in the store. A tree model is a function the attacker can
run, and the exact float it returned for the person (a decision's ``score`` and ``probability``,
an item's ``score`` and ``model_score``, a shadow candidate's probability) is a fingerprint of the
input: trying every input of a plausible domain and keeping those that give the stored float
narrows thousands of candidates to a handful that contains the person's own values.

Each test first shows the attack would work (the person's true input is among the candidates and
gives the decision's own score), then harvests every number left in the erased records (ledger
and export) and checks that no candidate's score or probability is among them.

Both backends (``p`` is parametrized over SQLite and PostgreSQL).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import feature_row

from sdk import Feature, FeatureSchema, Personalizer, ReviewPolicy
from sdk.audit import verify_export
from sdk.models.matrix import encode_mapping

SUBJECT = "canary.score.5c1e@example.org"


def _numbers(value: Any, out: set[float]) -> set[float]:
    """Every number anywhere in a JSON value (what an attacker would try as a score)."""
    if isinstance(value, bool) or value is None:
        return out
    if isinstance(value, int | float):
        out.add(float(value))
    elif isinstance(value, dict):
        for item in value.values():
            _numbers(item, out)
    elif isinstance(value, list | tuple):
        for item in value:
            _numbers(item, out)
    elif isinstance(value, str):
        # a number spelled as text (a CSV cell, a JSON body inside a column)
        with contextlib.suppress(ValueError, RecursionError):
            _numbers(json.loads(value), out)
    return out


def _export_numbers(folder: Path) -> set[float]:
    out: set[float] = set()
    for line in (folder / "records.jsonl").read_text().splitlines():
        _numbers(json.loads(line), out)
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _harvest(p: Personalizer, decision_id: str, folder: Path) -> set[float]:
    entry, actions = p.audit.entries_of(decision_id)
    found = _numbers(entry.data, set())
    for action in actions:
        _numbers(action.data, found)
    p.audit.export(folder)
    assert verify_export(folder, public_key=p.keyring.public_key_bytes()).ok
    return found | _export_numbers(folder)


# -- decisions -----------------------------------------------------------------------------------


def _decision_candidates(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Someone who knows the person but not the loan: every duration of 4 to 72 months and every
    amount of 250 to 20,000 in steps of 50."""
    months = sorted({float(m) for m in range(4, 73)} | {float(row["month"])})
    amounts = sorted({float(a) for a in range(250, 20_001, 50)} | {float(row["credit_amount"])})
    return [{**row, "month": m, "credit_amount": a} for m, a in itertools.product(months, amounts)]


def test_exact_decision_score_cannot_be_brute_forced_after_erasure(credit, tmp_path) -> None:
    p, frame, schema = credit
    # a shadow candidate scores the same request: its probability is a second fingerprint
    p.models.train_classifier(
        "credit", frame, schema, target="good", outcomes=("declined", "approved"),
        review_policy=ReviewPolicy(uncertainty_band=(0.45, 0.55)), num_boost_round=20,
    )
    p.models.shadow("credit", 2)
    p.consent.grant(SUBJECT, "profiling")
    row = feature_row(frame, schema, 0)
    decision = p.decide(SUBJECT, row, model="credit")
    assert decision.model_version == 1
    serving, shadow = p.models.get("credit", 1), p.models.get("credit", 2)
    candidates = _decision_candidates(row)
    matrix = np.vstack([encode_mapping(serving.schema, c).matrix[0] for c in candidates])
    scores = serving.booster.predict(matrix, raw_score=True)
    shadow_scores = shadow.booster.predict(matrix, raw_score=True)
    # the attack works on the person's own decision: the exact score picks out a few candidates,
    # the person's true input among them
    truth = candidates.index(row) if row in candidates else None
    assert truth is not None and float(scores[truth]) == decision.score
    narrowed = int((scores == decision.score).sum())
    assert len(candidates) > 20_000 and narrowed < len(candidates) / 100

    p.subjects.erase(SUBJECT)
    found = _harvest(p, decision.decision_id, tmp_path / "export")
    fingerprints = {
        "score": {float(s) for s in scores},
        "probability": {_sigmoid(float(s)) for s in scores},
        "shadow probability": {_sigmoid(float(s)) for s in shadow_scores},
    }
    for what, values in fingerprints.items():
        hits = values & found
        assert not hits, f"the erased person's exact {what} is still stored ({len(hits)} hits)"
    # what an audit needs without the person is still there, and reads
    after = p.decision(decision.decision_id)
    assert after.outcome == decision.outcome and after.status == decision.status
    assert after.score is None and after.probability is None
    assert p.explain(decision.decision_id, audience="auditor").score is None
    assert p.audit.verify().ok


# -- recommendations ---------------------------------------------------------------------------


def _shop(p: Personalizer) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for q in range(60):
        taste = rng.random()
        for item in range(8):
            views = float(rng.poisson(6 * taste * (item % 3 == 0)))
            popularity = round(float(rng.random()), 3)
            rows.append({"subject": f"shopper-{q}", "query": q, "item_id": f"item-{item}",
                         "views": views, "popularity": popularity,
                         "relevance": int(min(3, views // 2 + (popularity > 0.8)))})
    frame = pd.DataFrame(rows)
    for subject in frame["subject"].unique():
        p.consent.grant(subject, "personalization")
    schema = FeatureSchema([
        Feature("views", purpose="personalization", label="your recent views"),
        Feature("popularity", purpose="service", label="how popular this item is"),
    ])
    card = p.models.train_ranker("shop", frame, schema, target="relevance", group="query",
                                 num_boost_round=30)
    p.models.sign_off("shop", card.version, reviewer="reviewer.tests")
    return frame


def test_item_scores_cannot_be_brute_forced_after_erasure(p: Personalizer, tmp_path) -> None:
    frame = _shop(p)
    p.consent.grant(SUBJECT, "personalization")
    catalogue = frame[frame["query"] == 0][["item_id", "popularity"]].reset_index(drop=True)
    views = 7.0  # the person's own count, on every candidate row
    candidates = catalogue.assign(views=views)
    served = p.recommend(SUBJECT, candidates, model="shop", k=4)
    model = p.models.get("shop")
    # the catalogue (popularity) is public; the attacker tries every views count 0-200
    tries = np.arange(0.0, 201.0)
    fingerprints: set[float] = set()
    for item in served.items:
        popularity = float(catalogue.set_index("item_id").loc[item.item_id, "popularity"])
        grid = np.column_stack([tries, np.full(tries.size, popularity)])
        scores = model.booster.predict(grid, raw_score=True)
        assert item.score in {float(s) for s in scores}  # the attack works before erasure
        fingerprints |= {float(s) for s in scores}
    p.subjects.erase(SUBJECT)
    found = _harvest(p, served.decision_id, tmp_path / "export")
    hits = fingerprints & found
    assert not hits, f"the erased person's exact item scores are still stored ({len(hits)} hits)"
    # the list itself (ids and ranks) is still there for an audit, and explains without a crash
    entry = p.audit.entries_of(served.decision_id)[0]
    assert [i["item_id"] for i in entry.data["items"]] == [i.item_id for i in served.items]
    assert [i["rank"] for i in entry.data["items"]] == [1, 2, 3, 4]
    explained = p.explain(served.decision_id, item_id=served.items[0].item_id)
    assert explained.score is None and explained.contributions == {}
    assert p.audit.verify().ok


@pytest.mark.parametrize("audience", ["end_user", "reviewer", "auditor"])
def test_score_reads_while_the_person_exists(credit, audience: str) -> None:
    """Sealing changes nothing for staff while the key exists: the exact numbers come back."""
    p, frame, schema = credit
    p.consent.grant(SUBJECT, "profiling")
    decision = p.decide(SUBJECT, feature_row(frame, schema, 3), model="credit")
    again = p.decision(decision.decision_id)
    assert (again.score, again.probability) == (decision.score, decision.probability)
    explanation = p.explain(decision.decision_id, audience=audience)
    assert explanation.score == decision.score
    if audience != "end_user":
        total = sum(explanation.contributions.values()) + explanation.base_value
        assert total == pytest.approx(decision.score, abs=1e-9)
