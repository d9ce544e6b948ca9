"""Shared fixtures: real SQLite files, real LightGBM models, real keys — no mocks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _pg import IN_CI, SERVER_UNDER_TEST

from sdk import Feature, FeatureSchema, ModelCard, Personalizer, ReviewPolicy
from sdk.audit.sealing import Opened, open_entries
from sdk.crypto.keyring import Keyring
from sdk.store import Database

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GERMAN = DATA / "german_credit" / "german.csv"

# German credit as shipped: numeric columns, and the codebook's (german.txt) coded columns as
# pandas categories, each code with a plain-English label
GERMAN_NUMERIC = {
    "month": ("loan duration in months", "loan", True),
    "credit_amount": ("the amount asked for", "loan", True),
    "investment_as_income_percentage": ("instalment as share of income", "loan", False),
    "residence_since": ("years at current address", "stability", False),
    "number_of_credits": ("number of existing credits", "credit history", False),
    "people_liable_for": ("people you support", "household", False),
}
GERMAN_CATEGORICAL: dict[str, tuple[str, str, bool, dict[str, str]]] = {
    "status": ("your checking account", "accounts", False, {
        "A11": "below 0 DM", "A12": "0 to 200 DM", "A13": "200 DM or more",
        "A14": "no checking account",
    }),
    "credit_history": ("your credit history", "credit history", False, {
        "A30": "no loans, or all paid back", "A31": "all loans here paid back",
        "A32": "loans paid on time so far", "A33": "late payments in the past",
        "A34": "a critical account",
    }),
    "purpose": ("what the loan is for", "loan", False, {
        "A40": "a new car", "A41": "a used car", "A42": "furniture", "A43": "a radio or TV",
        "A44": "home appliances", "A45": "repairs", "A46": "school", "A47": "a holiday",
        "A48": "new job skills", "A49": "business", "A410": "other things",
    }),
    "savings": ("your savings", "accounts", False, {
        "A61": "below 100 DM", "A62": "100 to 500 DM", "A63": "500 to 1000 DM",
        "A64": "1000 DM or more", "A65": "none we know of",
    }),
    "employment": ("how long you have been employed", "stability", False, {
        "A71": "no job", "A72": "less than a year", "A73": "1 to 4 years",
        "A74": "4 to 7 years", "A75": "7 years or more",
    }),
    "other_debtors": ("who else backs the loan", "loan", False, {
        "A101": "no one", "A102": "a co-applicant", "A103": "a guarantor",
    }),
    "property": ("property you own", "assets", False, {
        "A121": "a house or land", "A122": "savings plan or life cover",
        "A123": "a car or other", "A124": "none we know of",
    }),
    "installment_plans": ("other payment plans", "credit history", False, {
        "A141": "with a bank", "A142": "with a store", "A143": "none",
    }),
    "housing": ("your housing", "household", False, {
        "A151": "renting", "A152": "owner", "A153": "living for free",
    }),
    "skill_level": ("your kind of job", "stability", False, {
        "A171": "unskilled, non-resident", "A172": "unskilled", "A173": "skilled",
        "A174": "highly skilled",
    }),
    "telephone": ("a phone in your name", "household", False, {
        "A191": "no", "A192": "yes",
    }),
}
"""``personal_status`` (it encodes sex) and ``foreign_worker`` (national origin) are not
features; ``age`` is one, marked sensitive."""


def german_credit() -> tuple[pd.DataFrame, FeatureSchema]:
    """German credit from its raw columns with a subject column, and its schema.

    Every coded column is a pandas ``category`` with the codebook's codes, declared
    ``kind="categorical"`` with a label per code; ``age`` is marked sensitive;
    ``personal_status`` (which encodes sex) and ``foreign_worker`` are not features.
    """
    raw = pd.read_csv(GERMAN)
    frame = pd.DataFrame({"subject": [f"applicant-{i:04d}" for i in range(len(raw))]})
    features = []
    for name, (label, concept, actionable) in GERMAN_NUMERIC.items():
        frame[name] = raw[name].astype("float64")
        features.append(
            Feature(name, purpose="profiling", label=label, concept=concept, actionable=actionable)
        )
    for name, (label, concept, actionable, categories) in GERMAN_CATEGORICAL.items():
        frame[name] = pd.Categorical(raw[name], categories=list(categories))
        features.append(
            Feature(
                name, kind="categorical", categories=categories, purpose="profiling",
                label=label, concept=concept, actionable=actionable,
            )
        )
    frame["age"] = raw["age"].astype("float64")
    features.append(Feature("age", purpose="profiling", label="your age", sensitive=True))
    frame["good"] = (raw["credit"] == 1).astype("int64")
    return frame, FeatureSchema(features)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "whylens.db"


BACKENDS = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that opens a store through ``store_url`` (or ``p``) runs on each backend,
    unless marked ``sqlite_only`` (it reads the SQLite file's bytes)."""
    if "backend" not in metafunc.fixturenames:
        return
    backends: tuple[str, ...] = BACKENDS
    if _pg_missing() or metafunc.definition.get_closest_marker("sqlite_only") is not None:
        backends = ("sqlite",)
    metafunc.parametrize("backend", backends)


def _pg_missing() -> bool:
    """No PostgreSQL server on a developer machine: its tests are left out, and the run says so
    in one line. In CI they run (and fail without a server)."""
    return not IN_CI and SERVER_UNDER_TEST.problem() is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _pg_missing():
        return
    left_out = [item for item in items if "pg_url" in getattr(item, "fixturenames", ())]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    problem = SERVER_UNDER_TEST.problem() if not IN_CI else None
    if problem is not None:
        terminalreporter.write_line(problem)
    # the HTTP server tests' figures and screenshot paths (tests/server/notes.py)
    from server.notes import lines_since

    lines = lines_since(config.stash.get(_STARTED, 0.0))
    if lines:
        terminalreporter.section("whylens server")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def store_url(backend: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a test's store lives, as ``Personalizer.open`` takes it: a SQLite path, or the URL
    of a fresh PostgreSQL database of the test's own (the test runs once per backend)."""
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(db_path)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own (dropped afterwards)."""
    problem = SERVER_UNDER_TEST.problem()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)
    url = SERVER_UNDER_TEST.new_database()
    yield url
    SERVER_UNDER_TEST.drop_later(url)


def pytest_sessionfinish(session: pytest.Session) -> None:
    SERVER_UNDER_TEST.finish()


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    """The keyring of the test's store (passed explicitly, so any backend can use it)."""
    return tmp_path / "whylens.keyring.json"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A bare whylens SQLite store, for the parts tested below the Personalizer."""
    database = Database.open(tmp_path / "w.db")
    yield database
    database.close()


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.create(tmp_path / "whylens.keyring.json")


def signed_classifier(
    p: Personalizer,
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    purposes: tuple[str, ...] = ("profiling",),
    band: tuple[float, float] | None = (0.0, 1.0),
    rounds: int = 10,
    policy: ReviewPolicy | None = None,
    **train: object,
) -> ModelCard:
    """Grant ``purposes`` for every subject in ``frame``, train the German-credit classifier
    ``credit`` on it and sign the version off, as a person would before it serves."""
    for subject in frame["subject"]:
        p.consent.grant(subject, list(purposes))
    card = p.models.train_classifier(
        "credit", frame, schema, target="good", outcomes=("declined", "approved"),
        review_policy=policy or ReviewPolicy(uncertainty_band=band), num_boost_round=rounds,
        **train,  # type: ignore[arg-type]
    )
    p.models.sign_off(card.name, card.version, reviewer="reviewer.tests", note="test model")
    return card


@pytest.fixture
def p(store_url: str, keyring_path: Path) -> Iterator[Personalizer]:
    with Personalizer.open(store_url, keyring=keyring_path) as personalizer:
        yield personalizer


@pytest.fixture
def credit(p: Personalizer) -> tuple[Personalizer, pd.DataFrame, FeatureSchema]:
    """A Personalizer with a German-credit classifier trained on applicants who consented."""
    frame, schema = german_credit()
    consenting = frame["subject"].iloc[::5].tolist() + frame["subject"].iloc[1::5].tolist()
    for subject in frame["subject"]:
        if subject not in set(consenting):
            continue
        p.consent.grant(subject, "profiling")
    p.models.train_classifier(
        "credit",
        frame,
        schema,
        target="good",
        outcomes=("declined", "approved"),
        review_policy=ReviewPolicy(uncertainty_band=(0.45, 0.55)),
        num_boost_round=60,
    )
    p.models.sign_off("credit", 1, reviewer="reviewer.tests", note="test fixture")
    return p, frame, schema


def feature_row(
    frame: pd.DataFrame, schema: FeatureSchema, index: int
) -> dict[str, float | str | None]:
    """Row ``index`` as ``decide`` takes it: numbers, and category codes as strings."""
    row = frame.iloc[index]
    out: dict[str, float | str | None] = {}
    for feature in schema:
        value = row[feature.name]
        if feature.is_categorical:
            out[feature.name] = None if pd.isna(value) else str(value)
        else:
            out[feature.name] = float(value)
    return out


def opened(p: Personalizer, decision_id: str) -> Opened:
    """The sealed personal parts of a decision or recommendation (record version 3: inputs,
    exact scores, propensities, shadow figures), opened with the person's key as staff see them."""
    entry, _ = p.audit.entries_of(decision_id)
    assert entry.subject is not None
    return open_entries(p.keys.cipher(entry.subject, create=False), entry.subject, entry, ())


def tamper(store_url: str, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """An attacker who holds the database runs ``sql`` (``?`` placeholders) behind whylens's back.

    SQLite: a raw connection to the file. PostgreSQL: a superuser session with triggers switched
    off (``session_replication_role = replica``), which is what it takes to get past the
    append-only guards. Returns the rows, if the statement returns any.
    """
    if store_url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description is not None else []
    import sqlite3

    lite = sqlite3.connect(store_url, isolation_level=None)
    try:
        return lite.execute(sql, params).fetchall()
    finally:
        lite.close()


def feature_frame(
    schema: FeatureSchema, rows: list[dict[str, float | str | None]]
) -> pd.DataFrame:
    """Rows as ``decide`` takes them, as the raw pandas frame LightGBM scores (categorical
    features as pandas categories with the schema's codes)."""
    return pd.DataFrame(
        {
            f.name: pd.Categorical([r[f.name] for r in rows], categories=list(f.codes))
            if f.is_categorical
            else np.array([r[f.name] for r in rows], dtype=np.float64)
            for f in schema
        }
    )


def all_bytes(db_path: Path) -> bytes:
    """The database file and its WAL, as raw bytes."""
    out = b""
    for suffix in ("", "-wal"):
        path = Path(str(db_path) + suffix)
        if path.exists():
            out += path.read_bytes()
    return out


__all__ = [
    "all_bytes",
    "feature_frame",
    "feature_row",
    "german_credit",
    "np",
    "signed_classifier",
    "tamper",
]


def pytest_configure(config: pytest.Config) -> None:
    import time

    config.stash[_STARTED] = time.time()


_STARTED = pytest.StashKey[float]()
