"""A small real store with decisions on the audit stream, for the security tests."""

from __future__ import annotations

from conftest import feature_row, german_credit

from sdk import Personalizer, ReviewPolicy


def decide_some(p: Personalizer, n: int = 6) -> None:
    """Train a small classifier and record ``n`` decisions."""
    frame, schema = german_credit()
    frame = frame.iloc[:80].reset_index(drop=True)
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    card = p.models.train_classifier(
        "credit",
        frame,
        schema,
        target="good",
        outcomes=("declined", "approved"),
        review_policy=ReviewPolicy(uncertainty_band=(0.3, 0.7)),
        num_boost_round=10,
    )
    p.models.sign_off(card.name, card.version, reviewer="lead")
    for i in range(n):
        p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
