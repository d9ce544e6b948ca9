"""Issue 14, item 4: strict input hygiene — no infinities, one subject per NFC id, no invisible
or whitespace-only ids, and no silent English in another locale's text."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import feature_row, german_credit, signed_classifier

from sdk import Feature, FeatureSchema, Personalizer
from sdk.errors import FeatureError, InvalidSubjectId
from sdk.models.schema import MissingTranslationWarning
from sdk.subjects import validate_subject_id

NFC = unicodedata.normalize("NFC", "José Müller")
NFD = unicodedata.normalize("NFD", "José Müller")


@pytest.mark.parametrize("value", [np.inf, -np.inf, float("inf"), 10**400])
def test_infinite_features_are_refused_in_decide_and_nothing_is_written(
    credit, value: object
) -> None:
    p, frame, schema = credit
    subject = frame["subject"].iloc[0]
    size = p.ledger.size
    with pytest.raises(FeatureError, match="feature 'credit_amount' is infinite") as info:
        p.decide(subject, {**feature_row(frame, schema, 0), "credit_amount": value},
                 model="credit")
    assert "inf" not in str(info.value).replace("infinite", "")  # the value is not echoed
    assert p.ledger.size == size


def test_infinite_training_values_are_refused(p: Personalizer) -> None:
    frame, schema = german_credit()
    frame.loc[17, "credit_amount"] = -np.inf
    for subject in frame["subject"]:
        p.consent.grant(subject, "profiling")
    with pytest.raises(FeatureError, match="'credit_amount' has 1 infinite values"):
        p.models.train_classifier("credit", frame, schema, target="good", num_boost_round=5)
    assert p.models.list() == []


def test_infinite_values_are_refused_when_scoring_frames(credit) -> None:
    from sdk.batch import local

    p, frame, _schema = credit
    model = p.models.get("credit")
    bad = frame.iloc[:5].copy()
    bad.loc[bad.index[2], "month"] = np.inf
    with pytest.raises(FeatureError, match="'month' has 1 infinite values"):
        local.score(bad, p, model=model)


def test_nfc_and_nfd_ids_are_one_subject_across_processes(
    store_url: str, keyring_path: Path
) -> None:
    assert NFC != NFD and validate_subject_id(NFD) == NFC
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        p.consent.grant(NFC, "profiling")
        p.profiles.put(NFD, {"city": "Köln"})
    # another process, which only ever sees the decomposed spelling
    script = (
        "import sys, unicodedata\n"
        "from sdk import Personalizer\n"
        "nfd = unicodedata.normalize('NFD', 'José Müller')\n"
        "with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:\n"
        "    assert p.consent.state(nfd).allows('profiling')\n"
        "    assert p.profiles.get(nfd) == {'city': 'Köln'}\n"
        "    print(p._keys.pseudonym(nfd))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, store_url, str(keyring_path)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert out.stdout.strip() == p._keys.pseudonym(NFC)
        assert len(p.consent.history(NFD)) == 1


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (" ", "whitespace"),
        ("\u3000\u00a0\t"[:2], "whitespace"),
        ("anna\u200b@example.org", "U+200B"),  # zero-width space
        ("anna\u200d@example.org", "U+200D"),  # zero-width joiner
        ("\ufeffanna@example.org", "U+FEFF"),  # byte order mark
        ("anna\u2060@example.org", "U+2060"),  # word joiner
        ("anna\u202e@example.org", "U+202E"),  # right-to-left override
        ("anna\u00ad@example.org", "U+00AD"),  # soft hyphen
        ("anna\x07@example.org", "control character"),
        ("anna\u0085@example.org", "control character"),
    ],
)
def test_invisible_whitespace_and_control_ids_are_refused(
    bad: str, says: str, p: Personalizer
) -> None:
    with pytest.raises(InvalidSubjectId, match=re.escape(says)) as info:
        validate_subject_id(bad)
    assert "anna" not in str(info.value) and "example" not in str(info.value)
    with pytest.raises(InvalidSubjectId):
        p.consent.grant(bad, "profiling")


def test_ordinary_ids_are_kept_as_given() -> None:
    for good in ("anna@example.org", " padded ", "Zoë", "用户-42", "a b"):
        assert validate_subject_id(good) == unicodedata.normalize("NFC", good)


def _partly_german(base: FeatureSchema) -> FeatureSchema:
    """German labels for every feature but housing (whose English label is unique to this
    test, so no other test has warned about it yet); no German category labels for telephone."""
    features = []
    for f in base:
        update: dict[str, object] = {}
        if f.name == "housing":
            update["label"] = "your housing (hygiene test)"
        else:
            update["translations"] = {"de": f"DE-{f.name}"}
        if f.is_categorical and f.name != "telephone":
            update["category_translations"] = {"de": {c: f"de-{c}" for c in f.codes}}
        if f.name == "telephone":
            update["categories"] = {"A191": "no phone (hygiene test)", "A192": "phone"}
        features.append(Feature(**{**f.model_dump(), **update}))
    return FeatureSchema(features)


def test_missing_translation_warns_once_per_label() -> None:
    from sdk.explain.concepts import end_user_reasons

    _, base = german_credit()
    schema = _partly_german(base)
    contributions = dict.fromkeys(schema.names, 0.0)
    contributions.update(housing=-0.9, telephone=-0.5, month=0.7)
    values = {"housing": 0.0, "telephone": 0.0}  # renting, no phone
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        texts = [
            " / ".join(r.label for r in end_user_reasons(
                schema, contributions, masked=(), locale="de", values=values).reasons)
            for _ in range(3)
        ]
    messages = [str(w.message) for w in caught if w.category is MissingTranslationWarning]
    assert texts[0] == texts[2]
    assert "your housing (hygiene test): de-A151" in texts[0]  # English label, and it was said
    assert "no phone (hygiene test)" in texts[0]
    assert messages == [
        "no 'de' translation for the label of feature 'housing'; the English label is used",
        "no 'de' translation for category 'A191' of feature 'telephone'; the English label is "
        "used",
    ]  # once each, though used three times; schema names only, never a person's data
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingTranslationWarning)
        end_user_reasons(schema, contributions, masked=(), locale="en", values=values)


def test_reviewers_see_which_labels_are_untranslated(p: Personalizer) -> None:
    frame, base = german_credit()
    schema = _partly_german(base)
    card = signed_classifier(p, frame, schema, rounds=20, band=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingTranslationWarning)
        d = p.decide(frame["subject"].iloc[3], feature_row(frame, schema, 3), model=card.name,
                     locale="de")
        german = p.explain(d.decision_id, audience="reviewer", locale="de").text
        english = p.explain(d.decision_id, audience="reviewer").text
    assert german.splitlines()[-1] == (
        "Bezeichnungen ohne Übersetzung (englisch angezeigt): housing, telephone (2 categories)"
    )
    assert "translation" not in english


def test_a_fully_translated_german_text_has_no_warning_and_no_english(tmp_path) -> None:
    from test_explain_data import german_personalizer

    p, frame, schema = german_personalizer(tmp_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", MissingTranslationWarning)
            for i in range(800, 830):
                d = p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i),
                             model="credit", locale="de")
                reviewer = p.explain(d.decision_id, audience="reviewer", locale="de").text
                assert "ohne Übersetzung" not in reviewer
                for word in ("your", "renting", "owner", "savings", "loan"):
                    assert word not in d.why
    finally:
        p.close()


def test_nullable_pandas_number_columns_are_numbers_and_missing() -> None:
    """pandas' nullable Int64 / Float64 / boolean columns (what read_parquet and convert_dtypes
    give) were a TypeError from numpy; their <NA> is a missing value, as NaN is."""
    from sdk.models.matrix import frame_matrix

    schema = FeatureSchema([
        Feature("visits", purpose="personalization", label="your visits"),
        Feature("member", purpose="personalization", label="your membership"),
        Feature("spend", purpose="personalization", label="your spending"),
    ])
    frame = pd.DataFrame({
        "visits": pd.array([1, None, 3], dtype="Int64"),
        "member": pd.array([True, None, False], dtype="boolean"),
        "spend": pd.array([1.5, 2.0, None], dtype="Float64"),
    })
    matrix = frame_matrix(schema, frame)
    np.testing.assert_array_equal(
        matrix, [[1.0, 1.0, 1.5], [np.nan, np.nan, 2.0], [3.0, 0.0, np.nan]]
    )
