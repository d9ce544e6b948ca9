"""The object-store witness: checkpoints as Object Lock objects in an S3 server process (moto's
server mode on 127.0.0.1, a real HTTP S3 with Object Lock, versions and conditional writes).

The attacker holds the database, the keyring and its folder (so the default witness log too),
and even credentials that may write to and delete from the bucket; what the server refuses them
is overwriting or deleting a locked version.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import tamper

pytest.importorskip("boto3")
pytest.importorskip("flask")  # moto's server mode

import boto3
from botocore.exceptions import ClientError

from sdk import Personalizer
from sdk.errors import ConfigurationError, LedgerRollback, WitnessConflict, WitnessOriginConflict
from sdk.ledger.witness_file import default_witness_path
from sdk.ledger.witness_s3 import S3ObjectLockWitness

_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **_CREDENTIALS},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _client(url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


@pytest.fixture
def bucket(s3_url: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket with Object Lock enabled."""
    name = f"witness-{os.urandom(6).hex()}"
    _client(s3_url).create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def _sink(url: str, bucket: str, **kw: Any) -> S3ObjectLockWitness:
    return S3ObjectLockWitness(bucket, client=_client(url), **kw)


def _seal(store_url: str) -> list[tuple[object, ...]]:
    return tamper(
        store_url,
        "SELECT key, value FROM whylens_meta WHERE key IN ('ledger_head', 'ledger_checkpoint')",
    )


def _roll_back(store_url: str, keyring_path: Path, kept: int, head: list[tuple[object, ...]]
               ) -> None:
    """Cut the store back to ``kept`` entries, put the old signed head back, and delete the
    witness log beside the keyring (the attacker holds that folder)."""
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    for key, value in head:
        tamper(store_url, "UPDATE whylens_meta SET value = ? WHERE key = ?", (value, key))
    default_witness_path(keyring_path).unlink(missing_ok=True)


def test_anchors_each_checkpoint_as_a_locked_object_and_reopens(
    store_url: str, keyring_path: Path, s3_url: str, bucket: str
) -> None:
    sink = _sink(s3_url, bucket)
    with Personalizer.open(store_url, keyring=keyring_path, witness=sink) as p:
        p.consent.grant("cust-1", "personalization")
        p.consent.grant("cust-2", "personalization")
        origin, size, note = p.ledger.origin, p.ledger.size, p.ledger.checkpoint().note
    latest = sink.latest(origin)
    assert latest is not None and latest.size == size and latest.note == note
    s3 = _client(s3_url)
    objects = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert len(objects) >= 2  # the genesis checkpoint and at least one more
    head = s3.head_object(Bucket=bucket, Key=objects[0]["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].year >= 2030
    # reopened with a fresh client: consistent, and anchoring goes on
    again = _sink(s3_url, bucket)
    with Personalizer.open(store_url, keyring=keyring_path, witness=again) as p:
        assert p.audit.verify().ok
        p.consent.withdraw("cust-1", "personalization")
        newer = p.ledger.size
    held = again.latest(origin)
    assert held is not None and held.size == newer > size


def test_rollback_of_everything_local_is_caught_by_the_bucket(
    store_url: str, keyring_path: Path, s3_url: str, bucket: str
) -> None:
    sink = _sink(s3_url, bucket)
    with Personalizer.open(store_url, keyring=keyring_path, witness=sink) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        head = _seal(store_url)
        p.consent.withdraw("cust-1", "personalization")
        size = p.ledger.size
    _roll_back(store_url, keyring_path, kept, head)
    # the default log alone no longer sees it (it was deleted with the keyring's folder)
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        assert p.ledger.size == kept
    default_witness_path(keyring_path).unlink()
    with pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"):
        Personalizer.open(store_url, keyring=keyring_path, witness=_sink(s3_url, bucket))


def test_the_server_refuses_to_delete_or_replace_a_locked_checkpoint(
    store_url: str, keyring_path: Path, s3_url: str, bucket: str
) -> None:
    """The attacker has bucket credentials: deleting a locked version is refused; a delete
    marker or a second version of the newest key changes nothing the sink reads."""
    sink = _sink(s3_url, bucket)
    with Personalizer.open(store_url, keyring=keyring_path, witness=sink) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        head = _seal(store_url)
        p.consent.withdraw("cust-1", "personalization")
        size, origin = p.ledger.size, p.ledger.origin
    s3 = _client(s3_url)
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    newest = versions[0]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=newest["Key"], VersionId=newest["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        s3.delete_object(
            Bucket=bucket, Key=newest["Key"], VersionId=newest["VersionId"],
            BypassGovernanceRetention=True,
        )
    # hide every checkpoint behind delete markers, and write a forged older-looking note
    for v in versions:
        s3.delete_object(Bucket=bucket, Key=v["Key"])
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=newest["Key"], Body=b"not a checkpoint")
    held = sink.latest(origin)
    assert held is not None and held.size == size  # the locked original still counts
    _roll_back(store_url, keyring_path, kept, head)
    with pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}"):
        Personalizer.open(store_url, keyring=keyring_path, witness=sink)


def test_a_fork_at_the_same_size_is_refused(
    store_url: str, keyring_path: Path, s3_url: str, bucket: str
) -> None:
    """A checkpoint with another root at the size held (signed with the keyring: the attacker
    has it): the sink refuses it, and a second version written past the sink does not count."""
    from sdk.crypto.keyring import Keyring
    from sdk.ledger import sign_checkpoint
    from sdk.ledger.merkle import leaf_hash

    sink = _sink(s3_url, bucket)
    with Personalizer.open(store_url, keyring=keyring_path, witness=sink) as p:
        p.consent.grant("cust-1", "personalization")
        origin, size, note = p.ledger.origin, p.ledger.size, p.ledger.checkpoint().note
    forged = sign_checkpoint(origin, size, leaf_hash(b"forged"), Keyring.load(keyring_path))
    with pytest.raises(WitnessConflict, match="fork"):
        sink.anchor(forged, lambda old: [])
    s3 = _client(s3_url)
    key = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Key"]
    s3.put_object(Bucket=bucket, Key=key, Body=forged.note.encode())  # a newer version
    held = sink.latest(origin)
    assert held is not None and held.note == note
    with pytest.raises(WitnessConflict, match="fork"):
        sink.anchor(forged, lambda old: [])


def test_a_bucket_without_object_lock_is_refused(s3_url: str) -> None:
    s3 = _client(s3_url)
    name = f"plain-{os.urandom(6).hex()}"
    s3.create_bucket(Bucket=name)
    with pytest.raises(ConfigurationError, match="no Object Lock"):
        _sink(s3_url, name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ConfigurationError, match="no Object Lock"):
        _sink(s3_url, name)  # versioning alone is not a lock


def test_governance_mode_and_bad_settings(s3_url: str, bucket: str) -> None:
    sink = _sink(s3_url, bucket, mode="GOVERNANCE", retention=timedelta(days=1))
    assert "GOVERNANCE" in repr(sink)
    with pytest.raises(ConfigurationError):
        _sink(s3_url, bucket, mode="NONE")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        _sink(s3_url, bucket, retention=timedelta(0))


def test_attack_a_new_keyring_id_blinds_the_bucket(
    store_url: str, keyring_path: Path, s3_url: str, bucket: str
) -> None:
    """Give the keyring a new id (a new ledger origin, so another folder of the bucket) and
    re-sign the rolled-back store's checkpoint: the bucket's locked log of the old origin pins
    it, and names the entries lost."""
    from test_attack_witness import _new_keyring_id

    with Personalizer.open(store_url, keyring=keyring_path, witness=_sink(s3_url, bucket)) as p:
        p.consent.grant("cust-1", "personalization")
        kept, head = p.ledger.size, _seal(store_url)
        origin = p.ledger.origin
        p.consent.withdraw("cust-1", "personalization")
        size = p.ledger.size
    _roll_back(store_url, keyring_path, kept, head)
    _new_keyring_id(store_url, keyring_path)
    with (
        pytest.raises(LedgerRollback, match=rf"entries {kept + 1}\.\.{size}") as caught,
        Personalizer.open(store_url, keyring=keyring_path, witness=_sink(s3_url, bucket)) as p,
    ):
        assert not p.audit.verify().ok, "the rolled-back store verified"
    assert origin in str(caught.value)
    # pinned in the configuration: refused before anything is listed
    with pytest.raises(WitnessOriginConflict):
        _sink(s3_url, bucket, origin=origin).latest("whylens.local/ledger/another")
