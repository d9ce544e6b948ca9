"""Issue 7, item 3: concepts in the feature schema — defaults from features, declared metadata,
exact sums, and storage with the model version."""

from __future__ import annotations

import pydantic
import pytest
from test_explain_data import CONCEPTS, german_schema

from sdk import Concept, Feature, FeatureSchema, Personalizer
from sdk.errors import SchemaError
from sdk.explain.concepts import concept_contributions, concept_reasons, end_user_reasons


def test_design_md_feature_calls_still_work_and_concepts_derive_from_features() -> None:
    schema = FeatureSchema([
        Feature("recent_outdoor_views", purpose="personalization",
                label="your recent outdoor browsing", concept="browsing", sensitive=False,
                actionable=False),
        Feature("age", purpose="profiling", label="your age", sensitive=True),
        Feature("outdoor_purchases", purpose="personalization", label="your outdoor purchases",
                concept="browsing", actionable=True, direction="increase", step=1),
    ])
    assert [c.name for c in schema.concepts] == ["browsing", "age"]
    browsing = schema.concept("browsing")
    assert browsing.label == "your recent outdoor browsing"  # first feature's label
    assert browsing.reviewer_label == browsing.label
    assert browsing.purpose == "personalization"
    assert browsing.sensitive is False and browsing.controllable is True
    age = schema.concept("age")
    assert age.sensitive is True and age.controllable is False and age.purpose == "profiling"
    assert schema.members("browsing") == ("recent_outdoor_views", "outdoor_purchases")
    assert schema.concept_of("age") == age
    assert schema.to_json() == FeatureSchema.from_json(schema.to_json()).to_json()
    assert isinstance(schema.to_json(), list)  # no declared concept: the original stored form


def test_declared_concepts_override_and_are_checked() -> None:
    _, schema = german_schema()
    loan = schema.concept("loan")
    assert loan.label == "the loan you asked for" and loan.reviewer_label == "loan terms"
    assert loan.controllable is True  # month and credit_amount are actionable
    assert schema.concept("age").sensitive is True
    assert FeatureSchema.from_json(schema.to_json()) == schema
    features = list(schema)
    with pytest.raises(SchemaError, match="no feature"):
        FeatureSchema(features, concepts=[*CONCEPTS, Concept("nothing", label="x")])
    with pytest.raises(SchemaError, match="twice"):
        FeatureSchema(features, concepts=[CONCEPTS[0], CONCEPTS[0]])
    with pytest.raises(SchemaError, match="purpose"):
        FeatureSchema(features, concepts=[Concept("loan", purpose="marketing")])
    with pytest.raises(SchemaError, match="Concept objects"):
        FeatureSchema(features, concepts=["loan"])  # type: ignore[list-item]
    with pytest.raises(pydantic.ValidationError, match="min_value"):
        Feature("x", purpose="service", label="x", min_value=5, max_value=1)
    # a sensitive feature makes its concept sensitive even when declared otherwise
    mixed = FeatureSchema(
        [Feature("a", purpose="service", label="a", concept="c"),
         Feature("b", purpose="service", label="b", concept="c", sensitive=True)],
        concepts=[Concept("c", label="c things", sensitive=False)],
    )
    assert mixed.concept("c").sensitive is True


def test_concept_contribution_is_the_exact_sum_of_its_features() -> None:
    _, schema = german_schema()
    contributions = {n: (i - 6) * 0.137 for i, n in enumerate(schema.names)}
    totals = concept_contributions(schema, contributions)
    for concept in schema.concepts:
        assert totals[concept.name] == sum(contributions[n] for n in schema.members(concept.name))
    assert sum(r.contribution for r in concept_reasons(schema, contributions)) == pytest.approx(
        sum(contributions.values()), abs=1e-12
    )
    shown = end_user_reasons(schema, contributions, masked=(), limit=10)
    for reason in shown.reasons:
        assert reason.contribution == totals[reason.concept]
        assert reason.label == schema.concept(reason.concept).label
    assert "age" not in {r.concept for r in shown.reasons}  # sensitive
    german = end_user_reasons(schema, contributions, masked=(), limit=10, locale="de")
    assert "der beantragte Kredit" in {r.label for r in german.reasons}


def test_concepts_are_stored_with_the_model_version(tmp_path) -> None:
    frame, schema = german_schema()
    path = tmp_path / "c.db"
    with Personalizer.open(path) as p:
        for subject in frame["subject"].iloc[:300]:
            p.consent.grant(subject, "profiling")
        p.models.train_classifier("credit", frame.iloc[:300], schema, target="good",
                                  num_boost_round=10)
    with Personalizer.open(path) as p:
        stored = p.models.get("credit").schema
    assert stored == schema
    assert stored.concept("loan").translations == {"de": "der beantragte Kredit"}
    assert stored["month"].direction == "decrease" and stored["month"].step == 1.0
