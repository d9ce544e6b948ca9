"""Keyring, envelope and field encryption: real files, real cryptography, no mocks."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import sdk.crypto
from sdk.crypto import (
    FieldCipher,
    Keyring,
    field_aad,
    key_context,
    pseudonym,
    unwrap_key,
    wrap_key,
)
from sdk.crypto.field import HEADER_SIZE, MIN_CIPHERTEXT_SIZE
from sdk.errors import (
    CiphertextFormatError,
    CryptoError,
    DecryptionError,
    KeyringError,
    KeyringMissing,
    KeyringPermissionError,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def test_all_is_sorted_and_complete() -> None:
    assert sdk.crypto.__all__ == sorted(sdk.crypto.__all__)
    for name in sdk.crypto.__all__:
        assert getattr(sdk.crypto, name).__doc__


# -- keyring -----------------------------------------------------------------------------------


def test_keyring_create_then_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "whylens.keys"
    created = Keyring.create(path)
    loaded = Keyring.load(path)
    assert loaded.id == created.id and len(loaded.id) == 32
    assert loaded.fingerprint == created.fingerprint
    assert loaded.current_kek_version == 1
    assert loaded.kek(1) == created.kek(1) and len(loaded.kek(1)) == 32
    assert loaded.pseudonym_key == created.pseudonym_key
    assert loaded.mac_key == created.mac_key
    assert len({loaded.kek(1), loaded.pseudonym_key, loaded.mac_key}) == 3
    assert loaded.public_key_bytes() == created.public_key_bytes()
    signature = loaded.sign(b"checkpoint")
    Ed25519PublicKey.from_public_bytes(created.public_key_bytes()).verify(signature, b"checkpoint")


def test_keyring_file_format(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    ring = Keyring.create(path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "whylens-keyring" and doc["version"] == 1
    assert doc["id"] == ring.id and doc["current_kek"] == 1
    assert base64.b64decode(doc["keks"]["1"]) == ring.kek(1)
    assert len(base64.b64decode(doc["signing_key"])) == 32
    assert set(doc) == {
        "format", "version", "id", "created", "current_kek", "keks",
        "pseudonym_key", "mac_key", "signing_key",
    }  # fmt: skip


def test_two_keyrings_have_different_keys(tmp_path: Path) -> None:
    a, b = Keyring.create(tmp_path / "a"), Keyring.create(tmp_path / "b")
    assert a.id != b.id and a.kek(1) != b.kek(1) and a.fingerprint != b.fingerprint


@posix_only
def test_keyring_is_created_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "k"
        Keyring.create(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temp file left behind


def test_keyring_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"precious")
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        Keyring.create(path)
    assert path.read_bytes() == b"precious"


@posix_only
def test_keyring_too_open_is_refused_with_chmod_fix(tmp_path: Path) -> None:
    path = tmp_path / "k"
    Keyring.create(path)
    path.chmod(0o644)
    with pytest.raises(KeyringPermissionError) as info:
        Keyring.load(path)
    assert "chmod 600" in str(info.value) and "0644" in str(info.value)
    path.chmod(0o600)
    Keyring.load(path)


def test_keyring_missing_says_restore_from_backup(tmp_path: Path) -> None:
    with pytest.raises(KeyringMissing) as info:
        Keyring.load(tmp_path / "nope.keys")
    message = str(info.value)
    assert "nope.keys" in message and "cannot be read" in message and "backup" in message
    assert isinstance(info.value, KeyringError)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: b"not json at all",
        lambda d: json.dumps({"format": "something-else"}).encode(),
        lambda d: json.dumps([1, 2]).encode(),
        lambda d: json.dumps({**d, "keks": {"1": "!!!"}}).encode(),
        lambda d: json.dumps({**d, "keks": {"1": base64.b64encode(b"short").decode()}}).encode(),
        lambda d: json.dumps({**d, "current_kek": 2}).encode(),
        lambda d: json.dumps({**d, "version": 99}).encode(),
        lambda d: json.dumps({k: v for k, v in d.items() if k != "signing_key"}).encode(),
        lambda d: json.dumps({**d, "id": "xyz"}).encode(),
        lambda d: b"\xff\xfe\x00",
    ],
)
def test_malformed_keyring_is_keyring_error(tmp_path: Path, mutate: object) -> None:
    path = tmp_path / "k"
    Keyring.create(path)
    doc = json.loads(path.read_text())
    assert callable(mutate)
    path.write_bytes(mutate(doc))
    with pytest.raises(KeyringError) as info:
        Keyring.load(path)
    assert type(info.value) is KeyringError


def test_keyring_repr_and_errors_hide_key_material(tmp_path: Path) -> None:
    path = tmp_path / "k"
    ring = Keyring.create(path)
    text = repr(ring) + str(ring)
    secrets_ = [ring.kek(1), ring.pseudonym_key, ring.mac_key]
    doc = json.loads(path.read_text())
    for secret in [*secrets_]:
        assert secret.hex() not in text and base64.b64encode(secret).decode() not in text
    assert doc["signing_key"] not in text
    assert ring.id in text
    with pytest.raises(TypeError):
        pickle.dumps(ring)


def test_unknown_kek_version(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path / "k")
    with pytest.raises(KeyringError, match="no key-encryption key version 7"):
        ring.kek(7)


# -- envelope ----------------------------------------------------------------------------------


def test_wrap_unwrap_and_binding() -> None:
    kek, dek = os.urandom(32), os.urandom(32)
    ctx = key_context(subject="a" * 32, kek_version=1)
    wrapped = wrap_key(kek, dek, context=ctx)
    assert dek not in wrapped
    assert unwrap_key(kek, wrapped, context=ctx) == dek
    with pytest.raises(DecryptionError):
        unwrap_key(os.urandom(32), wrapped, context=ctx)
    with pytest.raises(DecryptionError):
        unwrap_key(kek, wrapped, context=key_context(subject="b" * 32, kek_version=1))
    with pytest.raises(DecryptionError):
        unwrap_key(kek, wrapped, context=key_context(subject="a" * 32, kek_version=2))
    with pytest.raises(CiphertextFormatError):
        unwrap_key(kek, wrapped[:-1], context=ctx)
    with pytest.raises(CryptoError):
        wrap_key(b"short", dek, context=ctx)


def test_unwrap_error_chains_invalid_tag() -> None:
    kek = os.urandom(32)
    wrapped = wrap_key(kek, os.urandom(32), context=b"x")
    with pytest.raises(DecryptionError) as info:
        unwrap_key(kek, wrapped, context=b"y")
    assert type(info.value.__cause__).__name__ == "InvalidTag"


# -- field cipher ------------------------------------------------------------------------------

KEY = bytes(range(32))
AAD = field_aad(subject="0" * 32, field="email")


def test_field_round_trip_and_format() -> None:
    cipher = FieldCipher(KEY, key_version=3)
    ct = cipher.encrypt(b"hello", aad=AAD)
    assert ct[:HEADER_SIZE] == b"\x01\x01\x00\x00\x00\x03"
    assert len(ct) == MIN_CIPHERTEXT_SIZE + 5
    assert cipher.decrypt(ct, aad=AAD) == b"hello"
    assert cipher.encrypt(b"hello", aad=AAD) != ct  # random nonce
    assert FieldCipher(KEY).decrypt(FieldCipher(KEY).encrypt(b"", aad=b""), aad=b"") == b""


def test_every_single_bit_flip_is_rejected() -> None:
    cipher = FieldCipher(KEY)
    ct = cipher.encrypt(b"canary-7f3a@example.org", aad=AAD)
    for i in range(len(ct) * 8):
        tampered = bytearray(ct)
        tampered[i // 8] ^= 1 << (i % 8)
        with pytest.raises((DecryptionError, CiphertextFormatError)):
            cipher.decrypt(bytes(tampered), aad=AAD)


def test_ciphertext_swapped_across_fields_or_subjects_is_rejected() -> None:
    cipher = FieldCipher(KEY)
    ct = cipher.encrypt(b"42", aad=field_aad(subject="a" * 32, field="age"))
    for other in [
        field_aad(subject="a" * 32, field="score"),
        field_aad(subject="b" * 32, field="age"),
        field_aad(subject="a" * 32, field="age", tenant="other"),
        field_aad(subject="a" * 32, field="age", schema_version=2),
    ]:
        with pytest.raises(DecryptionError):
            cipher.decrypt(ct, aad=other)


def test_wrong_key_is_rejected_with_cause() -> None:
    ct = FieldCipher(KEY).encrypt(b"x", aad=AAD)
    with pytest.raises(DecryptionError) as info:
        FieldCipher(os.urandom(32)).decrypt(ct, aad=AAD)
    assert type(info.value.__cause__).__name__ == "InvalidTag"
    with pytest.raises(DecryptionError, match=r"key version 1.*key version 2"):
        FieldCipher(KEY, key_version=2).decrypt(ct, aad=AAD)


def test_truncated_is_format_error() -> None:
    ct = FieldCipher(KEY).encrypt(b"payload", aad=AAD)
    with pytest.raises(CiphertextFormatError, match="10 bytes, shorter than the 34-byte minimum"):
        FieldCipher(KEY).decrypt(ct[:10], aad=AAD)
    with pytest.raises(CiphertextFormatError):
        FieldCipher(KEY).decrypt(b"", aad=AAD)
    with pytest.raises(DecryptionError):  # long enough, but the tag no longer matches
        FieldCipher(KEY).decrypt(ct[:-1], aad=AAD)


def test_unknown_version_or_algorithm_is_format_error() -> None:
    ct = FieldCipher(KEY).encrypt(b"payload", aad=AAD)
    with pytest.raises(CiphertextFormatError, match="unknown format version 7"):
        FieldCipher(KEY).decrypt(b"\x07" + ct[1:], aad=AAD)
    with pytest.raises(CiphertextFormatError, match="unknown algorithm id 9"):
        FieldCipher(KEY).decrypt(ct[:1] + b"\x09" + ct[2:], aad=AAD)


def test_bad_key_and_version() -> None:
    with pytest.raises(CryptoError, match="32 bytes"):
        FieldCipher(b"x" * 16)
    with pytest.raises(CryptoError, match="key_version"):
        FieldCipher(KEY, key_version=-1)
    assert "key" not in repr(FieldCipher(KEY)).replace("key_version", "")


def test_encrypt_many_and_decrypt_many() -> None:
    cipher = FieldCipher(KEY)
    aads = [field_aad(subject="0" * 32, field=f"f{i}") for i in range(5)]
    cts = cipher.encrypt_many([(f"v{i}".encode(), a) for i, a in enumerate(aads)])
    assert cipher.decrypt_many(list(zip(cts, aads, strict=True))) == [
        f"v{i}".encode() for i in range(5)
    ]
    with pytest.raises(DecryptionError, match="item 1"):
        cipher.decrypt_many([(cts[0], aads[0]), (cts[2], aads[1])])


def test_field_aad_is_canonical() -> None:
    assert field_aad(subject="s", field="f") == (
        b'{"field":"f","schema_version":1,"subject":"s","tenant":"default"}'
    )


def test_pseudonym_is_stable_keyed_and_short() -> None:
    key = os.urandom(32)
    p = pseudonym(key, "alice@example.org")
    assert p == pseudonym(key, "alice@example.org") and len(p) == 32
    assert p != pseudonym(key, "bob@example.org")
    assert p != pseudonym(os.urandom(32), "alice@example.org")
    assert int(p, 16) >= 0
