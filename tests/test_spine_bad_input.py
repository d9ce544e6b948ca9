"""Bad input raises a WhylensError subclass with a clear message and leaves stored data intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import all_bytes, feature_row

from sdk import Personalizer
from sdk.errors import (
    ConfigurationError,
    FeatureError,
    KeyringMismatch,
    KeyringMissing,
    KeyringPermissionError,
    ModelNotFound,
    NotAWhylensDatabase,
    UnknownSubject,
    WhylensError,
    WrongModelKind,
)
from sdk.personalizer import default_keyring_path


def test_every_error_is_a_whylens_error() -> None:
    import inspect

    import sdk.errors as errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Exception) and c.__module__ == errors.__name__]
    assert len(classes) > 20
    assert all(issubclass(c, errors.WhylensError) for c in classes)
    assert sorted(errors.__all__) == errors.__all__


def test_unknown_subject(p: Personalizer) -> None:
    with pytest.raises(UnknownSubject):
        p.profiles.get("nobody")
    with pytest.raises(UnknownSubject):
        p.subjects.export("nobody")


def test_wrong_or_missing_features_write_nothing(credit) -> None:
    p, frame, schema = credit
    subject = frame["subject"].iloc[0]
    good = feature_row(frame, schema, 0)
    size = p.ledger.size
    missing = dict(good)
    del missing["month"]
    with pytest.raises(FeatureError, match="missing features: month"):
        p.decide(subject, missing, model="credit")
    with pytest.raises(FeatureError, match="unexpected features: colour"):
        p.decide(subject, {**good, "colour": 1.0}, model="credit")
    with pytest.raises(FeatureError, match="feature 'month' must be a number"):
        p.decide(subject, {**good, "month": "twelve"}, model="credit")
    with pytest.raises(FeatureError):
        p.decide(subject, [1, 2, 3], model="credit")  # type: ignore[arg-type]
    with pytest.raises(ModelNotFound):
        p.decide(subject, good, model="no-such-model")
    with pytest.raises(WrongModelKind):
        p.recommend(subject, [{"item_id": "a", **good}], model="credit")
    with pytest.raises(ConfigurationError):
        p.decide(subject, good, model="credit", locale="xx")
    assert p.ledger.size == size
    assert p.decide(subject, good, model="credit").decision_id


def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not a database at all" * 100)
    before = path.read_bytes()
    with pytest.raises(NotAWhylensDatabase, match="not a whylens database"):
        Personalizer.open(path, keyring=tmp_path / "k.json")
    assert path.read_bytes() == before


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
    conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NotAWhylensDatabase):
        Personalizer.open(path, keyring=tmp_path / "k.json")
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


def test_missing_or_foreign_keyring(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with Personalizer.open(db) as p:
        p.profiles.put("s1", {"city": "Graz"})
        p.consent.grant("s1", "personalization")
    keyring = default_keyring_path(db)
    assert keyring.stat().st_mode & 0o777 == 0o600
    stored = all_bytes(db)
    moved = keyring.rename(tmp_path / "elsewhere.json")
    with pytest.raises(KeyringMissing, match="keyring"):
        Personalizer.open(db)
    assert all_bytes(db) == stored
    with Personalizer.open(tmp_path / "b.db"):
        pass
    with pytest.raises(KeyringMismatch):
        Personalizer.open(db, keyring=default_keyring_path(tmp_path / "b.db"))
    moved.rename(keyring)
    keyring.chmod(0o644)
    with pytest.raises(KeyringPermissionError, match="600"):
        Personalizer.open(db)
    keyring.chmod(0o600)
    with Personalizer.open(db) as p:
        assert p.profiles.get("s1") == {"city": "Graz"}
        assert p.consent.state("s1").allows("personalization")
        assert p.audit.verify().ok


def test_open_rejects_folders_and_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Personalizer.open(tmp_path)
    with pytest.raises(ConfigurationError):
        Personalizer.open("postgresql://localhost/db")
    with pytest.raises(WhylensError):
        Personalizer.open(tmp_path / "x.db", durability="sometimes")
