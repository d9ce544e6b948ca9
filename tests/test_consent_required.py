"""No automated decision without the consent it needs (GDPR Art. 22(2)(c)).

A decision model declares the purposes an automated decision needs (by default every
consent-requiring purpose among its features). For a person who withdrew, never consented or is
not known at all, ``decide`` does not decide from the features left after masking: it holds the
decision for a person (``pending_review``, trigger ``consent_missing``) or, by the model's
policy, refuses with :class:`ConsentRequired`; the person is told why in plain words.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import ModelCard, Personalizer, ReviewPolicy
from sdk.errors import ConsentRequired, UnknownPurpose
from sdk.types import HELD_OUTCOME


@pytest.fixture
def opened(store_url: str, keyring_path: Path):  # type: ignore[no-untyped-def]
    frame, schema = german_credit()
    frame = frame.iloc[:300].reset_index(drop=True)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        yield p, frame, schema


def test_without_consent_the_decision_waits_for_a_person(opened) -> None:  # type: ignore[no-untyped-def]
    p, frame, schema = opened
    card = signed_classifier(p, frame, schema, band=None, rounds=8)
    assert card.review_policy is not None and card.review_policy.consent_purposes == ("profiling",)
    row = feature_row(frame, schema, 1)
    p.consent.grant("withdrew", "profiling")
    p.consent.withdraw("withdrew", "profiling")
    automated = p.decide("applicant-0001", row, model="credit")
    assert automated.status == "automated"
    held = {}
    for who in ("withdrew", "never-asked", "unknown-person"):
        if who == "never-asked":
            p.consent.grant(who, "analytics")  # known, but never consented to profiling
        decision = p.decide(who, row, model="credit")
        assert decision.status == "pending_review", who
        assert decision.review_trigger == "consent_missing: profiling"
        assert decision.why.startswith("No automatic decision was made.")
        assert decision.outcome == HELD_OUTCOME  # nothing an application could act on
        for word in ("approved", "declined", f"{decision.probability:.2f}"):
            assert word not in decision.why
        held[who] = decision.decision_id
    assert set(held.values()) <= {d.decision_id for d in p.reviews.pending()}
    # the text the person reads later is the same, in German too
    assert p.decision(held["withdrew"]).why == p.decide("withdrew", row, model="credit").why
    german = p.explain(held["unknown-person"], locale="de").text
    assert german.startswith("Es wurde keine automatische Entscheidung getroffen.")
    # a person decides; the outcome is theirs
    done = p.reviews.override(
        held["withdrew"], outcome="declined", reviewer="staff.1", reason="no consent: by hand"
    )
    assert done.status == "overridden" and done.outcome == "declined"
    entry, _ = p.audit.entries_of(held["withdrew"])
    assert entry.data["consent"]["missing"] == ["profiling"]
    assert entry.data["consent"]["needed"] == ["profiling"]
    # consent given again: automated again, on the next call
    p.consent.grant("withdrew", "profiling")
    assert p.decide("withdrew", row, model="credit").status == "automated"
    assert p.audit.verify().ok


def test_a_model_can_refuse_instead_and_nothing_is_recorded(opened) -> None:  # type: ignore[no-untyped-def]
    p, frame, schema = opened
    policy = ReviewPolicy(uncertainty_band=None, without_consent="refuse")
    signed_classifier(p, frame, schema, policy=policy, rounds=8)
    row = feature_row(frame, schema, 2)
    size = p.ledger.size
    with pytest.raises(ConsentRequired, match="profiling") as caught:
        p.decide("someone-new", row, model="credit")
    assert caught.value.code == "consent_required"
    assert "someone-new" not in str(caught.value)
    assert p.ledger.size == size  # no record, no outcome
    p.consent.grant("someone-new", "profiling")
    assert p.decide("someone-new", row, model="credit").status == "automated"


def test_declared_purposes_are_checked_stored_and_old_cards_load(opened) -> None:  # type: ignore[no-untyped-def]
    p, frame, schema = opened
    for subject in frame["subject"]:
        p.consent.grant(subject, ["profiling", "analytics"])
    with pytest.raises(UnknownPurpose):
        p.models.train_classifier(
            "credit", frame, schema, target="good", num_boost_round=5,
            review_policy=ReviewPolicy(consent_purposes=("no_such_purpose",)),
        )
    both = ReviewPolicy(uncertainty_band=None, consent_purposes=("profiling", "analytics"))
    card = p.models.train_classifier(
        "credit", frame, schema, target="good", num_boost_round=5, review_policy=both
    )
    p.models.sign_off("credit", card.version, reviewer="staff.2")
    stored = p.models.get("credit", card.version).card.review_policy
    assert stored is not None and stored.consent_purposes == ("profiling", "analytics")
    row = feature_row(frame, schema, 3)
    p.consent.grant("only-profiling", "profiling")
    held = p.decide("only-profiling", row, model="credit")
    assert held.status == "pending_review" and held.review_trigger == "consent_missing: analytics"
    # a card written before the declaration existed still loads, with the default behaviour
    old = card.model_dump(mode="json")
    del old["review_policy"]["consent_purposes"], old["review_policy"]["without_consent"]
    loaded = ModelCard.model_validate(old, strict=False)
    assert loaded.review_policy is not None and loaded.review_policy.consent_purposes is None
    assert loaded.review_policy.without_consent == "hold"
