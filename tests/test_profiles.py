"""Subject ids, per-subject keys and encrypted profiles on a real SQLite file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import sdk.subjects
from sdk.crypto import FieldCipher, Keyring
from sdk.errors import (
    DecryptionError,
    InvalidSubjectId,
    SubjectErased,
    SubjectError,
    UnknownSubject,
    WhylensError,
)
from sdk.keys import SubjectKeys, validate_subject_id
from sdk.store import Database
from sdk.subjects import Profiles

CANARY = "canary-7f3a@example.org"


@pytest.fixture
def keys(db: Database, keyring: Keyring) -> SubjectKeys:
    return SubjectKeys(db, keyring)


@pytest.fixture
def profiles(db: Database, keys: SubjectKeys) -> Profiles:
    return Profiles(db, keys)


def test_all_is_sorted() -> None:
    assert sdk.subjects.__all__ == sorted(sdk.subjects.__all__)


# -- subject ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "x" * 257,
        CANARY + "\n",
        "tab\there@example.org",
        CANARY + "\x00",
        CANARY + "\x85",
        CANARY + "\ud800",
        42,
        None,
        b"bytes@example.org",
        ["list@example.org"],
    ],
)
def test_invalid_subject_ids_never_echo_the_id(bad: object, profiles: Profiles) -> None:
    with pytest.raises(InvalidSubjectId) as info:
        validate_subject_id(bad)
    message = str(info.value)
    assert "subject id must be" in message
    for fragment in ("example.org", "canary", "xxxxxxxx", "tab"):
        assert fragment not in message
    with pytest.raises(InvalidSubjectId) as info2:
        profiles.put(bad, {"a": 1})  # type: ignore[arg-type]
    assert "example.org" not in str(info2.value)
    with pytest.raises(InvalidSubjectId):
        profiles.get(bad)  # type: ignore[arg-type]


def test_invalid_subject_id_message_says_what_is_wrong() -> None:
    with pytest.raises(InvalidSubjectId, match=r"got 300 characters\)"):
        validate_subject_id("a" * 300)
    with pytest.raises(InvalidSubjectId, match=r"got int"):
        validate_subject_id(7)
    with pytest.raises(InvalidSubjectId, match="control character at position 3"):
        validate_subject_id("abc\x1b")


def test_valid_subject_ids_are_kept_as_given() -> None:
    for ok in ["a", " padded ", "x" * 256, "Zoë@例え.jp", "🙂"]:
        assert validate_subject_id(ok) == ok


# -- keys --------------------------------------------------------------------------------------


def test_data_key_create_cache_and_unknown(keys: SubjectKeys, db: Database) -> None:
    pseudo = keys.pseudonym(CANARY)
    assert len(pseudo) == 32 and CANARY not in pseudo
    with pytest.raises(UnknownSubject):
        keys.data_key(pseudo, create=False)
    assert not keys.exists(pseudo)
    key = keys.data_key(pseudo, create=True)
    assert len(key) == 32 and keys.exists(pseudo) and not keys.is_erased(pseudo)
    assert keys.data_key(pseudo, create=False) == key
    assert keys.cipher(pseudo, create=False) is keys.cipher(pseudo, create=False)
    row = db.query_one("SELECT kek_version, wrapped FROM subject_keys WHERE subject = ?", (pseudo,))
    assert row is not None and row[0] == 1 and key not in bytes(row[1])
    keys.clear_cache()
    assert keys.data_key(pseudo, create=False) == key  # unwrapped again from the database


def test_data_key_survives_reopen(tmp_path: Path, keyring: Keyring) -> None:
    path = tmp_path / "whylens.db"
    db = Database.open(path)
    pseudo = SubjectKeys(db, keyring).pseudonym("alice")
    key = SubjectKeys(db, keyring).data_key(pseudo, create=True)
    db.close()
    db = Database.open(path)
    try:
        reloaded = Keyring.load(keyring.path)
        assert SubjectKeys(db, reloaded).data_key(pseudo, create=False) == key
    finally:
        db.close()


def test_cache_limits(db: Database, keyring: Keyring) -> None:
    keys = SubjectKeys(db, keyring, cache_max_uses=2)
    pseudo = keys.pseudonym("bob")
    first = keys.cipher(pseudo, create=True)
    assert keys.cipher(pseudo, create=False) is first
    assert keys.cipher(pseudo, create=False) is not first  # use limit reached: unwrapped again
    uncached = SubjectKeys(db, keyring, cache_ttl=0)
    assert uncached.cipher(pseudo, create=False) is not uncached.cipher(pseudo, create=False)


def test_keys_from_another_keyring_do_not_unwrap(
    db: Database, keys: SubjectKeys, tmp_path: Path
) -> None:
    pseudo = keys.pseudonym("carol")
    keys.data_key(pseudo, create=True)
    stranger = SubjectKeys(db, Keyring.create(tmp_path / "other.keys"))
    with pytest.raises(DecryptionError):
        stranger.data_key(pseudo, create=False)


def test_raw_id_where_pseudonym_expected_is_refused_without_echo(keys: SubjectKeys) -> None:
    with pytest.raises(InvalidSubjectId) as info:
        keys.data_key(CANARY, create=True)
    assert CANARY not in str(info.value)


# -- profiles ----------------------------------------------------------------------------------


def test_profile_round_trip_unicode_and_nested(profiles: Profiles) -> None:
    fields: dict[str, Any] = {
        "email": CANARY,
        "name": "Zoë Ångström 山田 🙂",
        "age": 41,
        "score": 0.25,
        "active": True,
        "nickname": None,
        "prefs": {"sizes": ["M", "L"], "notify": {"mail": False, "ratio": -1.5}},
        "tags": [],
        "a.b_c": "dotted",
    }
    profiles.put(CANARY, fields)
    assert profiles.get(CANARY) == fields
    profiles.put(CANARY, {"age": 42})  # partial update keeps other fields
    assert profiles.get(CANARY) == {**fields, "age": 42}


def test_profiles_are_per_subject(profiles: Profiles) -> None:
    profiles.put("alice", {"x": 1})
    profiles.put("bob", {"x": 2})
    assert profiles.get("alice") == {"x": 1} and profiles.get("bob") == {"x": 2}
    with pytest.raises(UnknownSubject):
        profiles.get("carol")


def test_canary_never_reaches_the_database_files(tmp_path: Path, keyring: Keyring) -> None:
    path = tmp_path / "canary.db"
    db = Database.open(path)
    try:
        profiles = Profiles(db, SubjectKeys(db, keyring))
        profiles.put(CANARY, {"email": CANARY, "nested": {"contact": [CANARY]}})
        profiles.put("someone-else", {"backup_email": CANARY})
        assert profiles.get(CANARY)["email"] == CANARY
        wal = Path(f"{path}-wal")
        assert wal.exists() and wal.stat().st_size > 0
        needles = [CANARY.encode(), CANARY.encode("utf-16-le"), b"canary-7f3a"]
        for raw in (path.read_bytes(), wal.read_bytes()):
            for needle in needles:
                assert needle not in raw
        db.checkpoint()
        raw = path.read_bytes()
        assert all(needle not in raw for needle in needles)
    finally:
        db.close()


def test_tampered_or_swapped_field_is_rejected_and_named(
    profiles: Profiles, keys: SubjectKeys, db: Database
) -> None:
    profiles.put("alice", {"email": "a@example.org", "city": "Lyon"})
    pseudo = keys.pseudonym("alice")
    stored = profiles.fields_encrypted(pseudo)
    assert set(stored) == {"city", "email"}
    with db.transaction() as tx:  # copy one field's ciphertext over another
        tx.execute(
            "UPDATE profile_fields SET ciphertext = ? WHERE subject = ? AND field = 'city'",
            (stored["email"], pseudo),
        )
    with pytest.raises(DecryptionError, match="profile field 'city'") as info:
        profiles.get("alice")
    assert "example.org" not in str(info.value)


def test_ciphertext_moved_to_another_subject_is_rejected(
    profiles: Profiles, keys: SubjectKeys, db: Database
) -> None:
    profiles.put("alice", {"email": "a@example.org"})
    profiles.put("bob", {"email": "b@example.org"})
    alice, bob = keys.pseudonym("alice"), keys.pseudonym("bob")
    with db.transaction() as tx:
        tx.execute(
            "UPDATE profile_fields SET ciphertext = ? WHERE subject = ?",
            (profiles.fields_encrypted(alice)["email"], bob),
        )
    with pytest.raises(DecryptionError):
        profiles.get("bob")


def test_erasure_crypto_shreds(profiles: Profiles, keys: SubjectKeys, db: Database) -> None:
    profiles.put(CANARY, {"email": CANARY})
    pseudo = keys.pseudonym(CANARY)
    old_key = keys.data_key(pseudo, create=False)
    ciphertexts = profiles.fields_encrypted(pseudo)
    with db.transaction() as tx:
        keys.destroy(pseudo, tx)
    assert keys.is_erased(pseudo) and not keys.exists(pseudo)
    for call in (
        lambda: profiles.get(CANARY),
        lambda: keys.data_key(pseudo, create=False),
        lambda: keys.data_key(pseudo, create=True),
        lambda: profiles.put(CANARY, {"email": "new"}),
    ):
        with pytest.raises(SubjectErased) as info:
            call()
        assert "subject was erased on" in str(info.value)
        assert CANARY not in str(info.value) and pseudo not in str(info.value)
    row = db.query_one("SELECT wrapped, erased FROM subject_keys WHERE subject = ?", (pseudo,))
    assert row is not None and row[0] is None and row[1] is not None
    # the ciphertexts are still there but only the destroyed key could read them
    assert FieldCipher(old_key).decrypt(
        ciphertexts["email"], aad=sdk.crypto.field_aad(subject=pseudo, field="email")
    )
    with db.transaction() as tx:
        assert profiles.delete_all(pseudo, tx) == 1
    assert profiles.fields_encrypted(pseudo) == {}
    with pytest.raises(SubjectErased):
        profiles.get(CANARY)  # not UnknownSubject: the tombstone remembers


def test_erasure_seen_by_another_instance_with_a_warm_cache(db: Database, keyring: Keyring) -> None:
    a = Profiles(db, SubjectKeys(db, keyring))
    b_keys = SubjectKeys(db, keyring)
    b = Profiles(db, b_keys)
    a.put("dave", {"x": 1})
    assert b.get("dave") == {"x": 1}  # b's cache now holds dave's key
    pseudo = b_keys.pseudonym("dave")
    with db.transaction() as tx:
        SubjectKeys(db, keyring).destroy(pseudo, tx)
    with pytest.raises(SubjectErased):
        b.get("dave")


def test_destroy_unknown_subject_leaves_tombstone(keys: SubjectKeys, db: Database) -> None:
    pseudo = keys.pseudonym("never-seen")
    with db.transaction() as tx:
        keys.destroy(pseudo, tx)
    assert keys.is_erased(pseudo)
    with pytest.raises(SubjectErased):
        keys.data_key(pseudo, create=True)


def test_destroy_rolls_back_with_the_transaction(keys: SubjectKeys, db: Database) -> None:
    pseudo = keys.pseudonym("eve")
    key = keys.data_key(pseudo, create=True)
    with pytest.raises(RuntimeError), db.transaction() as tx:
        keys.destroy(pseudo, tx)
        raise RuntimeError("abort")
    assert not keys.is_erased(pseudo)
    assert keys.data_key(pseudo, create=False) == key


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ok": 1, "1bad": "v"}, r"invalid profile field name \(a str of 4 characters\)"),
        ({"ok": 1, "has space": "v"}, "invalid profile field name"),
        ({"ok": 1, "x" * 65: "v"}, "invalid profile field name"),
        ({"ok": 1, "": "v"}, "invalid profile field name"),
        ({"ok": 1, 5: "v"}, "field names must be strings"),
        ({"ok": 1, "bad": {1, 2}}, "profile field 'bad'.*set is not a JSON value"),
        ({"ok": 1, "bad": math.nan}, "profile field 'bad'.*finite"),
        ({"ok": 1, "bad": [1, math.inf]}, "profile field 'bad'.*finite"),
        ({"ok": 1, "bad": {"k": b"secret-bytes"}}, "profile field 'bad'.*bytes"),
        ({"ok": 1, "bad": {1: "v"}}, "profile field 'bad'.*dict keys must be strings"),
        ({"ok": 1, "bad": ("t", "u")}, "profile field 'bad'.*tuple"),
        ({"ok": 1, "bad": 2**60}, "profile field 'bad'.*53 bits"),
    ],
)
def test_bad_field_leaves_previous_profile_intact(
    profiles: Profiles, fields: dict[Any, Any], expected: str
) -> None:
    profiles.put("frank", {"ok": 0, "email": CANARY})
    with pytest.raises(SubjectError, match=expected) as info:
        profiles.put("frank", fields)
    assert "secret-bytes" not in str(info.value) and CANARY not in str(info.value)
    assert profiles.get("frank") == {"ok": 0, "email": CANARY}


def test_bad_field_for_new_subject_writes_nothing(profiles: Profiles, keys: SubjectKeys) -> None:
    with pytest.raises(SubjectError):
        profiles.put("grace", {"ok": 1, "bad": object()})
    pseudo = keys.pseudonym("grace")
    assert not keys.exists(pseudo) and profiles.fields_encrypted(pseudo) == {}
    with pytest.raises(UnknownSubject):
        profiles.get("grace")


def test_deep_nesting_is_refused(profiles: Profiles) -> None:
    value: Any = 1
    for _ in range(40):
        value = [value]
    with pytest.raises(SubjectError, match="nest more than"):
        profiles.put("heidi", {"deep": value})


def test_non_mapping_fields_refused(profiles: Profiles) -> None:
    with pytest.raises(SubjectError, match="must be a mapping"):
        profiles.put("ivan", [("a", 1)])  # type: ignore[arg-type]


def test_errors_are_whylens_errors() -> None:
    for exc in (InvalidSubjectId, SubjectErased, UnknownSubject, DecryptionError, SubjectError):
        assert issubclass(exc, WhylensError)
