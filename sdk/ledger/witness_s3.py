"""A witness sink in an S3-compatible object store with Object Lock (optional extra:
``pip install 'whylens[s3]'``).

Each checkpoint is one object, written once under a retention the server enforces
(``COMPLIANCE``: nobody, the bucket's owner included, can delete or overwrite that version
before the date; ``GOVERNANCE``: only a principal allowed to bypass it). So an attacker who
holds the database, the keyring and its folder -- and even credentials to write to the bucket --
cannot take back a checkpoint the store has anchored: a rollback of the store is caught on the
next open, as with any sink (:mod:`sdk.ledger.witness`).

Layout: ``<prefix><sha256(origin)[:32]>/<99999999999999999999 - size, 20 digits>``. Keys sort
newest first, so the latest checkpoint is the first key listed, whatever the number of
checkpoints. Reads go through the *versions* of that key, not its current object:

- a delete without a version id only adds a delete marker; the locked version behind it is
  still read (hiding the newest checkpoints that way is no rollback);
- a second write of the same key is a new version, never a replacement; the **oldest** version
  of a key is the one that counts (a later, forked note at the same size is ignored, and a
  writer that finds its own note is not the oldest learns of the fork:
  :class:`~sdk.errors.WitnessConflict`).

Writes are conditional (``If-None-Match: *``): of two processes anchoring the same size, one
writes and the other reads back what the first wrote. The constructor refuses a bucket whose
Object Lock is not enabled (:class:`~sdk.errors.ConfigurationError`): without it the sink would
be one more place the attacker can rewrite.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ..errors import ConfigurationError, WitnessConflict, WitnessError, WitnessOriginConflict
from .checkpoint import Checkpoint
from .merkle import verify_consistency
from .witness import Anchor, ProveFn, checkpoint_fields

__all__ = ["S3ObjectLockWitness"]

_INSTALL_HINT = "pip install 'whylens[s3]'"
_TOP = 10**20 - 1  # keys hold _TOP - size, so the largest size sorts first
_MAX_NOTE = 64 * 1024  # a checkpoint note is a few hundred bytes


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise ConfigurationError(
            f"the S3 object-lock witness needs boto3, which is not installed: {_INSTALL_HINT}"
        ) from exc
    return boto3


def _client_error() -> type[Exception]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)  # type: ignore[return-value]


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class S3ObjectLockWitness:
    """Checkpoints as write-once objects in an Object Lock bucket (see the module docstring)."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        prefix: str = "whylens-witness/",
        mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE",
        retention: timedelta = timedelta(days=3650),
        endpoint_url: str | None = None,
        region_name: str | None = None,
        origin: str | None = None,
    ) -> None:
        """Anchor into ``bucket`` (which must have Object Lock enabled).

        ``client``: a boto3 S3 client; without one, one is made with boto3's usual credential
        chain (and ``endpoint_url`` / ``region_name`` for an S3-compatible server). Each object
        is locked in ``mode`` until now + ``retention`` (default ten years: at least as long
        as the ledger is kept).

        The sink witnesses one ledger under ``prefix``: ``origin`` (``p.ledger.origin``) pins
        it in the configuration; without it the first log anchored there (its locked objects)
        pins it. Another origin is a :class:`~sdk.errors.WitnessOriginConflict`: the origin
        comes from the keyring's editable ``id``, and a new one would otherwise start an empty
        log here and let a rollback pass.
        """
        if mode not in ("COMPLIANCE", "GOVERNANCE"):
            raise ConfigurationError("object lock mode must be 'COMPLIANCE' or 'GOVERNANCE'")
        if retention <= timedelta(0):
            raise ConfigurationError("the object lock retention must be positive")
        if not bucket:
            raise ConfigurationError("the witness bucket needs a name")
        if client is None:
            client = _boto3().client(
                "s3", endpoint_url=endpoint_url, region_name=region_name
            )
        self._s3 = client
        self._bucket = bucket
        self._prefix = prefix
        self._mode = mode
        self._retention = retention
        self._origin = origin
        self._pinned_ok: str | None = None  # the origin already checked against the bucket
        self._check_lock()

    @property
    def name(self) -> str:
        """``the witness bucket s3://<bucket>/<prefix>``, for messages."""
        return f"the witness bucket s3://{self._bucket}/{self._prefix}"

    def __repr__(self) -> str:
        return (
            f"S3ObjectLockWitness({self._bucket!r}, prefix={self._prefix!r}, "
            f"mode={self._mode!r})"
        )

    def _check_lock(self) -> None:
        try:
            answer = self._s3.get_object_lock_configuration(Bucket=self._bucket)
        except _client_error() as exc:
            if _code(exc) == "ObjectLockConfigurationNotFoundError":
                raise ConfigurationError(
                    f"bucket {self._bucket!r} has no Object Lock: a witness there could be "
                    "rewritten; create the bucket with Object Lock enabled"
                ) from None
            msg = f"cannot read the object lock of {self.name}: {_code(exc) or exc}"
            raise WitnessError(msg) from None
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise ConfigurationError(
                f"bucket {self._bucket!r} has no Object Lock enabled (found {enabled!r})"
            )

    def _folder(self, origin: str) -> str:
        return self._prefix + hashlib.sha256(origin.encode()).hexdigest()[:32] + "/"

    def _key(self, origin: str, size: int) -> str:
        return f"{self._folder(origin)}{_TOP - size:020d}"

    def _oldest_version(self, key_prefix: str) -> tuple[str, str] | None:
        """(key, version id) of the oldest version of the first key under ``key_prefix``
        (delete markers skipped), None if there is none."""
        first: str | None = None
        oldest: str | None = None
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": key_prefix, "MaxKeys": 100}
        while True:
            page = self._s3.list_object_versions(**args)
            for version in page.get("Versions", []):
                if first is None:
                    first = version["Key"]
                if version["Key"] != first:
                    return first, oldest  # type: ignore[return-value]
                oldest = version["VersionId"]  # newest first within a key: the last is oldest
            if not page.get("IsTruncated"):
                break
            args["KeyMarker"] = page.get("NextKeyMarker")
            args["VersionIdMarker"] = page.get("NextVersionIdMarker")
        if first is None or oldest is None:
            return None
        return first, oldest

    def _read(self, key: str, version: str, origin: str) -> Anchor:
        got = self._s3.get_object(Bucket=self._bucket, Key=key, VersionId=version)
        data = got["Body"].read(_MAX_NOTE + 1)
        try:
            note = data.decode()
        except UnicodeDecodeError:
            raise WitnessError(f"{self.name} holds an object that is not a checkpoint") from None
        name, size, root = checkpoint_fields(note)
        if name != origin:
            raise WitnessConflict(f"{self.name} holds a checkpoint of another log ({name!r})")
        if key != self._key(origin, size):
            raise WitnessError(f"{self.name} holds a checkpoint under the wrong name ({key})")
        return Anchor(self.name, size, root, note)

    def _check_origin(self, origin: str) -> None:
        """Refuse another ledger than the one this prefix witnesses (see ``__init__``)."""
        if self._origin is not None and origin != self._origin:
            raise self._conflict(self._origin, origin)
        if self._pinned_ok == origin:
            return
        ours = self._folder(origin)
        # every version, delete markers' keys included: a marker hides no locked version
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self._prefix, "Delimiter": "/"}
        while True:
            page = self._s3.list_object_versions(**args)
            for folder in page.get("CommonPrefixes", []):
                if folder["Prefix"] != ours:
                    found = self._oldest_version(folder["Prefix"])
                    if found is None:
                        continue
                    other = self._s3.get_object(
                        Bucket=self._bucket, Key=found[0], VersionId=found[1]
                    )["Body"].read(_MAX_NOTE + 1)
                    try:
                        pinned = checkpoint_fields(other.decode())[0]
                    except UnicodeDecodeError:
                        pinned = folder["Prefix"]
                    raise self._conflict(pinned, origin)
            if not page.get("IsTruncated"):
                break
            args["KeyMarker"] = page.get("NextKeyMarker")
            args["VersionIdMarker"] = page.get("NextVersionIdMarker")
        self._pinned_ok = origin

    def _conflict(self, pinned: str, origin: str) -> WitnessOriginConflict:
        return WitnessOriginConflict(
            f"{self.name} witnesses the ledger {pinned!r}, not {origin!r}: the keyring's id "
            "was changed, or another store was put in place",
            witness=self.name,
            pinned=pinned,
        )

    def _latest(self, origin: str, key_prefix: str) -> Anchor | None:
        found = self._oldest_version(key_prefix)
        return None if found is None else self._read(found[0], found[1], origin)

    def latest(self, origin: str) -> Anchor | None:
        """The checkpoint of the largest size anchored for ``origin`` (None: none yet)."""
        try:
            self._check_origin(origin)
            return self._latest(origin, self._folder(origin))
        except _client_error() as exc:
            raise WitnessError(f"cannot read {self.name}: {_code(exc) or exc}") from None

    def anchor(self, checkpoint: Checkpoint, prove: ProveFn) -> Anchor:
        """Write ``checkpoint`` as a new locked object if it extends the latest one held."""
        try:
            self._check_origin(checkpoint.origin)
            last = self._latest(checkpoint.origin, self._folder(checkpoint.origin))
            if last is not None:
                if last.size > checkpoint.size:
                    return last  # seen more already (another writer, or entries lost)
                if last.size == checkpoint.size:
                    return self._same(last, checkpoint)
                if last.size > 0:
                    assert last.root is not None
                    path = prove(last.size)
                    if not verify_consistency(
                        last.size, checkpoint.size, last.root, checkpoint.root, path
                    ):
                        raise WitnessConflict(
                            f"the ledger of {checkpoint.size} entries does not extend the "
                            f"{last.size} anchored in {self.name}: entries were rewritten"
                        )
            return self._put(checkpoint)
        except _client_error() as exc:
            raise WitnessError(f"cannot write to {self.name}: {_code(exc) or exc}") from None

    def _same(self, held: Anchor, checkpoint: Checkpoint) -> Anchor:
        if held.root != checkpoint.root:
            raise WitnessConflict(
                f"{self.name} holds another root for {held.size} entries: the ledger was "
                "rewritten (a fork)"
            )
        return held

    def _put(self, checkpoint: Checkpoint) -> Anchor:
        key = self._key(checkpoint.origin, checkpoint.size)
        body = checkpoint.note.encode()
        until = datetime.now(UTC) + self._retention
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType="text/plain; charset=utf-8",
                ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode(),
                IfNoneMatch="*",
                ObjectLockMode=self._mode,
                ObjectLockRetainUntilDate=until,
            )
        except _client_error() as exc:
            if _code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            # another process wrote this size first: what it wrote is what counts
        held = self._latest(checkpoint.origin, key)
        if held is None:
            raise WitnessError(f"{self.name} does not show the checkpoint just written")
        return self._same(held, checkpoint)
