"""The local keyring: the key file that sits beside an embedded whylens database.

The keyring holds every secret the database needs and nothing else::

    {
      "format": "whylens-keyring", "version": 1,
      "id": "<16 random bytes, hex>", "created": "<ISO 8601 UTC>",
      "current_kek": 1, "keks": {"1": "<base64, 32 bytes>"},
      "pseudonym_key": "<base64, 32 bytes>", "mac_key": "<base64, 32 bytes>",
      "signing_key": "<base64, 32-byte Ed25519 private seed>"
    }

* ``keks`` are the key-encryption keys that wrap each subject's data key (see
  :mod:`sdk.crypto.envelope`); ``current_kek`` is the version used for new wraps. Files rotated
  by this version also carry ``kek_created`` (version -> when it was made) and, once the
  rotation schedule has destroyed old versions, ``destroyed_keks`` (version -> when): their
  material is gone from the file, so a backup of the database wrapped under them stays sealed.
* ``pseudonym_key`` turns subject ids into pseudonyms (:func:`sdk.crypto.field.pseudonym`).
* ``mac_key`` is for keyed hashes (blind indexes); ``signing_key`` signs ledger checkpoints and
  export manifests.

The file is created with mode ``0600`` from its first byte (never world-readable, not even for an
instant) and :meth:`Keyring.load` refuses a file that group or other users can read. Losing the file
means losing every encrypted value in the database: back it up, separately from the database.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import KeyDestroyed, KeyringError, KeyringMissing, KeyringPermissionError
from ._files import replace_file as _replace_file
from ._files import write_new_file as _write_new_file

__all__ = ["KEYRING_FORMAT", "KEYRING_VERSION", "Keyring"]

KEYRING_FORMAT = "whylens-keyring"
KEYRING_VERSION = 1
_KEY_SIZE = 32
_MAX_FILE_SIZE = 1 << 20  # a keyring is a few hundred bytes; refuse to parse anything huge


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _stamp(now: datetime | None = None) -> str:
    when = now if now is not None else datetime.now(UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Keyring:
    """The secrets of one whylens database, loaded from (or created as) a local key file.

    Use :meth:`create` once, when the database is created, and :meth:`load` afterwards. The object
    never shows key material in its ``repr`` and cannot be pickled.
    """

    __slots__ = (
        "_created",
        "_current_kek",
        "_destroyed",
        "_fingerprint",
        "_id",
        "_kek_created",
        "_keks",
        "_mac_key",
        "_min_kek",
        "_path",
        "_pseudonym_key",
        "_public_raw",
        "_seed",
        "_signing_key",
        "_stamp",
    )

    def __init__(
        self,
        *,
        path: Path,
        keyring_id: str,
        created: str,
        current_kek: int,
        keks: dict[int, bytes],
        pseudonym_key: bytes,
        mac_key: bytes,
        signing_seed: bytes,
        min_kek: int = 1,
        kek_created: dict[int, str] | None = None,
        destroyed: dict[int, str] | None = None,
    ) -> None:
        """Build a keyring from already-validated parts; use :meth:`create` or :meth:`load`."""
        # the file as last read or written (see refresh)
        self._stamp: tuple[int, int, int] | None = None
        self._min_kek = min_kek
        self._kek_created = dict(kek_created or {})
        self._destroyed = dict(destroyed or {})
        self._seed = signing_seed
        self._path = path
        self._id = keyring_id
        self._created = created
        self._current_kek = current_kek
        self._keks = dict(keks)
        self._pseudonym_key = pseudonym_key
        self._mac_key = mac_key
        self._signing_key = Ed25519PrivateKey.from_private_bytes(signing_seed)
        self._public_raw = self._signing_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._fingerprint = hashlib.sha256(self._public_raw).hexdigest()

    # -- creating and loading ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Keyring:
        """Create a new keyring file at ``path`` with fresh random keys and return it.

        The file is written to a temporary file (mode ``0600`` from the start), fsynced and then
        moved into place, so a crash never leaves a half-written keyring. Raises
        :class:`KeyringError` if ``path`` already exists: an existing keyring is never replaced.
        """
        path = Path(path)
        if path.exists() or path.is_symlink():
            raise KeyringError(
                f"keyring file {str(path)!r} already exists; refusing to overwrite it (it may hold "
                "the only keys to an existing database). Use Keyring.load, or choose another path."
            )
        seed = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        keyring = cls(
            path=path,
            keyring_id=secrets.token_hex(16),
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            current_kek=1,
            keks={1: secrets.token_bytes(_KEY_SIZE)},
            pseudonym_key=secrets.token_bytes(_KEY_SIZE),
            mac_key=secrets.token_bytes(_KEY_SIZE),
            signing_seed=seed,
        )
        keyring._kek_created = {1: keyring._created}
        _write_new_file(path, keyring._to_json(seed))
        return keyring

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Load the keyring file at ``path``.

        Raises :class:`KeyringMissing` if there is no such file, :class:`KeyringPermissionError`
        if group or other users may access it, and :class:`KeyringError` if it is not a valid
        whylens keyring.
        """
        path = Path(path)
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise KeyringMissing(
                f"keyring file {str(path)!r} not found. The database's encryption keys are kept "
                "in this file; without it the encrypted data in the database cannot be read. "
                "Restore the keyring file from your backup to this path (a new keyring cannot "
                "read existing data)."
            ) from None
        except OSError as exc:
            raise KeyringError(
                f"cannot open keyring file {str(path)!r}: {exc.strerror or exc}. If it is a "
                "symbolic link, point whylens at the real file."
            ) from exc
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise KeyringError(f"keyring path {str(path)!r} is not a regular file")
            if os.name == "posix" and st.st_mode & 0o077:
                raise KeyringPermissionError(
                    f"keyring file {str(path)!r} has mode {stat.S_IMODE(st.st_mode):04o}, which "
                    "lets other users read or change the database's keys. Restrict it to its "
                    f"owner with: chmod 600 {str(path)!r}"
                )
            raw = f.read(_MAX_FILE_SIZE + 1)
        if len(raw) > _MAX_FILE_SIZE:
            _malformed(path, "the file is far too large to be a keyring")
        return cls._from_json(path, raw)

    @classmethod
    def _from_json(cls, path: Path, raw: bytes) -> Keyring:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            _malformed(path, "it is not JSON")
        if not isinstance(doc, dict) or doc.get("format") != KEYRING_FORMAT:
            _malformed(path, f'it has no "format": "{KEYRING_FORMAT}" marker')
        version = doc.get("version")
        if version != KEYRING_VERSION:
            if isinstance(version, int) and not isinstance(version, bool) and version > 1:
                raise KeyringError(
                    f"keyring file {str(path)!r} has format version {version}, newer than this "
                    f"whylens understands ({KEYRING_VERSION}); upgrade whylens."
                )
            _malformed(path, "its format version is missing or invalid")
        keyring_id = doc.get("id")
        if not isinstance(keyring_id, str) or len(keyring_id) != 32 or not _is_hex(keyring_id):
            _malformed(path, '"id" must be 32 hex characters')
        created = doc.get("created")
        if not isinstance(created, str):
            _malformed(path, '"created" must be a timestamp string')
        current = doc.get("current_kek")
        if not isinstance(current, int) or isinstance(current, bool) or current < 1:
            _malformed(path, '"current_kek" must be a positive integer')
        raw_keks = doc.get("keks")
        if not isinstance(raw_keks, dict) or not raw_keks:
            _malformed(path, '"keks" must be a non-empty object')
        keks: dict[int, bytes] = {}
        for name, value in raw_keks.items():
            if not (isinstance(name, str) and name.isdigit() and int(name) >= 1):
                _malformed(path, '"keks" keys must be positive integers')
            keks[int(name)] = _key(path, f"keks.{name}", value)
        if current not in keks:
            _malformed(path, f'"current_kek" is {current} but "keks" has no such version')
        min_kek = doc.get("min_kek", 1)
        if not isinstance(min_kek, int) or isinstance(min_kek, bool) or not 1 <= min_kek <= current:
            _malformed(path, '"min_kek" must be an integer from 1 to "current_kek"')
        kek_created = _stamps(path, "kek_created", doc.get("kek_created", {}))
        if not kek_created and set(keks) == {1}:
            kek_created = {1: created}  # a never-rotated v1 file: KEK 1 is as old as the file
        destroyed = _stamps(path, "destroyed_keks", doc.get("destroyed_keks", {}))
        if set(destroyed) & set(keks):
            _malformed(path, '"destroyed_keks" names a version that "keks" still holds')
        return cls(
            path=path,
            keyring_id=keyring_id,
            created=created,
            current_kek=current,
            keks=keks,
            pseudonym_key=_key(path, "pseudonym_key", doc.get("pseudonym_key")),
            mac_key=_key(path, "mac_key", doc.get("mac_key")),
            signing_seed=_key(path, "signing_key", doc.get("signing_key")),
            min_kek=min_kek,
            kek_created=kek_created,
            destroyed=destroyed,
        )

    def _to_json(self, seed: bytes) -> bytes:
        doc = {
            "format": KEYRING_FORMAT,
            "version": KEYRING_VERSION,
            "id": self._id,
            "created": self._created,
            "current_kek": self._current_kek,
            "keks": {str(v): _b64(k) for v, k in sorted(self._keks.items())},
            "pseudonym_key": _b64(self._pseudonym_key),
            "mac_key": _b64(self._mac_key),
            "signing_key": _b64(seed),
        }
        if self._min_kek > 1:  # written only once keys were retired, so v1 files stay as they were
            doc["min_kek"] = self._min_kek
        if set(self._kek_created) != {1} or self._destroyed:  # likewise, once rotated
            doc["kek_created"] = {str(v): t for v, t in sorted(self._kek_created.items())}
        if self._destroyed:
            doc["destroyed_keks"] = {str(v): t for v, t in sorted(self._destroyed.items())}
        return (json.dumps(doc, indent=2) + "\n").encode("ascii")

    # -- public surface ------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """Where the keyring file lives."""
        return self._path

    @property
    def id(self) -> str:
        """The keyring's random id (32 hex characters); not secret."""
        return self._id

    @property
    def created(self) -> str:
        """When the keyring was created (ISO 8601, UTC)."""
        return self._created

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the raw Ed25519 public key: safe to store, print and compare."""
        return self._fingerprint

    @property
    def current_kek_version(self) -> int:
        """The version of the key-encryption key used for new wraps."""
        return self._current_kek

    @property
    def kek_versions(self) -> tuple[int, ...]:
        """Every key-encryption key version this keyring holds, ascending."""
        return tuple(sorted(self._keks))

    @property
    def min_kek_version(self) -> int:
        """The lowest key-encryption key version still accepted for unwrapping (1 = all)."""
        return self._min_kek

    @property
    def destroyed_kek_versions(self) -> tuple[int, ...]:
        """KEK versions destroyed by the rotation schedule (their material is gone)."""
        return tuple(sorted(self._destroyed))

    def kek_created_at(self, version: int) -> datetime | None:
        """When KEK ``version`` was made (None if a file from before this was recorded)."""
        stamp = self._kek_created.get(version)
        return None if stamp is None else datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    def rotate_kek(self, *, now: datetime | None = None) -> int:
        """Add a new key-encryption key version, make it current, save the file; return it.

        Existing wrapped keys stay readable under their old versions until
        :meth:`sdk.subjects.SubjectKeys.rewrap_all` moves them to the new one. The file is
        re-read under an exclusive lock first, so two processes rotating at once make two
        versions instead of one overwriting the other's new key. ``now`` (default: the clock)
        is recorded as the new version's creation time.
        """
        with self._file_lock():
            self.reload()
            version = max([*self._keks, *self._destroyed]) + 1
            self._keks[version] = secrets.token_bytes(_KEY_SIZE)
            self._current_kek = version
            stamp = _stamp(now)
            for known in self._keks:  # versions made before times were recorded: from now on
                self._kek_created.setdefault(known, stamp)
            self._save()
        return version

    def destroy_keks(self, versions: Iterable[int], *, now: datetime | None = None) -> None:
        """Delete the material of KEK ``versions`` from the file for good (never the current).

        Every data key wrapped under them becomes unreadable, in this database and in every
        backup of it: run :meth:`sdk.keys.SubjectKeys.rewrap_all` first (the rotation schedule
        does). Copies of the old keyring file itself (backups) still hold them.
        """
        doomed = sorted(set(versions))
        with self._file_lock():
            self.reload()
            if self._current_kek in doomed:
                raise KeyringError("the current key-encryption key cannot be destroyed")
            stamp = _stamp(now)
            for version in doomed:
                if self._keks.pop(version, None) is not None:
                    self._destroyed[version] = stamp
            self._save()

    def replace_pseudonym_key(self, new: bytes) -> None:
        """Write ``new`` over the pseudonym key in the file (the old one is gone from it for
        good; copies of the old file still hold it). Only the pseudonym migration calls this
        (:func:`sdk.keys.pseudonym_migration.migrate_pseudonyms`): every subject_index token
        is under this key."""
        if not isinstance(new, bytes) or len(new) != _KEY_SIZE:
            raise KeyringError(f"a pseudonym key is {_KEY_SIZE} bytes")
        with self._file_lock():
            self.reload()
            self._pseudonym_key = bytes(new)
            self._save()

    def retire_keks(self, below: int) -> None:
        """Refuse to unwrap with key-encryption keys older than ``below`` (saved in the file).

        The key material stays in the file (retiring can be undone by lowering the minimum);
        unwrapping under a retired version raises :class:`sdk.errors.KeyRetired`.
        """
        ok = isinstance(below, int) and not isinstance(below, bool)
        # under the file lock and on a fresh read: saving this process's view of the KEKs would
        # otherwise write back a file from before another process's rotation (losing its KEK)
        with self._file_lock():
            self.reload()
            if not ok or not 1 <= below <= self._current_kek:
                raise KeyringError(
                    f"the minimum KEK version must be from 1 to the current version "
                    f"{self._current_kek}, got {below!r}"
                )
            self._min_kek = below
            self._save()

    def refresh(self) -> None:
        """:meth:`reload` if the file changed since this process last read or wrote it (one
        ``stat``): a process opened before another one rotated must not go on wrapping new
        data keys under a KEK that the rotation schedule will destroy."""
        try:
            seen = _file_stamp(self._path)
        except OSError:
            return
        if seen != self._stamp:
            with self._file_lock():
                self.reload()

    def reload(self) -> None:
        """Re-read KEK versions from the file (another process may have rotated them)."""
        stamp = _file_stamp(self._path)
        fresh = Keyring.load(self._path)
        self._stamp = stamp
        if fresh.fingerprint != self._fingerprint:
            raise KeyringError("the keyring file now holds another keyring; reopen the database")
        self._keks = dict(fresh._keks)
        self._current_kek = fresh._current_kek
        self._min_kek = fresh._min_kek
        self._kek_created = {**fresh._kek_created, **{
            v: t for v, t in self._kek_created.items() if v not in fresh._kek_created
        }}
        self._destroyed = dict(fresh._destroyed)
        if fresh._pseudonym_key != self._pseudonym_key:
            # the pseudonym migration replaced it: this process's subject tokens are stale
            raise KeyringError(
                "the keyring's pseudonym key was replaced (whylens keys migrate-pseudonyms); "
                "reopen the database"
            )

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        # one writer of the keyring file at a time, across processes (a 0600 lock file beside it)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: one process per keyring
            yield
            return
        lock = self._path.with_name(f".{self._path.name}.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _save(self) -> None:
        _replace_file(self._path, self._to_json(self._seed))
        self._stamp = _file_stamp(self._path)

    def kek(self, version: int) -> bytes:
        """The 32-byte key-encryption key ``version``; :class:`KeyringError` if unknown and
        :class:`~sdk.errors.KeyDestroyed` if the rotation schedule destroyed it."""
        if version in self._destroyed:
            raise KeyDestroyed(
                f"key-encryption key version {version} was destroyed on "
                f"{self._destroyed[version]} by the key rotation schedule: what was wrapped under "
                "it (a backup older than the retention window, or an erased subject) cannot be "
                "read any more"
            )
        try:
            return self._keks[version]
        except (KeyError, TypeError):
            raise KeyringError(
                f"this keyring has no key-encryption key version {version!r} (it has versions "
                f"{list(self.kek_versions)}); the data was wrapped under a keyring this one does "
                "not contain. Load the keyring that belongs to this database."
            ) from None

    @property
    def pseudonym_key(self) -> bytes:
        """The 32-byte HMAC key that turns subject ids into pseudonyms."""
        return self._pseudonym_key

    @property
    def mac_key(self) -> bytes:
        """The 32-byte key for keyed hashes (blind indexes)."""
        return self._mac_key

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The Ed25519 key that signs checkpoints and export manifests."""
        return self._signing_key

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key (for verifiers)."""
        return self._public_raw

    def sign(self, data: bytes) -> bytes:
        """An Ed25519 signature (64 bytes) of ``data``."""
        return self._signing_key.sign(data)

    def __repr__(self) -> str:
        return (
            f"Keyring(id={self._id!r}, fingerprint={self._fingerprint[:16]!r}, "
            f"kek_versions={list(self.kek_versions)}, current_kek={self._current_kek})"
        )

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Keyring cannot be pickled; load it from its file in each process")


# -- helpers -----------------------------------------------------------------------------------


def _malformed(path: Path, why: str) -> NoReturn:
    raise KeyringError(f"{str(path)!r} is not a valid whylens keyring: {why}")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _stamps(path: Path, name: str, value: Any) -> dict[int, str]:
    if not isinstance(value, dict):
        _malformed(path, f'"{name}" must be an object of version -> timestamp')
    out: dict[int, str] = {}
    for version, stamp in value.items():
        if not (isinstance(version, str) and version.isdigit() and int(version) >= 1):
            _malformed(path, f'"{name}" keys must be positive integers')
        try:
            datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            _malformed(path, f'"{name}.{version}" is not an ISO 8601 timestamp')
        out[int(version)] = str(stamp)
    return out


def _key(path: Path, name: str, value: Any) -> bytes:
    if not isinstance(value, str):
        _malformed(path, f'"{name}" must be a base64 string')
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _malformed(path, f'"{name}" is not valid base64')
    if len(key) != _KEY_SIZE:
        _malformed(path, f'"{name}" must decode to {_KEY_SIZE} bytes, not {len(key)}')
    return key


def _file_stamp(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)
