"""A held decision, a reviewer's override, and an audit export checked offline.

Run: .venv/bin/python examples/review_and_export.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sdk import Feature, FeatureSchema, Personalizer, ReviewPolicy
from sdk.audit import verify_export

rng = np.random.default_rng(1)
n = 400
frame = pd.DataFrame({
    "subject": [f"member-{i}" for i in range(n)],
    "tenure_months": rng.integers(1, 60, n).astype(float),
    "late_payments": rng.poisson(0.7, n).astype(float),
})
logit = 0.05 * frame["tenure_months"] - 1.2 * frame["late_payments"] + rng.normal(0, 1, n)
frame["repaid"] = (logit > 0).astype(int)
schema = FeatureSchema([
    Feature("tenure_months", purpose="profiling", label="how long you have been a member"),
    Feature("late_payments", purpose="profiling", label="late payments on past invoices"),
])

with tempfile.TemporaryDirectory() as folder:
    with Personalizer.open(Path(folder) / "credit.db") as p:
        for subject in frame["subject"]:
            p.consent.grant(subject, "profiling")
        p.models.train_classifier("credit", frame, schema, target="repaid",
                                  review_policy=ReviewPolicy(uncertainty_band=(0.3, 0.7)),
                                  num_boost_round=30)
        p.models.sign_off("credit", 1, reviewer="reviewer.anna")  # a person approves the model
        decision = next(
            d for d in (
                p.decide(s, {"tenure_months": float(t), "late_payments": float(lp)},
                         model="credit")
                for s, t, lp in zip(frame["subject"], frame["tenure_months"],
                                    frame["late_payments"], strict=True)
            ) if d.status == "pending_review"
        )
        print("held:", decision.decision_id, f"p={decision.probability:.2f}")
        print(p.explain(decision.decision_id, audience="reviewer").text)
        final = p.reviews.override(decision.decision_id, outcome="approved",
                                   reviewer="reviewer.kim", reason="income documents provided")
        print("effective outcome:", final.outcome, "/", final.status)
        manifest = p.audit.export(Path(folder) / "export")
        pinned = p.keyring.public_key_bytes()  # the auditor gets this by another channel
    report = verify_export(Path(folder) / "export", trust=pinned)
    print(f"export of {manifest.records} records verified offline: {report.ok}")
