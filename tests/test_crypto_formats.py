"""Ciphertext formats: typed errors, AES-SIV, multi-version subject ciphers, blind indexes."""

from __future__ import annotations

import os

import pytest

from sdk.crypto import (
    BlindIndex,
    DeterministicCipher,
    FieldCipher,
    SubjectCipher,
    field_aad,
    key_context,
    unwrap_key,
    wrap_key,
)
from sdk.crypto.blind import NORMALIZERS, normalize
from sdk.crypto.field import MIN_CIPHERTEXT_SIZE, MIN_SIV_SIZE, parse_header
from sdk.errors import (
    CiphertextFormatError,
    ConfigurationError,
    CryptoError,
    DecryptionError,
    KeyRetired,
    TruncatedCiphertext,
    UnknownCiphertextVersion,
)

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
SUBJ_A, SUBJ_B = "a" * 32, "b" * 32
AAD = field_aad(subject=SUBJ_A, field="email")
CANARY = b"canary-7f3a@example.org"


def _flips(ct: bytes):
    for i in range(len(ct) * 8):
        tampered = bytearray(ct)
        tampered[i // 8] ^= 1 << (i % 8)
        yield bytes(tampered)


def _swaps() -> list[bytes]:
    return [
        field_aad(subject=SUBJ_A, field="phone"),
        field_aad(subject=SUBJ_B, field="email"),
        field_aad(subject=SUBJ_A, field="email", tenant="other-tenant"),
        field_aad(subject=SUBJ_A, field="email", schema_version=2),
    ]


# -- the three failure kinds are three types ---------------------------------------------------


@pytest.mark.parametrize(
    "cipher",
    [
        FieldCipher(KEY),
        DeterministicCipher(KEY),
        SubjectCipher({1: KEY}, current=1),
    ],
    ids=["gcm", "siv", "subject"],
)
def test_wrong_key_truncated_and_unknown_version_are_distinct_types(cipher: object) -> None:
    encrypt = cipher.encrypt  # type: ignore[attr-defined]
    decrypt = cipher.decrypt  # type: ignore[attr-defined]
    ct = encrypt(CANARY, aad=AAD)
    wrong = (
        type(cipher)({1: OTHER}, current=1)
        if isinstance(cipher, SubjectCipher)
        else (type(cipher)(OTHER))
    )
    with pytest.raises(DecryptionError) as wrong_key:
        wrong.decrypt(ct, aad=AAD)  # type: ignore[attr-defined]
    with pytest.raises(TruncatedCiphertext) as truncated:
        decrypt(ct[:10], aad=AAD)
    with pytest.raises(UnknownCiphertextVersion) as unknown:
        decrypt(b"\x09" + ct[1:], aad=AAD)
    kinds = {type(wrong_key.value), type(truncated.value), type(unknown.value)}
    assert len(kinds) == 3
    assert not isinstance(wrong_key.value, CiphertextFormatError)
    assert isinstance(truncated.value, CiphertextFormatError)
    assert isinstance(unknown.value, CiphertextFormatError)
    with pytest.raises(UnknownCiphertextVersion, match="unknown algorithm id 9"):
        decrypt(ct[:1] + b"\x09" + ct[2:], aad=AAD)
    for error in (wrong_key.value, truncated.value, unknown.value):
        assert "canary" not in str(error)


def test_truncation_minimums_per_algorithm() -> None:
    gcm = FieldCipher(KEY).encrypt(b"", aad=AAD)
    siv = DeterministicCipher(KEY).encrypt(b"", aad=AAD)
    assert len(gcm) == MIN_CIPHERTEXT_SIZE == 34 and len(siv) == MIN_SIV_SIZE == 23
    assert parse_header(gcm) == (1, 1, 1) and parse_header(siv) == (1, 2, 1)
    for blob in (gcm, siv):
        for cut in range(len(blob)):
            with pytest.raises(TruncatedCiphertext):
                SubjectCipher({1: KEY}, current=1).decrypt(blob[:cut], aad=AAD)


# -- AES-SIV ------------------------------------------------------------------------------------


def test_siv_is_deterministic_per_subject_and_field() -> None:
    siv = DeterministicCipher(KEY)
    ct = siv.encrypt(b"order-1234", aad=AAD)
    assert siv.encrypt(b"order-1234", aad=AAD) == ct  # joinable
    assert siv.encrypt(b"order-1235", aad=AAD) != ct
    assert siv.encrypt(b"order-1234", aad=field_aad(subject=SUBJ_B, field="email")) != ct
    assert DeterministicCipher(OTHER).encrypt(b"order-1234", aad=AAD) != ct  # another subject key
    assert ct[:6] == b"\x01\x02\x00\x00\x00\x01" and b"order-1234" not in ct
    assert siv.decrypt(ct, aad=AAD) == b"order-1234"
    assert siv.decrypt(siv.encrypt(b"", aad=AAD), aad=AAD) == b""
    assert siv.encrypt(b"", aad=AAD) != siv.encrypt(b"\x00", aad=AAD)


def test_siv_every_bit_flip_and_swap_is_rejected() -> None:
    siv = DeterministicCipher(KEY)
    ct = siv.encrypt(CANARY, aad=AAD)
    for tampered in _flips(ct):
        with pytest.raises((DecryptionError, CiphertextFormatError)):
            siv.decrypt(tampered, aad=AAD)
    for other in _swaps():
        with pytest.raises(DecryptionError):
            siv.decrypt(ct, aad=other)


def test_field_cipher_points_siv_ciphertexts_to_the_right_cipher() -> None:
    ct = DeterministicCipher(KEY).encrypt(b"x", aad=AAD)
    with pytest.raises(CiphertextFormatError, match="deterministic"):
        FieldCipher(KEY).decrypt(ct, aad=AAD)


# -- a subject's cipher over several data-key versions -----------------------------------------


def test_subject_cipher_reads_every_kept_version_and_writes_the_current() -> None:
    v1 = SubjectCipher({1: KEY}, current=1)
    old_gcm = v1.encrypt(b"old", aad=AAD)
    old_siv = v1.encrypt_deterministic(b"join", aad=AAD)
    v2 = SubjectCipher({1: KEY, 2: OTHER}, current=2)
    assert v2.key_version_of(v2.encrypt(b"new", aad=AAD)) == 2
    assert v2.decrypt(old_gcm, aad=AAD) == b"old"
    assert v2.decrypt(old_siv, aad=AAD) == b"join"
    assert v2.decrypt_many([(old_gcm, AAD)]) == [b"old"]
    assert v2.encrypt_deterministic(b"join", aad=AAD) != old_siv
    only_v2 = SubjectCipher({2: OTHER}, current=2)
    with pytest.raises(DecryptionError, match="data-key version 1"):
        only_v2.decrypt(old_gcm, aad=AAD)
    retired = SubjectCipher({1: KEY, 2: OTHER}, current=2, min_version=2)
    with pytest.raises(KeyRetired):
        retired.decrypt(old_gcm, aad=AAD)
    with pytest.raises(KeyRetired):
        retired.decrypt(old_siv, aad=AAD)
    with pytest.raises(KeyRetired):
        SubjectCipher({1: KEY}, current=1, min_version=2)
    for tampered in _flips(old_gcm):
        with pytest.raises((DecryptionError, CiphertextFormatError, KeyRetired)):
            v2.decrypt(tampered, aad=AAD)
    assert "KEY" not in repr(v2) and KEY.hex() not in repr(v2)


def test_wrapped_key_errors_are_typed() -> None:
    kek = os.urandom(32)
    ctx = key_context(subject=SUBJ_A, kek_version=1, dek_version=2)
    wrapped = wrap_key(kek, os.urandom(32), context=ctx)
    with pytest.raises(DecryptionError):
        unwrap_key(kek, wrapped, context=key_context(subject=SUBJ_A, kek_version=1))
    with pytest.raises(TruncatedCiphertext):
        unwrap_key(kek, wrapped[:-1], context=ctx)
    with pytest.raises(UnknownCiphertextVersion):
        unwrap_key(kek, b"\x07" + wrapped[1:], context=ctx)
    assert key_context(subject="s", kek_version=1) == (
        b'{"dek_version":1,"kek_version":1,"purpose":"whylens.subject-key.v1","subject":"s"}'
    )


# -- blind indexes -------------------------------------------------------------------------------


def test_blind_index_normalizes_truncates_and_separates() -> None:
    mac = os.urandom(32)
    email = BlindIndex(mac, "email", normalizer="email", bits=64)
    token = email.token("Ann.Lee@Example.org")
    assert len(token) == 8
    assert email.token("  ann.lee@EXAMPLE.ORG ") == token
    assert email.token("ann.lee@example.com") != token
    assert (
        BlindIndex(mac, "email", normalizer="email", bits=32).token("ann.lee@example.org")
        == (token[:4])
    )
    assert BlindIndex(mac, "backup_email", normalizer="email").token("ann.lee@example.org") != token
    assert BlindIndex(os.urandom(32), "email", normalizer="email").token("ann.lee@example.org") != (
        token
    )
    other_tenant = BlindIndex(mac, "email", tenant="t2", normalizer="email")
    assert other_tenant.token("ann.lee@example.org") != token
    assert email.matches("ANN.lee@example.org", "ann.lee@example.org")
    assert b"ann" not in token


@pytest.mark.parametrize(
    ("normalizer", "a", "b"),
    [
        ("phone", "+49 (30) 1234-567", "0049 30 1234567"),
        ("casefold", "  Straße   Eins ", "strasse eins"),
        ("alnum", "SW1A 1AA", "sw1a1aa"),
        ("text", "ﬁle ", "file"),
    ],
)
def test_normalizers(normalizer: str, a: str, b: str) -> None:
    assert normalize(normalizer, a) == normalize(normalizer, b)
    assert normalizer in NORMALIZERS


def test_blind_index_bad_options() -> None:
    mac = os.urandom(32)
    with pytest.raises(ConfigurationError, match="multiple of 8"):
        BlindIndex(mac, "email", bits=12)
    with pytest.raises(ConfigurationError, match="normalizer"):
        BlindIndex(mac, "email", normalizer="soundex")
    with pytest.raises(ConfigurationError):
        BlindIndex(mac, "not a field name")
    with pytest.raises(CryptoError):
        BlindIndex(b"short", "email")
    with pytest.raises(ConfigurationError, match="strings"):
        BlindIndex(mac, "email").token(42)  # type: ignore[arg-type]
