"""Data for the explanation tests (no tests here): German credit with declared concepts and
actionable features, and LightGBM's lambdarank example, both read from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import DATA, german_credit

from sdk import Concept, Feature, FeatureSchema, Personalizer, ReviewPolicy

RANK = DATA / "lgbm_rank"

ACTIONABLE = {
    "month": {"direction": "decrease", "min_value": 4.0, "step": 1.0},
    "credit_amount": {"direction": "decrease", "min_value": 250.0, "step": 50.0},
    "investment_as_income_percentage": {"direction": "decrease", "min_value": 1.0, "step": 1.0},
    "savings": {"direction": "increase", "max_value": 4.0, "step": 1.0},
}

GERMAN_DE = {
    "month": "die Laufzeit des Kredits in Monaten",
    "credit_amount": "der beantragte Betrag",
    "investment_as_income_percentage": "die Rate im Verhältnis zum Einkommen",
    "residence_since": "wie lange Sie schon an Ihrer Adresse wohnen",
    "number_of_credits": "die Zahl Ihrer Kredite",
    "people_liable_for": "wie viele Menschen Sie versorgen",
    "status": "Ihr Girokonto",
    "credit_history": "Ihre bisherigen Kredite",
    "savings": "Ihre Ersparnisse",
    "employment": "wie lange Sie schon angestellt sind",
    "property": "Ihr Eigentum",
    "housing": "wie Sie wohnen",
    "age": "Ihr Alter",
}

CONCEPTS = (
    Concept(
        "loan",
        label="the loan you asked for",
        reviewer_label="loan terms",
        description="How much, for how long, and the rate against income.",
        translations={"de": "der beantragte Kredit"},
    ),
    Concept(
        "accounts",
        label="your bank accounts",
        reviewer_label="accounts and savings",
        translations={"de": "Ihre Konten"},
    ),
    Concept(
        "stability",
        label="how settled you are in work and home",
        translations={"de": "wie lange Sie schon am selben Ort leben und arbeiten"},
    ),
    Concept(
        "credit history",
        label="your past loans",
        translations={"de": "Ihre bisherigen Kredite"},
    ),
    Concept("household", label="your home and family", translations={"de": "Ihr Haushalt"}),
)


def german_schema() -> tuple[pd.DataFrame, FeatureSchema]:
    """German credit (conftest's frame) with declared concepts, German labels and actionable
    directions and ranges; ``age`` stays sensitive."""
    frame, base = german_credit()
    features = [
        f.model_copy(
            update={
                "actionable": f.name in ACTIONABLE,
                **ACTIONABLE.get(f.name, {}),
                "translations": {"de": GERMAN_DE[f.name]},
            }
        )
        for f in base
    ]
    return frame, FeatureSchema(features, concepts=CONCEPTS)


def german_personalizer(folder: Path) -> tuple[Personalizer, pd.DataFrame, FeatureSchema]:
    """Every applicant consents to profiling; a classifier trained on rows 0-799 only (rows
    800-999 are the test rows); no review band, so every decision is automated."""
    frame, schema = german_schema()
    p = Personalizer.open(folder / "german.db")
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    p.models.train_classifier(
        "credit",
        frame.iloc[:800],
        schema,
        target="good",
        outcomes=("declined", "approved"),
        review_policy=ReviewPolicy(uncertainty_band=None),
        num_boost_round=100,
    )
    p.models.sign_off("credit", 1, reviewer="reviewer.tests")
    return p, frame, schema


def rank_split(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dense features, relevance labels, query id per row) of ``rank.train`` or ``rank.test``."""
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(str(RANK / name), n_features=300)
    sizes = np.loadtxt(RANK / f"{name}.query", dtype=np.int64)
    query = np.repeat(np.arange(len(sizes)), sizes)
    return np.asarray(x.todense(), dtype=np.float64), y.astype(np.int64), query


RANK_FEATURES = tuple(f"f{i:03d}" for i in range(300))


def rank_schema() -> FeatureSchema:
    """300 anonymous LETOR features in 10 concepts of 30."""
    return FeatureSchema(
        Feature(
            name,
            purpose="personalization",
            label=f"signal {i}",
            concept=f"group {i // 30}",
        )
        for i, name in enumerate(RANK_FEATURES)
    )


def rank_frame(name: str) -> pd.DataFrame:
    """A split as the frame ``train_ranker`` and ``recommend`` take (one subject per query)."""
    x, y, query = rank_split(name)
    frame = pd.DataFrame(x, columns=list(RANK_FEATURES))
    frame.insert(0, "item_id", [f"doc-{i}" for i in range(len(frame))])
    frame.insert(0, "query_id", query)
    frame.insert(0, "subject", [f"searcher-{q:03d}" for q in query])
    frame["relevance"] = y
    return frame
