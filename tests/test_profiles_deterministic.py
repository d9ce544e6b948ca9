"""Deterministic (AES-SIV) profile fields on a real SQLite file: joinable within one subject and
field, unlinkable across subjects and fields, tamper-evident, shredded by erasure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import all_bytes

from sdk import Personalizer
from sdk.crypto import Keyring
from sdk.crypto.field import ALGORITHM_AES256GCM, ALGORITHM_AES256SIV
from sdk.errors import (
    DecryptionError,
    KeyRetired,
    SubjectErased,
    SubjectError,
    UnknownCiphertextVersion,
)
from sdk.keys import SubjectKeys
from sdk.store import Database
from sdk.subjects import Profiles

CANARY = "canary-siv-51d0@example.org"
ANN = "ann@example.org"
BOB = "bob@example.org"


@pytest.fixture
def keys(db: Database, keyring: Keyring) -> SubjectKeys:
    return SubjectKeys(db, keyring)


@pytest.fixture
def profiles(db: Database, keys: SubjectKeys) -> Profiles:
    out = Profiles(db, keys)
    out.declare("email", deterministic=True)
    out.declare("email2", deterministic=True)
    return out


def _stored(profiles: Profiles, keys: SubjectKeys, subject: str) -> dict[str, bytes]:
    return profiles.fields_encrypted(keys.pseudonym(subject))


def _overwrite(db: Database, pseudo: str, field: str, ciphertext: bytes) -> None:
    with db.transaction() as tx:
        tx.execute(
            "UPDATE profile_fields SET ciphertext = ? WHERE subject = ? AND field = ?",
            (ciphertext, pseudo, field),
        )


def test_equal_values_equal_ciphertexts_only_within_subject_and_field(
    profiles: Profiles, keys: SubjectKeys
) -> None:
    profiles.put(ANN, {"email": CANARY, "email2": CANARY, "note": CANARY})
    first = _stored(profiles, keys, ANN)
    assert first["email"][1] == ALGORITHM_AES256SIV
    assert first["note"][1] == ALGORITHM_AES256GCM  # undeclared fields stay randomized
    profiles.put(ANN, {"email": CANARY, "email2": CANARY, "note": CANARY})
    second = _stored(profiles, keys, ANN)
    assert second["email"] == first["email"]
    assert second["email2"] == first["email2"]
    assert second["note"] != first["note"]
    assert first["email"] != first["email2"]  # same subject and value, other field
    profiles.put(BOB, {"email": CANARY})
    assert _stored(profiles, keys, BOB)["email"] != first["email"]  # other subject
    profiles.put(ANN, {"email": "changed@example.org"})
    assert _stored(profiles, keys, ANN)["email"] != first["email"]
    profiles.put(ANN, {"email": CANARY})
    assert _stored(profiles, keys, ANN)["email"] == first["email"]
    assert profiles.get(ANN) == {"email": CANARY, "email2": CANARY, "note": CANARY}
    assert profiles.get(BOB) == {"email": CANARY}


@pytest.mark.parametrize(
    "value",
    ["", CANARY, "Zoë 名前 🙂", 0, -7, 2.5, True, None, [1, "a", None], {"b": [1, 2], "a": {}}],
)
def test_round_trip(profiles: Profiles, keys: SubjectKeys, value: Any) -> None:
    profiles.put(ANN, {"email": value, "note": value})
    assert profiles.get(ANN) == {"email": value, "note": value}
    assert _stored(profiles, keys, ANN)["email"][1] == ALGORITHM_AES256SIV


def test_every_single_bit_flip_is_rejected(
    db: Database, profiles: Profiles, keys: SubjectKeys
) -> None:
    profiles.put(ANN, {"email": CANARY})
    pseudo = keys.pseudonym(ANN)
    original = _stored(profiles, keys, ANN)["email"]
    for bit in range(len(original) * 8):
        flipped = bytearray(original)
        flipped[bit // 8] ^= 1 << (bit % 8)
        _overwrite(db, pseudo, "email", bytes(flipped))
        # a flip in the key version can name version 0, below the minimum: KeyRetired
        with pytest.raises((DecryptionError, KeyRetired, UnknownCiphertextVersion)) as info:
            profiles.get(ANN)
        assert "'email'" in str(info.value)
        assert CANARY not in str(info.value)
    _overwrite(db, pseudo, "email", original)
    assert profiles.get(ANN) == {"email": CANARY}


def test_ciphertexts_swapped_across_fields_or_subjects_are_rejected(
    db: Database, profiles: Profiles, keys: SubjectKeys
) -> None:
    profiles.put(ANN, {"email": CANARY, "email2": CANARY, "note": CANARY})
    profiles.put(BOB, {"email": CANARY})
    ann, bob = keys.pseudonym(ANN), keys.pseudonym(BOB)
    stored = _stored(profiles, keys, ANN)
    for field, ciphertext in [
        ("email2", stored["email"]),  # other deterministic field, same value
        ("note", stored["email"]),  # into a randomized field
        ("email", stored["note"]),  # a randomized one into a deterministic field
    ]:
        _overwrite(db, ann, field, ciphertext)
        with pytest.raises(DecryptionError, match=repr(field)):
            profiles.get(ANN)
        _overwrite(db, ann, field, stored[field])
    _overwrite(db, bob, "email", stored["email"])  # other subject, same field and value
    with pytest.raises(DecryptionError):
        profiles.get(BOB)
    assert profiles.get(ANN) == {"email": CANARY, "email2": CANARY, "note": CANARY}


def test_declare_converts_stored_values_and_persists(
    db: Database, keys: SubjectKeys, profiles: Profiles
) -> None:
    profiles.put(ANN, {"phone": "+4930123", "note": "x"})
    randomized = _stored(profiles, keys, ANN)["phone"]
    assert randomized[1] == ALGORITHM_AES256GCM
    profiles.declare("phone", deterministic=True)
    converted = _stored(profiles, keys, ANN)["phone"]
    assert converted[1] == ALGORITHM_AES256SIV
    profiles.put(ANN, {"phone": "+4930123"})
    assert _stored(profiles, keys, ANN)["phone"] == converted
    reopened = Profiles(db, keys)
    assert reopened.deterministic_fields == {"email", "email2", "phone"}
    reopened.put(ANN, {"phone": "+4930123"})
    assert _stored(reopened, keys, ANN)["phone"] == converted
    reopened.declare("phone", deterministic=False)
    back = _stored(reopened, keys, ANN)["phone"]
    assert back[1] == ALGORITHM_AES256GCM
    reopened.put(ANN, {"phone": "+4930123"})
    assert _stored(reopened, keys, ANN)["phone"] != back
    assert reopened.get(ANN) == {"note": "x", "phone": "+4930123"}
    assert Profiles(db, keys).deterministic_fields == {"email", "email2"}


def test_lazy_rotation_keeps_the_field_deterministic(profiles: Profiles, keys: SubjectKeys) -> None:
    profiles.put(ANN, {"email": CANARY})
    old = _stored(profiles, keys, ANN)["email"]
    pseudo = keys.pseudonym(ANN)
    assert keys.rotate_data_key(pseudo) == 2
    profiles.put(ANN, {"note": "writes rotate the other fields"})
    rotated = _stored(profiles, keys, ANN)["email"]
    assert rotated[1] == ALGORITHM_AES256SIV
    assert rotated[2:6] == (2).to_bytes(4, "big")
    assert rotated != old  # new data key, new SIV key
    profiles.put(ANN, {"email": CANARY})
    assert _stored(profiles, keys, ANN)["email"] == rotated
    assert profiles.get(ANN)["email"] == CANARY


def test_declare_rejects_bad_input(profiles: Profiles) -> None:
    with pytest.raises(SubjectError):
        profiles.declare("bad name!", deterministic=True)
    with pytest.raises(SubjectError, match="True or False"):
        profiles.declare("email", deterministic="yes")  # type: ignore[arg-type]
    assert profiles.deterministic_fields == {"email", "email2"}


def test_declare_with_a_tampered_value_changes_nothing(
    db: Database, profiles: Profiles, keys: SubjectKeys
) -> None:
    profiles.put(ANN, {"phone": CANARY})
    profiles.put(BOB, {"phone": "+4930123"})
    stored = _stored(profiles, keys, ANN)["phone"]
    _overwrite(db, keys.pseudonym(ANN), "phone", stored[:-1] + bytes([stored[-1] ^ 1]))
    bob_before = _stored(profiles, keys, BOB)["phone"]
    with pytest.raises(DecryptionError, match="'phone'") as info:
        profiles.declare("phone", deterministic=True)
    assert CANARY not in str(info.value)
    assert "phone" not in profiles.deterministic_fields
    assert "phone" not in Profiles(db, keys).deterministic_fields
    assert _stored(profiles, keys, BOB)["phone"] == bob_before


# reads the SQLite file's bytes (PostgreSQL erasure rests on crypto-shredding)
@pytest.mark.sqlite_only
def test_erasure_shreds_deterministic_fields(p: Personalizer, db_path: Path) -> None:
    p.profiles.declare("email", deterministic=True)
    p.profiles.put(CANARY, {"email": CANARY, "name": CANARY})
    p.profiles.put(BOB, {"email": CANARY})
    pseudo = p.keys.pseudonym(CANARY)
    stored = p.profiles.fields_encrypted(pseudo)["email"]
    assert isinstance(p.profiles.get(CANARY), dict)
    raw = all_bytes(db_path)
    assert stored in raw
    assert CANARY.encode() not in raw
    p.subjects.erase(CANARY)
    with pytest.raises(SubjectErased):
        p.profiles.get(CANARY)
    with pytest.raises(SubjectErased):
        p.profiles.put(CANARY, {"email": CANARY})
    assert p.profiles.get(BOB) == {"email": CANARY}
    raw = all_bytes(db_path)
    assert stored not in raw  # not even the equality-revealing bytes survive
    assert CANARY.encode() not in raw
