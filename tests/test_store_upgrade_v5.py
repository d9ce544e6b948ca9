"""A schema-4 store (untagged ``subject_index``; SQLite tables with rowids) upgrades to schema 5
on both backends: every index row gets its tag, nothing is lost, a swapped row is caught
afterwards, and without the keyring the upgrade is refused with nothing changed.

The schema-4 stores: ``tests/fixtures/v2-store/`` (written by the schema-4 release, SQLite), and
on both backends today's store taken back to revision 0004's tables by the same DDL that
revision created (the columns and keys of ``subject_index`` and ``subject_keys`` as 0001/0004
made them), with its data, then reopened."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk._store import open_store
from sdk._store.schema import SCHEMA_VERSION
from sdk.errors import ConfigurationError, SubjectDataTampered, SubjectErased

V2 = Path(__file__).parent / "fixtures" / "v2-store"

_SQLITE_V4 = (
    "CREATE TABLE subject_index_v4 (token BLOB NOT NULL, subject TEXT NOT NULL, "
    "PRIMARY KEY (token))",
    "INSERT INTO subject_index_v4 (token, subject) SELECT token, subject FROM subject_index",
    "DROP TABLE subject_index",
    "ALTER TABLE subject_index_v4 RENAME TO subject_index",
    "CREATE INDEX subject_index_by_subject ON subject_index (subject)",
    "CREATE TABLE subject_keys_v4 (subject TEXT NOT NULL, kek_version INTEGER NOT NULL, "
    "wrapped BLOB, created TEXT NOT NULL, erased TEXT, PRIMARY KEY (subject))",
    "INSERT INTO subject_keys_v4 SELECT subject, kek_version, wrapped, created, erased "
    "FROM subject_keys",
    "DROP TABLE subject_keys",
    "ALTER TABLE subject_keys_v4 RENAME TO subject_keys",
)
_PG_V4 = ("ALTER TABLE subject_index DROP COLUMN tag",)
_STAMP_V4 = (
    "UPDATE whylens_meta SET value = '4' WHERE key = 'schema_version'",
    "UPDATE alembic_version SET version_num = '0004'",
)


def _make_v4_store(store_url: str, keyring_path: Path) -> dict[str, str]:
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        for who, city in (("alice", "Lyon"), ("bob", "Oslo"), ("carol", "Rome")):
            p.consent.grant(who, ["personalization"])
            p.profiles.put(who, {"name": who.title(), "city": city})
        pseudos = {who: p.keys.pseudonym(who) for who in ("alice", "bob")}
        p.subjects.erase("carol")
    ddl = _PG_V4 if store_url.startswith("postgresql://") else _SQLITE_V4
    for stmt in (*ddl, *_STAMP_V4):
        tamper(store_url, stmt)
    [(version,)] = tamper(store_url, "SELECT value FROM whylens_meta WHERE key = 'schema_version'")
    assert version == "4"
    return pseudos


def test_a_schema_4_store_gets_its_index_tagged(store_url: str, keyring_path: Path) -> None:
    pseudos = _make_v4_store(store_url, keyring_path)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.profiles.get("alice") == {"name": "Alice", "city": "Lyon"}
        assert p.subjects.export("bob").profile["city"] == "Oslo"
        assert {who: p.keys.pseudonym(who) for who in pseudos} == pseudos
        with pytest.raises(SubjectErased):
            p.profiles.get("carol")
        assert p.ledger.verify().ok
        p.consent.grant("dave", ["personalization"])  # new ids are tagged as before
    [(version,)] = tamper(store_url, "SELECT value FROM whylens_meta WHERE key = 'schema_version'")
    assert version == str(SCHEMA_VERSION)
    assert tamper(store_url, "SELECT count(*) FROM subject_index WHERE tag IS NULL") == [(0,)]
    # the upgraded rows are checked: a swap is caught
    alice, bob = pseudos["alice"], pseudos["bob"]
    tamper(store_url, "UPDATE subject_index SET subject = 'swap' WHERE subject = ?", (alice,))
    tamper(store_url, "UPDATE subject_index SET subject = ? WHERE subject = ?", (alice, bob))
    tamper(store_url, "UPDATE subject_index SET subject = ? WHERE subject = 'swap'", (bob,))
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        with pytest.raises(SubjectDataTampered):
            p.subjects.export("alice")
        with pytest.raises(SubjectDataTampered):
            p.subjects.erase("bob")
    assert tamper(store_url, "SELECT count(*) FROM subject_keys WHERE subject IN (?, ?) AND "
                  "wrapped IS NOT NULL", (alice, bob)) == [(2,)], "nothing was erased"


def test_without_the_keyring_the_upgrade_is_refused_untouched(
    store_url: str, keyring_path: Path
) -> None:
    _make_v4_store(store_url, keyring_path)
    with pytest.raises(ConfigurationError, match="keyring"):
        open_store(store_url)
    [(version,)] = tamper(store_url, "SELECT value FROM whylens_meta WHERE key = 'schema_version'")
    assert version == "4"
    with Personalizer.open(store_url, keyring=keyring_path) as p:  # the keyring's opener can
        assert p.profiles.get("alice")["name"] == "Alice"


def test_the_schema_4_fixture_upgrades_and_its_rows_are_checked(tmp_path: Path) -> None:
    for name in ("v2.db", "v2.keyring.json", "v2.keyring.witness.log"):
        shutil.copyfile(V2 / name, tmp_path / name)
        (tmp_path / name).chmod(0o600)
    db, ring = tmp_path / "v2.db", tmp_path / "v2.keyring.json"
    erased = json.loads((V2 / "expected.json").read_text())["erased"]["subject"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM whylens_meta WHERE key = 'schema_version'"
                            ).fetchone() == ("4",)
        rows = conn.execute("SELECT count(*) FROM subject_index").fetchone()[0]
    with Personalizer.open(db, keyring=ring) as p:
        names = {who: p.keys.pseudonym(who) for who in ("member-0", "member-1")}
        assert p.consent.state("member-0").allows("profiling")
        with pytest.raises(SubjectErased):
            p.subjects.export(erased)
        assert p.ledger.verify().ok
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM subject_index WHERE length(tag) = 32"
                            ).fetchone()[0] == rows
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'subject_index'").fetchone()
        assert "WITHOUT ROWID" in ddl[0].upper()
        conn.execute("UPDATE subject_index SET subject = ? WHERE subject = ?",
                     (names["member-1"], names["member-0"]))
    with Personalizer.open(db, keyring=ring) as p, pytest.raises(SubjectDataTampered):
        p.consent.state("member-0")
