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
    # a categorical: moves to any of the listed categories (more savings, not "none we know of")
    "savings": {"targets": ["A61", "A62", "A63", "A64"]},
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
    "purpose": "wofür der Kredit ist",
    "savings": "Ihre Ersparnisse",
    "employment": "wie lange Sie schon angestellt sind",
    "other_debtors": "wer noch für den Kredit bürgt",
    "property": "Ihr Eigentum",
    "installment_plans": "andere Ratenzahlungen",
    "housing": "wie Sie wohnen",
    "skill_level": "Ihre Art von Arbeit",
    "telephone": "ein Telefon auf Ihren Namen",
    "age": "Ihr Alter",
}

GERMAN_CATEGORIES_DE = {
    "status": {
        "A11": "unter 0 DM", "A12": "0 bis 200 DM", "A13": "200 DM oder mehr",
        "A14": "kein Girokonto",
    },
    "credit_history": {
        "A30": "keine Kredite oder alle zurückgezahlt", "A31": "alle Kredite hier zurückgezahlt",
        "A32": "Kredite bisher pünktlich bezahlt", "A33": "früher verspätete Zahlungen",
        "A34": "ein kritisches Konto",
    },
    "purpose": {
        "A40": "ein neues Auto", "A41": "ein gebrauchtes Auto", "A42": "Möbel",
        "A43": "Radio oder Fernseher", "A44": "Haushaltsgeräte", "A45": "Reparaturen",
        "A46": "Ausbildung", "A47": "Urlaub", "A48": "Umschulung", "A49": "Geschäft",
        "A410": "Sonstiges",
    },
    "savings": {
        "A61": "unter 100 DM", "A62": "100 bis 500 DM", "A63": "500 bis 1000 DM",
        "A64": "1000 DM oder mehr", "A65": "keine bekannt",
    },
    "employment": {
        "A71": "ohne Arbeit", "A72": "unter einem Jahr", "A73": "1 bis 4 Jahre",
        "A74": "4 bis 7 Jahre", "A75": "7 Jahre oder mehr",
    },
    "other_debtors": {"A101": "niemand", "A102": "ein Mitantragsteller", "A103": "ein Bürge"},
    "property": {
        "A121": "Haus oder Grundstück", "A122": "Bausparvertrag oder Lebensversicherung",
        "A123": "Auto oder Sonstiges", "A124": "keines bekannt",
    },
    "installment_plans": {"A141": "bei einer Bank", "A142": "bei einem Geschäft", "A143": "keine"},
    "housing": {"A151": "zur Miete", "A152": "im Eigentum", "A153": "kostenlos"},
    "skill_level": {
        "A171": "ungelernt, nicht ansässig", "A172": "ungelernt", "A173": "Fachkraft",
        "A174": "hoch qualifiziert",
    },
    "telephone": {"A191": "nein", "A192": "ja"},
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
        Feature(
            **{
                **f.model_dump(),
                "actionable": f.name in ACTIONABLE,
                **ACTIONABLE.get(f.name, {}),
                "translations": {"de": GERMAN_DE[f.name]},
                "category_translations": (
                    {"de": GERMAN_CATEGORIES_DE[f.name]} if f.is_categorical else {}
                ),
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
