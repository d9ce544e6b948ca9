"""End-to-end ``decide`` against raw ``booster.predict(x, pred_contrib=True)`` (issue 2).

Same 200-tree model, same row. ``decide`` does everything one decision needs: consent look-up,
masking, prediction, exact attributions with the additivity check, review policy, per-field
encryption of the inputs, one ledger append (a durable commit), a span. Median of repeated runs.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _timing import goal, median
from conftest import feature_row, german_credit

from sdk import Personalizer, ReviewPolicy
from sdk.models.matrix import encode_mapping

REPEATS = 400
GOAL = 1.0


def _median_seconds(fn, repeats: int = REPEATS) -> float:
    return median(fn, repeats, warmup=20)

def main() -> None:
    frame, schema = german_credit()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for durability in ("full", "normal"):
            with Personalizer.open(Path(folder) / f"{durability}.db", durability=durability) as p:
                for subject in frame["subject"]:
                    p.consent.grant(subject, "profiling")
                p.models.train_classifier(
                    "credit", frame, schema, target="good", num_boost_round=200,
                    review_policy=ReviewPolicy(uncertainty_band=None),
                )
                p.models.sign_off("credit", 1, reviewer="bench")
                model = p.models.get("credit")
                features = feature_row(frame, schema, 7)
                x = encode_mapping(schema, features).matrix  # categories as the model's codes
                subject = frame["subject"].iloc[7]
                booster = model.booster

                def raw(threads: int | None, x: np.ndarray = x, b=booster) -> None:
                    kwargs = {} if threads is None else {"num_threads": threads}
                    b.predict(x, pred_contrib=True, **kwargs)

                def decide(p: Personalizer = p, s: str = subject, f: dict = features) -> None:
                    p.decide(s, f, model="credit")

                raw_default = _median_seconds(lambda: raw(None))
                raw_one = _median_seconds(lambda: raw(1))
                decide_s = _median_seconds(decide)
                rows.append((durability, decide_s, raw_default, raw_one, booster.num_trees()))
    print(f"{'durability':<10} {'trees':>5} {'decide':>10} {'pred_contrib':>13} "
          f"{'(1 thread)':>11} {'ratio':>7} {'ratio 1t':>9}")
    for durability, decide, raw_default, raw_one, trees in rows:
        print(
            f"{durability:<10} {trees:>5} {decide * 1e3:>8.3f}ms {raw_default * 1e3:>11.3f}ms "
            f"{raw_one * 1e3:>9.3f}ms {decide / raw_default:>6.2f}x {decide / raw_one:>8.2f}x"
        )
    print("ratio = median decide() / median raw booster.predict(x, pred_contrib=True), same row")
    # issue 17 goal: a durable decide costs at most one raw pred_contrib of the same row
    # (against the faster of LightGBM's default threads and one thread: the stricter baseline)
    for durability, decide, raw_default, raw_one, _ in rows:
        ratio = decide / min(raw_default, raw_one)
        recorded = goal(f"decide ({durability}) / raw pred_contrib", ratio, GOAL, at_least=False)
        verdict = "PASS" if recorded.passed else "FAIL"
        print(f"goal: decide ({durability}) <= {GOAL:.1f}x raw pred_contrib: {ratio:.2f}x "
              f"{verdict}")


if __name__ == "__main__":
    main()
