"""Explanations for people (issue 7): counterfactual search, narratives, pair comparisons, the
logic card — against raw LightGBM calls on the same model and rows, one thread.

German credit, 100 trees, trained on rows 0-799; rows 800-999 decided. Baselines: one
``booster.predict(x, raw_score=True)`` (what a naive counterfactual search repeats for every
candidate) and one ``pred_contrib`` row (what the explanation itself costs).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import feature_row
from test_explain_data import german_personalizer

from sdk.explain.readability import flesch_reading_ease


def _times(fn, items) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - start)
    return out


def _ms(values: list[float], q: float) -> float:
    return float(np.quantile(np.array(values), q) * 1000)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        p, frame, schema = german_personalizer(Path(folder))
        with p:
            model = p.models.get("credit")
            booster = model.booster
            ids, adverse = [], []
            for i in range(800, 1000):
                d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i),
                             model="credit")
                ids.append(d.decision_id)
                if d.automated_outcome == "declined":
                    adverse.append(d.decision_id)
            x = np.array([[frame.iloc[800][n] for n in schema.names]])
            predict = _times(lambda _: booster.predict(x, raw_score=True, num_threads=1),
                             range(300))
            contrib = _times(lambda _: booster.predict(x, pred_contrib=True, num_threads=1),
                             range(300))
            p.counterfactual(adverse[0])  # split thresholds are read once per model version
            found = []
            cf = _times(lambda d: found.append(p.counterfactual(d).found), adverse)
            end_user = _times(lambda d: p.explain(d), ids)
            reviewer = _times(lambda d: p.explain(d, audience="reviewer"), ids)
            with_cf = _times(lambda d: p.explain(d, counterfactual=True), adverse)
            started = time.perf_counter()
            card = p.logic_card("credit", frame.iloc[800:])
            card_s = time.perf_counter() - started
            flesch = [flesch_reading_ease(p.explain(d).text) for d in ids]
    base = statistics.median(predict) * 1000
    print(f"{'operation':<44}{'p50 ms':>9}{'p99 ms':>9}{'x predict':>11}")
    rows = [
        ("raw booster.predict, 1 row (baseline)", predict),
        ("raw pred_contrib, 1 row (baseline)", contrib),
        ("counterfactual search + verify, 1 decision", cf),
        ("explain end_user (ledger read + text)", end_user),
        ("explain reviewer (+ decrypt inputs)", reviewer),
        ("explain end_user with counterfactual", with_cf),
    ]
    for name, values in rows:
        print(f"{name:<44}{_ms(values, 0.5):>9.3f}{_ms(values, 0.99):>9.3f}"
              f"{_ms(values, 0.5) / base:>11.1f}")
    print(f"logic card on {card.reference_rows} reference rows: {card_s * 1000:.1f} ms")
    print(f"counterfactual validity: {sum(found)}/{len(found)} adverse test rows "
          f"({sum(found) / len(found):.1%})")
    print(f"Flesch reading ease of end-user texts: min {min(flesch):.1f}, "
          f"mean {statistics.mean(flesch):.1f} (goal >= 60)")


if __name__ == "__main__":
    main()
