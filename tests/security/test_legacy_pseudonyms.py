"""A legacy store's HMAC pseudonyms can no longer be recomputed once it is migrated.

Attacker: the database and the keyring, after an erasure. A store made before schema 4
(``pseudonyms = hmac-v1``, tests/fixtures/v1-store) named each subject ``HMAC(pseudonym key,
id)``: from an erased person's id, the keyring recomputes their ledger name and finds every
consent and decision entry about them. ``p.keys.migrate_pseudonyms(ids)`` (CLI ``whylens keys
migrate-pseudonyms``) rebuilds the subject index under a new key and overwrites the old key in
the keyring file: the same attack with every key in the file finds nothing, while the live
people are read as before and the erased ids still say erased.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from conftest import tamper

from sdk import Personalizer
from sdk.crypto.field import pseudonym
from sdk.errors import ConfigurationError, SubjectErased

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v1-store"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
IDS = [f"member-{i}" for i in range(120)]  # every id the fixture's application knew


def _legacy(tmp_path: Path) -> tuple[Path, Path]:
    for name in ("v1.db", "v1.keyring.json"):
        shutil.copyfile(FIXTURE / name, tmp_path / name)
    keyring = tmp_path / "v1.keyring.json"
    keyring.chmod(0o600)
    return tmp_path / "v1.db", keyring


def _keys_in_file(keyring: Path) -> list[bytes]:
    """Every 32-byte secret the keyring file holds (what the attacker tries)."""
    doc = json.loads(keyring.read_text())
    out = []
    for value in [doc.get("pseudonym_key"), doc.get("mac_key"), *doc.get("keks", {}).values()]:
        if isinstance(value, str):
            out.append(base64.b64decode(value))
    return out


def _entries_found(db: Path, keyring: Path, subject: str) -> int:
    """Ledger entries the attacker finds by recomputing ``subject``'s HMAC pseudonym."""
    found = 0
    for key in _keys_in_file(keyring):
        name = pseudonym(key, subject)
        rows = tamper(str(db), "SELECT COUNT(*) FROM ledger WHERE subject = ?", (name,))
        found += int(rows[0][0])
    return found


def test_after_migration_an_erased_id_recomputes_to_nothing(tmp_path: Path) -> None:
    db, keyring = _legacy(tmp_path)
    erased = EXPECTED["erased_subject"]  # member-2, erased by the v1 release
    with Personalizer.open(db, keyring=keyring) as p:
        p.subjects.erase("member-7")  # and one erased today, before the migration
        assert _entries_found(db, keyring, erased) > 0  # the attack, before
        done = p.keys.migrate_pseudonyms(IDS)
        assert done.erased == 2 and done.unreachable == 0 and done.tokens_removed > 0
        # live people read as before, in this process
        assert p.profiles.get("member-0") == EXPECTED["profiles"]["member-0"]
    for who in (erased, "member-7"):
        assert _entries_found(db, keyring, who) == 0, f"{who}'s entries found from the id"
    assert tamper(str(db), "SELECT value FROM whylens_meta WHERE key = 'pseudonyms'") == [
        ("random-v2",)
    ]
    with Personalizer.open(db, keyring=keyring) as p:
        assert p.profiles.get("member-0") == EXPECTED["profiles"]["member-0"]
        assert p.profiles.get("member-1") == EXPECTED["profiles"]["member-1"]
        assert p.consent.state("member-4").allows("personalization") is True
        assert p.consent.state("member-3").allows("personalization") is False
        for who in (erased, "member-7"):
            with pytest.raises(SubjectErased):
                p.profiles.get(who)
            with pytest.raises(SubjectErased):
                p.consent.grant(who, ["personalization"])
        p.profiles.put("newcomer", {"name": "New"})
        assert p.profiles.get("newcomer") == {"name": "New"}
        assert p.ledger.verify().ok and p.audit.verify().ok
        with pytest.raises(ConfigurationError):
            p.keys.migrate_pseudonyms(IDS)  # nothing left to migrate


def test_migration_refuses_to_strand_people_whose_id_is_missing(tmp_path: Path) -> None:
    db, keyring = _legacy(tmp_path)
    before = keyring.read_bytes()
    with Personalizer.open(db, keyring=keyring) as p:
        with pytest.raises(ConfigurationError, match="reached by none of the ids"):
            p.keys.migrate_pseudonyms(IDS[:10])
        assert keyring.read_bytes() == before  # the old key is kept: nothing was changed
        assert p.profiles.get("member-0") == EXPECTED["profiles"]["member-0"]


def test_the_cli_migrates_a_legacy_store(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sdk.cli import app

    db, keyring = _legacy(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(IDS) + "\n")
    result = CliRunner().invoke(
        app, ["keys", "migrate-pseudonyms", "--ids", str(ids), "--db", str(db), "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "1 erased ids now lead nowhere" in " ".join(result.output.split())
    assert _entries_found(db, keyring, EXPECTED["erased_subject"]) == 0
    with Personalizer.open(db, keyring=keyring) as p:
        assert p.profiles.get("member-0") == EXPECTED["profiles"]["member-0"]
