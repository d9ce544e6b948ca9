"""A store made by the schema-v1 release (tests/fixtures/v1-store/, see make_v1_store.py) opens
with today's code: migrated in place, nothing lost, still verifying; newer or foreign files are
refused and left as they were. SQLite only: the fixture is a SQLite file."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pytest

from sdk import Personalizer
from sdk._store.migrate import HEAD_REVISION
from sdk._store.schema import SCHEMA_VERSION, metadata
from sdk.errors import KeyringMismatch, ModelNotSignedOff, NotAWhylensDatabase, SubjectErased
from sdk.keys import SubjectKeys

FIXTURE = Path(__file__).parent / "fixtures" / "v1-store"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())


@pytest.fixture
def v1(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the v1 store and its keyring (the fixture itself is never opened)."""
    db, ring = tmp_path / "v1.db", tmp_path / "v1.keyring.json"
    shutil.copyfile(FIXTURE / "v1.db", db)
    shutil.copyfile(FIXTURE / "v1.keyring.json", ring)
    ring.chmod(0o600)  # git checks files out 0644; whylens refuses a keyring others can read
    return db, ring


def _meta(db: Path) -> dict[str, str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT key, value FROM whylens_meta").fetchall())


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def test_fixture_is_a_v1_store() -> None:
    meta = _meta(FIXTURE / "v1.db")
    assert meta["schema_version"] == "1"
    assert "alembic_version" not in _tables(FIXTURE / "v1.db")
    assert not (FIXTURE / "v1.db-wal").exists()


def test_v1_store_upgrades_in_place_and_loses_nothing(v1: tuple[Path, Path]) -> None:
    db, ring = v1
    with Personalizer.open(db, keyring=ring) as p:
        assert p.ledger.size == EXPECTED["ledger_size"]
        assert p.ledger.head_hash == EXPECTED["head_hash"]
        assert p.ledger.verify().ok
        assert p.audit.verify().ok
        for decision_id, want in EXPECTED["decisions"].items():
            got = p.decision(decision_id)
            assert (got.status, got.outcome) == (want["status"], want["outcome"])
            assert p.explain(decision_id, audience="reviewer").text
        assert p.decision(EXPECTED["overridden"]).status == "overridden"
        for subject, fields in EXPECTED["profiles"].items():
            assert p.profiles.get(subject) == fields
        for value, pseudos in EXPECTED["find_email"].items():
            assert p.profiles.find("email", value) == pseudos
        assert "email" in p.profiles.deterministic_fields
        assert len(p.events.list("member-0")) == EXPECTED["events_member_0"]
        consent = EXPECTED["consent"]
        assert p.consent.state("member-3").allows("personalization") is consent[
            "member-3_allows_personalization"
        ]
        assert p.consent.state("member-4").allows("personalization") is consent[
            "member-4_allows_personalization"
        ]
        assert {c.name: c.version for c in p.models.list()} == EXPECTED["models"]
        assert p.audit.protected is not None
        assert sorted(p.audit.protected.names()) == EXPECTED["protected_names"]
        with pytest.raises(SubjectErased):
            p.profiles.get(EXPECTED["erased_subject"])
        assert p.keys.is_erased(EXPECTED["erased_pseudonym"])

        # the upgraded store takes new writes, and its chain still verifies
        size = p.ledger.size
        p.consent.grant("member-new", ["profiling"])
        p.profiles.put("member-new", {"email": "new@example.org"})
        # v1 sign-offs covered the model text only: the version must be signed off again
        # (now over text, card, review policy and schema) before it serves
        with pytest.raises(ModelNotSignedOff, match=r"sign it off again: p\.models\.sign_off"):
            p.decide("member-new", {"tenure_months": 12.0, "late_payments": 0.0}, model="credit")
        p.models.sign_off("credit", EXPECTED["models"]["credit"], reviewer="reviewer.upgrade")
        decision = p.decide(
            "member-new", {"tenure_months": 12.0, "late_payments": 0.0}, model="credit"
        )
        assert p.decision(decision.decision_id).status == decision.status
        assert p.ledger.size > size
        assert p.ledger.verify().ok
        assert p.ledger.prove_consistency(size).old_size == size
    meta = _meta(db)
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert {"ledger_leaves", "protected_attributes", "alembic_version"} <= _tables(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == (
            HEAD_REVISION
        )


def test_migrated_schema_matches_the_schema_module(v1: tuple[Path, Path]) -> None:
    """The revisions bring a v1 file to exactly what sdk/_store/schema.py says."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    db, ring = v1
    Personalizer.open(db, keyring=ring).close()
    fresh = db.with_name("fresh.db")
    Personalizer.open(fresh).close()
    for path in (db, fresh):
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        engine.dispose()
        assert [d for d in diff if not _inline_primary_key_nullability(d)] == [], (path.name, diff)


def _inline_primary_key_nullability(diff: object) -> bool:
    """Release 1 declared single-column keys inline (``seq INTEGER PRIMARY KEY``), which SQLite
    reports as nullable; a primary key never holds NULL in these tables, so that is no change."""
    if not isinstance(diff, list) or len(diff) != 1:
        return False
    op = diff[0]
    if op[0] != "modify_nullable":
        return False
    _, _, table, column = op[:4]
    return bool(metadata.tables[table].c[column].primary_key)


def _open_and_append(db: str, ring: str, who: str) -> int:
    with Personalizer.open(db, keyring=ring) as p:
        p.consent.grant(who, ["profiling"])
        return p.ledger.size


def test_two_processes_opening_a_v1_store_migrate_it_once(v1: tuple[Path, Path]) -> None:
    db, ring = v1
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        sizes = pool.starmap(
            _open_and_append, [(str(db), str(ring), "proc-a"), (str(db), str(ring), "proc-b")]
        )
    assert max(sizes) == EXPECTED["ledger_size"] + 2
    with Personalizer.open(db, keyring=ring) as p:
        assert p.ledger.verify().ok
        assert p.ledger.size == EXPECTED["ledger_size"] + 2


def test_two_processes_creating_one_new_store_create_it_once(tmp_path: Path) -> None:
    from sdk.crypto import Keyring

    db, ring = tmp_path / "new.db", tmp_path / "new.keyring.json"
    Keyring.create(ring)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.starmap(_open_and_append, [(str(db), str(ring), "a"), (str(db), str(ring), "b")])
    with Personalizer.open(db, keyring=ring) as p:
        assert p.ledger.size == 2
        assert p.ledger.verify().ok
    assert _meta(db)["schema_version"] == str(SCHEMA_VERSION)


def test_a_newer_schema_is_refused_untouched(v1: tuple[Path, Path]) -> None:
    db, ring = v1
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE whylens_meta SET value = '99' WHERE key = 'schema_version'")
    before = db.read_bytes()
    with pytest.raises(NotAWhylensDatabase, match="newer"):
        Personalizer.open(db, keyring=ring)
    assert db.read_bytes() == before


def test_a_foreign_keyring_is_refused_before_migrating(v1: tuple[Path, Path]) -> None:
    db, _ = v1
    other = db.with_name("other.db")
    Personalizer.open(other).close()
    before = db.read_bytes()
    with pytest.raises(KeyringMismatch):
        Personalizer.open(db, keyring=other.with_name("other.keyring.json"))
    assert db.read_bytes() == before
    assert _meta(db)["schema_version"] == "1"


def test_a_foreign_sqlite_file_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO orders (total) VALUES (9.5)")
    before = path.read_bytes()
    with pytest.raises(NotAWhylensDatabase):
        Personalizer.open(path)
    assert path.read_bytes() == before
    assert not path.with_name("app.keyring.json").exists()


def test_subject_keys_work_on_the_upgraded_store(v1: tuple[Path, Path]) -> None:
    """Below the facade: a v1 store's wrapped keys still unwrap through the seam."""
    from sdk.crypto import Keyring
    from sdk.store import Database

    db, ring = v1
    store = Database.open(db)
    try:
        keys = SubjectKeys(store, Keyring.load(ring))
        pseudo = keys.pseudonym("member-0")
        assert keys.exists(pseudo)
        assert keys.cipher(pseudo, create=False).key_version == 1
    finally:
        store.close()
