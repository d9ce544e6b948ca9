"""Key providers, the unwrapped-key cache, KEK rotation with rewrap, data-key rotation, retirement.

Real SQLite files and real keys; AWS KMS is moto's in-process fake of the KMS API.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

import pytest

from sdk.crypto import Keyring, KeyringProvider, SecretKeyProvider
from sdk.crypto.field import field_aad
from sdk.errors import (
    ConfigurationError,
    DecryptionError,
    KeyProviderError,
    KeyRetired,
    KeyringError,
    SubjectErased,
    UnknownCiphertextVersion,
)
from sdk.keys import SubjectKeys
from sdk.store import Database
from sdk.subjects import Profiles

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _fill(keys: SubjectKeys, n: int) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        pseudo = keys.pseudonym(f"subject-{i}")
        out[pseudo] = keys.data_key(pseudo, create=True)
    return out


def _kek_versions(db: Database) -> set[int]:
    return {int(r[0]) for r in db.query("SELECT kek_version FROM subject_keys")}


# -- cache ------------------------------------------------------------------------------------


def test_cache_ttl_use_limit_and_purge_on_erasure(db: Database, keyring: Keyring) -> None:
    keys = SubjectKeys(db, keyring, cache_ttl=0.2, cache_max_uses=3)
    pseudo = keys.pseudonym("carol")
    keys.data_key(pseudo, create=True)
    assert keys.unwraps == 1
    keys.data_key(pseudo, create=False)
    keys.data_key(pseudo, create=False)
    assert keys.unwraps == 1  # served from memory
    keys.data_key(pseudo, create=False)
    assert keys.unwraps == 2  # use limit reached
    time.sleep(0.25)
    keys.data_key(pseudo, create=False)
    assert keys.unwraps == 3  # TTL expired
    assert keys.cached(pseudo)
    with db.transaction() as tx:
        keys.destroy(pseudo, tx)
    assert not keys.cached(pseudo)
    with pytest.raises(SubjectErased):
        keys.data_key(pseudo, create=False)


# -- providers --------------------------------------------------------------------------------


def test_secret_provider_from_env_and_file(
    db: Database, keyring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    text = f"1:{base64.b64encode(k1).decode()}, 2:{base64.b64encode(k2).decode()}"
    monkeypatch.setenv("WHYLENS_KEKS", text)
    provider = SecretKeyProvider.from_env()
    assert provider.current_version == 2 and provider.versions == (1, 2)
    keys = SubjectKeys(db, keyring, provider=provider)
    pseudo = keys.pseudonym("dana")
    key = keys.data_key(pseudo, create=True)
    assert _kek_versions(db) == {2}
    secret = tmp_path / "keks.secret"
    secret.write_text(text)
    secret.chmod(0o600)
    reopened = SubjectKeys(db, keyring, provider=SecretKeyProvider.from_file(secret))
    assert reopened.data_key(pseudo, create=False) == key
    # the database remembers its provider: opening it with the keyring's KEKs is refused
    with pytest.raises(ConfigurationError, match="'secret' key provider"):
        SubjectKeys(db, keyring)
    assert "WHYLENS" not in repr(provider) and base64.b64encode(k1).decode() not in repr(provider)


def test_secret_provider_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHYLENS_KEKS", raising=False)
    with pytest.raises(KeyProviderError, match="WHYLENS_KEKS is not set"):
        SecretKeyProvider.from_env()
    secret_text = base64.b64encode(b"s" * 32).decode()
    with pytest.raises(ConfigurationError, match="32 bytes") as info:
        SecretKeyProvider.parse(base64.b64encode(b"short").decode())
    assert secret_text not in str(info.value)
    with pytest.raises(ConfigurationError, match="not valid base64"):
        SecretKeyProvider.parse("1:!!!")
    with pytest.raises(KeyProviderError, match="not found"):
        SecretKeyProvider.from_file(tmp_path / "missing")
    assert SecretKeyProvider.parse(secret_text).versions == (1,)


@posix_only
def test_secret_file_too_open_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "keks"
    secret.write_text(base64.b64encode(os.urandom(32)).decode())
    secret.chmod(0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        SecretKeyProvider.from_file(secret)


def test_aws_kms_provider_against_moto(
    db: Database, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3  # the kms extra; moto (test only) fakes the KMS API in process
    import moto

    from sdk.crypto.kms import AwsKmsProvider

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # moto's fake account, never real AWS
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        client = boto3.client("kms", region_name="eu-central-1")
        first = client.create_key(Description="whylens test")["KeyMetadata"]["KeyId"]
        second = client.create_key(Description="whylens test 2")["KeyMetadata"]["KeyId"]
        provider = AwsKmsProvider(first, client=client)
        keys = SubjectKeys(db, keyring, provider=provider)
        profiles = Profiles(db, keys)
        profiles.put("erin", {"email": "erin@example.org"})
        pseudo = keys.pseudonym("erin")
        dek = keys.data_key(pseudo, create=False)
        (wrapped,) = db.query_one("SELECT wrapped FROM subject_keys WHERE subject = ?", (pseudo,))
        assert bytes(wrapped)[0] == 0x02 and dek not in bytes(wrapped)
        keys.clear_cache()
        assert profiles.get("erin") == {"email": "erin@example.org"}
        # KMS binds the encryption context: the wrapped key does not unwrap for another subject
        other = keys.pseudonym("frank")
        with db.transaction() as tx:
            tx.execute(
                "INSERT INTO subject_keys (subject, kek_version, wrapped, created) "
                "VALUES (?, 1, ?, 'now')",
                (other, wrapped),
            )
        with pytest.raises(DecryptionError):
            keys.data_key(other, create=False)
        # a new KMS key as KEK version 2: rewrap moves every data key, data untouched
        both = AwsKmsProvider({1: first, 2: second}, client=client)
        rotated = SubjectKeys(db, keyring, provider=both)
        with db.transaction() as tx:
            tx.execute("DELETE FROM subject_keys WHERE subject = ?", (other,))
        before = profiles.fields_encrypted(pseudo)
        report = rotated.rewrap_all()
        assert (report.rewrapped, report.remaining, report.kek_version) == (1, 0, 2)
        assert profiles.fields_encrypted(pseudo) == before
        assert rotated.data_key(pseudo, create=False) == dek
        # the first KMS key alone can no longer unwrap it (KMS refuses the wrong key)
        with pytest.raises((DecryptionError, KeyProviderError)):
            SubjectKeys(db, keyring, provider=AwsKmsProvider({2: first}, client=client)).data_key(
                pseudo, create=False
            )
        # the local keyring cannot read a KMS-wrapped key: a clear typed error at open, and at
        # unwrap should the provider check be bypassed
        with pytest.raises(ConfigurationError, match="'aws-kms' key provider"):
            SubjectKeys(db, keyring)
        with pytest.raises(UnknownCiphertextVersion, match="KMS"):
            KeyringProvider(keyring).unwrap(bytes(wrapped), version=1, context=b"")


def test_kms_without_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdk.crypto.kms import AwsKmsProvider

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if the extra were not installed
    with pytest.raises(KeyProviderError) as info:
        AwsKmsProvider("alias/whylens")
    assert "pip install 'whylens[kms]'" in str(info.value)


# -- KEK rotation and rewrap --------------------------------------------------------------------


class _FailingAfter(KeyringProvider):
    """A KEK service that goes down after ``n`` wraps, as a KMS outage would mid-run."""

    def __init__(self, keyring: Keyring, n: int) -> None:
        super().__init__(keyring)
        self.left = n

    def wrap(self, dek: bytes, *, version: int, context: bytes) -> bytes:
        if self.left == 0:
            raise KeyProviderError("key service unavailable")
        self.left -= 1
        return super().wrap(dek, version=version, context=context)


def test_rotate_then_rewrap_is_resumable_and_idempotent(db: Database, keyring: Keyring) -> None:
    keys = SubjectKeys(db, keyring)
    deks = _fill(keys, 12)
    profiles = Profiles(db, keys)
    profiles.put("subject-0", {"email": "zoe@example.org"})
    pseudo0 = keys.pseudonym("subject-0")
    keys.rotate_data_key(pseudo0)  # an old data-key version that must be rewrapped too
    deks[pseudo0] = keys.data_key(pseudo0, create=False)
    data_before = db.query("SELECT subject, field, ciphertext FROM profile_fields")
    assert keyring.rotate_kek() == 2
    assert Keyring.load(keyring.path).current_kek_version == 2  # saved
    assert keys.count_below_kek(2) == 13
    flaky = SubjectKeys(db, keyring, provider=_FailingAfter(keyring, 5), cache_ttl=0)
    with pytest.raises(KeyProviderError):
        flaky.rewrap_all(batch_size=4)
    left = keys.count_below_kek(2)
    assert 0 < left < 13  # committed batches stay done
    report = SubjectKeys(db, keyring).rewrap_all(batch_size=4)
    assert report.rewrapped == left and report.remaining == 0
    assert SubjectKeys(db, keyring).rewrap_all().rewrapped == 0  # idempotent
    assert _kek_versions(db) == {2}
    assert {int(r[0]) for r in db.query("SELECT kek_version FROM subject_old_keys")} == {2}
    assert db.query("SELECT subject, field, ciphertext FROM profile_fields") == data_before
    fresh = SubjectKeys(db, Keyring.load(keyring.path))
    assert all(fresh.data_key(p, create=False) == k for p, k in deks.items())
    assert fresh.cipher(pseudo0, create=False).versions == (1, 2)
    assert Profiles(db, fresh).get("subject-0") == {"email": "zoe@example.org"}


def test_retiring_a_kek(db: Database, keyring: Keyring) -> None:
    keys = SubjectKeys(db, keyring, cache_ttl=0)
    _fill(keys, 3)
    pseudo = keys.pseudonym("subject-1")
    (backup,) = db.query_one("SELECT wrapped FROM subject_keys WHERE subject = ?", (pseudo,))
    keyring.rotate_kek()
    with pytest.raises(ConfigurationError, match="3 data keys are still wrapped"):
        keys.retire_keks(2)
    keys.rewrap_all()
    keys.retire_keks(2)
    assert Keyring.load(keyring.path).min_kek_version == 2
    key = keys.data_key(pseudo, create=False)  # under KEK 2: fine
    # the wrapped key from before the rewrap (say, restored from an old backup) is refused
    with db.transaction() as tx:
        tx.execute(
            "UPDATE subject_keys SET kek_version = 1, wrapped = ? WHERE subject = ?",
            (backup, pseudo),
        )
    with pytest.raises(KeyRetired, match="KEK version 1"):
        keys.data_key(pseudo, create=False)
    Keyring.load(keyring.path).retire_keks(1)  # undone: the key material was kept
    assert SubjectKeys(db, Keyring.load(keyring.path)).data_key(pseudo, create=False) == key


def test_another_process_rotating_the_keyring_is_picked_up(db: Database, keyring: Keyring) -> None:
    keys = SubjectKeys(db, keyring)
    other_process = Keyring.load(keyring.path)
    other_process.rotate_kek()
    SubjectKeys(db, other_process).data_key(keys.pseudonym("gus"), create=True)  # under KEK 2
    assert keyring.current_kek_version == 1
    assert len(keys.data_key(keys.pseudonym("gus"), create=False)) == 32  # reloaded the file


# -- data-key rotation: lazy re-encryption, minimum version --------------------------------------


def test_data_key_rotation_reencrypts_lazily_and_old_versions_retire(
    db: Database, keyring: Keyring
) -> None:
    keys = SubjectKeys(db, keyring)
    profiles = Profiles(db, keys)
    profiles.put("hana", {"email": "hana@example.org", "city": "Graz"})
    pseudo = keys.pseudonym("hana")
    cipher = keys.cipher(pseudo, create=False)
    assert {cipher.key_version_of(c) for c in profiles.fields_encrypted(pseudo).values()} == {1}
    assert keys.rotate_data_key(pseudo) == 2
    stored = profiles.fields_encrypted(pseudo)
    assert profiles.get("hana")["city"] == "Graz"  # old version still readable
    assert profiles.fields_encrypted(pseudo) == stored  # reading re-encrypts nothing
    profiles.put("hana", {"email": "hana@new.example.org"})  # a write re-encrypts the rest
    cipher = keys.cipher(pseudo, create=False)
    after = profiles.fields_encrypted(pseudo)
    assert {cipher.key_version_of(c) for c in after.values()} == {2}
    assert after["city"] != stored["city"]
    assert profiles.get("hana") == {"city": "Graz", "email": "hana@new.example.org"}
    # a v1 ciphertext kept elsewhere (an audit record, say) is refused once v1 is retired
    old = stored["city"]
    aad = field_aad(subject=pseudo, field="city")
    assert keys.cipher(pseudo, create=False).decrypt(old, aad=aad) == b'"Graz"'
    keys.retire_data_keys(2)
    with pytest.raises(KeyRetired, match="data-key version 1"):
        keys.cipher(pseudo, create=False).decrypt(old, aad=aad)
    assert profiles.get("hana")["city"] == "Graz"
    assert SubjectKeys(db, keyring).min_data_key_version == 2  # stored in the database
    # a subject whose newest key is retired is rotated on the next write, and reads say why
    profiles.put("ivan", {"x": 1})
    assert keys.current_version(keys.pseudonym("ivan")) == 2  # new subjects start at the minimum
    keys.retire_data_keys(3)
    with pytest.raises(KeyRetired):
        profiles.get("ivan")
    profiles.put("ivan", {"y": 2})
    assert keys.current_version(keys.pseudonym("ivan")) == 3
    with pytest.raises(KeyRetired):
        profiles.get("ivan")  # x is still under the retired version 1: it cannot be re-encrypted


def test_rotation_of_an_erased_subject_is_refused(db: Database, keyring: Keyring) -> None:
    keys = SubjectKeys(db, keyring)
    pseudo = keys.pseudonym("jo")
    keys.data_key(pseudo, create=True)
    keys.rotate_data_key(pseudo)
    with db.transaction() as tx:
        assert keys.destroy(pseudo, tx) == 2  # both versions
    assert db.query("SELECT * FROM subject_old_keys WHERE subject = ?", (pseudo,)) == []
    with pytest.raises(SubjectErased):
        keys.rotate_data_key(pseudo)


def test_cli_keys_rotate_rewrap_status_retire(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sdk import Personalizer
    from sdk.cli import app

    path = tmp_path / "cli.db"
    with Personalizer.open(path) as p:
        p.profiles.put("kim", {"email": "kim@example.org"})
    db = ["--db", str(path)]
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "rotate", "--no-rewrap", *db])
    assert result.exit_code == 0, result.output
    assert "KEK version 2 is now current" in result.output
    result = runner.invoke(app, ["keys", "status", *db])
    status = " ".join(result.output.split())  # rich wraps long lines
    assert "current 2" in status and "1 data keys under older KEKs" in status
    result = runner.invoke(app, ["keys", "retire", "--below", "2", "--yes", *db])
    assert result.exit_code != 0  # refused: a data key is still under KEK 1
    result = runner.invoke(app, ["keys", "rewrap", *db])
    assert "rewrapped 1 data keys under KEK version 2; 0 left" in " ".join(result.output.split())
    assert runner.invoke(app, ["keys", "rewrap", *db]).output.startswith("rewrapped 0")
    result = runner.invoke(app, ["keys", "retire", "--below", "2", "--yes", *db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["keys", "rotate", *db])
    assert "KEK version 3" in result.output and "rewrapped 1 data keys" in result.output
    with Personalizer.open(path) as p:
        assert p.profiles.get("kim") == {"email": "kim@example.org"}
        assert p.keyring.kek_versions == (1, 2, 3) and p.keyring.min_kek_version == 2
        if os.name == "posix":  # replaced atomically, still owner-only
            assert p.keyring.path.stat().st_mode & 0o777 == 0o600
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")] == []


def test_personalizer_with_a_secret_provider_and_the_wrong_provider(tmp_path: Path) -> None:
    from sdk import Personalizer

    provider = SecretKeyProvider({1: os.urandom(32)})
    path = tmp_path / "secret.db"
    with Personalizer.open(path, key_provider=provider) as p:
        p.profiles.put("lou", {"email": "lou@example.org"})
        assert p.keys.provider is provider
    with Personalizer.open(path, key_provider=provider) as p:
        assert p.profiles.get("lou") == {"email": "lou@example.org"}
    with pytest.raises(ConfigurationError, match="'secret' key provider"):
        Personalizer.open(path)
