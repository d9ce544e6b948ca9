"""Per-subject data keys: created on first write, wrapped at rest, destroyed on erasure.

Each subject (by pseudonym) has one random 32-byte data key (DEK). The table ``subject_keys`` keeps
it wrapped under the keyring's current key-encryption key (KEK), bound to the pseudonym and the KEK
version (:func:`sdk.crypto.envelope.key_context`). Erasure sets ``wrapped`` to NULL and records the
time in ``erased``: the row stays as a tombstone, so later reads say :class:`SubjectErased` rather
than "unknown", and every ciphertext of that subject becomes unreadable (crypto-shredding).

Unwrapped keys are cached in memory (``cache_ttl`` seconds, at most ``cache_max_uses`` uses per
unwrap). Every access still reads the subject's row (one primary-key lookup), so an erasure made
through another process or instance takes effect at once; the cache saves the unwrap, which is the
expensive step once the KEK lives in a KMS.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from ..crypto.envelope import key_context, unwrap_key, wrap_key
from ..crypto.field import FieldCipher, pseudonym
from ..crypto.keyring import Keyring
from ..errors import ConfigurationError, InvalidSubjectId, SubjectErased, UnknownSubject
from ..store import Database, _Tx
from .ids import validate_subject_id

__all__ = ["SubjectKeys"]

_PSEUDONYM = re.compile(r"[0-9a-f]{32}")
_CACHE_MAX_SUBJECTS = 10_000
_DEK_SIZE = 32


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_pseudonym(pseudo: object) -> str:
    if not isinstance(pseudo, str) or _PSEUDONYM.fullmatch(pseudo) is None:
        raise InvalidSubjectId(
            "expected a subject pseudonym (32 lowercase hex characters from "
            "SubjectKeys.pseudonym), got something else; pass the raw subject id to "
            "SubjectKeys.pseudonym first"
        )
    return pseudo


@dataclass(slots=True)
class _Entry:
    wrapped: bytes
    key: bytes
    cipher: FieldCipher
    expires: float
    uses_left: int


class SubjectKeys:
    """The data keys of every subject in one database, under one keyring."""

    def __init__(
        self,
        db: Database,
        keyring: Keyring,
        *,
        cache_ttl: float = 300.0,
        cache_max_uses: int = 10_000,
    ) -> None:
        """Keys stored in ``db``, wrapped with ``keyring``'s KEKs.

        ``cache_ttl`` (seconds) and ``cache_max_uses`` bound how long and how often one unwrapped
        key is reused from memory; ``cache_ttl=0`` or ``cache_max_uses=0`` disables the cache.
        """
        if not cache_ttl >= 0:
            raise ConfigurationError(f"cache_ttl must be >= 0 seconds, got {cache_ttl!r}")
        if not isinstance(cache_max_uses, int) or cache_max_uses < 0:
            raise ConfigurationError(f"cache_max_uses must be an int >= 0, got {cache_max_uses!r}")
        self._db = db
        self._keyring = keyring
        self._ttl = float(cache_ttl)
        self._max_uses = cache_max_uses
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    # -- pseudonyms ----------------------------------------------------------------------------

    def pseudonym(self, subject: str) -> str:
        """The pseudonym under which ``subject``'s data is stored (validates the id first)."""
        return pseudonym(self._keyring.pseudonym_key, validate_subject_id(subject))

    # -- keys ----------------------------------------------------------------------------------

    def data_key(self, pseudo: str, *, create: bool) -> bytes:
        """The 32-byte data key of subject ``pseudo``.

        With ``create=True`` a key is made (and committed) if the subject has none yet. Raises
        :class:`SubjectErased` if the subject was erased and :class:`UnknownSubject` if there is
        no key and ``create`` is false.
        """
        return self._entry(pseudo, create=create).key

    def cipher(self, pseudo: str, *, create: bool) -> FieldCipher:
        """A :class:`FieldCipher` over subject ``pseudo``'s data key; same errors as
        :meth:`data_key`."""
        return self._entry(pseudo, create=create).cipher

    def _entry(self, pseudo: str, *, create: bool) -> _Entry:
        _check_pseudonym(pseudo)
        row = self._db.query_one(
            "SELECT kek_version, wrapped, erased FROM subject_keys WHERE subject = ?", (pseudo,)
        )
        if row is None:
            if not create:
                raise UnknownSubject(
                    "no data key for this subject: nothing was ever stored for them"
                )
            row = self._create(pseudo)
        kek_version, wrapped, erased = row
        if erased is not None or wrapped is None:
            self._forget(pseudo)
            raise SubjectErased(_erased_message(erased))
        wrapped = bytes(wrapped)
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(pseudo)
            if entry is not None:
                if entry.wrapped == wrapped and entry.expires > now and entry.uses_left > 0:
                    entry.uses_left -= 1
                    self._cache.move_to_end(pseudo)
                    return entry
                del self._cache[pseudo]
        key = unwrap_key(
            self._keyring.kek(int(kek_version)),
            wrapped,
            context=key_context(subject=pseudo, kek_version=int(kek_version)),
        )
        entry = _Entry(wrapped, key, FieldCipher(key), now + self._ttl, self._max_uses - 1)
        if self._ttl > 0 and self._max_uses > 1:
            with self._lock:
                self._cache[pseudo] = entry
                self._cache.move_to_end(pseudo)
                while len(self._cache) > _CACHE_MAX_SUBJECTS:
                    self._cache.popitem(last=False)
        return entry

    def _create(self, pseudo: str) -> tuple[int, bytes | None, str | None]:
        version = self._keyring.current_kek_version
        wrapped = wrap_key(
            self._keyring.kek(version),
            secrets.token_bytes(_DEK_SIZE),
            context=key_context(subject=pseudo, kek_version=version),
        )
        with self._db.transaction() as tx:
            # another writer may have created the key (or a tombstone) since our read
            tx.execute(
                "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
                "VALUES (?, ?, ?, ?, NULL) ON CONFLICT(subject) DO NOTHING",
                (pseudo, version, wrapped, _now()),
            )
            row = tx.execute(
                "SELECT kek_version, wrapped, erased FROM subject_keys WHERE subject = ?",
                (pseudo,),
            ).fetchone()
        kek_version, stored, erased = row
        return int(kek_version), stored, erased

    # -- erasure -------------------------------------------------------------------------------

    def destroy(self, pseudo: str, tx: _Tx) -> None:
        """Crypto-shred subject ``pseudo`` inside the caller's transaction ``tx``.

        The wrapped key is replaced by NULL and the erasure time recorded (the first erasure time
        is kept if the subject was already erased); a tombstone row is written even if the subject
        never had a key. The in-memory cache is purged.
        """
        _check_pseudonym(pseudo)
        now = _now()
        tx.execute(
            "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
            "VALUES (?, ?, NULL, ?, ?) ON CONFLICT(subject) DO UPDATE SET wrapped = NULL, "
            "erased = COALESCE(subject_keys.erased, excluded.erased)",
            (pseudo, self._keyring.current_kek_version, now, now),
        )
        self._forget(pseudo)

    def exists(self, pseudo: str) -> bool:
        """True if subject ``pseudo`` has a live (not erased) data key."""
        _check_pseudonym(pseudo)
        row = self._db.query_one(
            "SELECT wrapped IS NOT NULL AND erased IS NULL FROM subject_keys WHERE subject = ?",
            (pseudo,),
        )
        return row is not None and bool(row[0])

    def is_erased(self, pseudo: str) -> bool:
        """True if subject ``pseudo`` was erased (a tombstone exists)."""
        return self.erased_at(pseudo) is not None

    def erased_at(self, pseudo: str) -> str | None:
        """When subject ``pseudo`` was erased (ISO 8601 UTC), or None if they were not."""
        _check_pseudonym(pseudo)
        row = self._db.query_one(
            "SELECT erased, wrapped IS NULL FROM subject_keys WHERE subject = ?", (pseudo,)
        )
        if row is None:
            return None
        erased, no_key = row
        if erased is None and no_key:
            return "an unknown date"
        return None if erased is None else str(erased)

    def raise_if_erased(self, pseudo: str) -> None:
        """Raise :class:`SubjectErased` if subject ``pseudo`` was erased."""
        erased = self.erased_at(pseudo)
        if erased is not None:
            raise SubjectErased(_erased_message(erased))

    def clear_cache(self) -> None:
        """Drop every unwrapped key held in memory."""
        with self._lock:
            self._cache.clear()

    def _forget(self, pseudo: str) -> None:
        with self._lock:
            self._cache.pop(pseudo, None)

    def __repr__(self) -> str:
        return f"SubjectKeys(keyring={self._keyring.id!r}, cached={len(self._cache)})"


def _erased_message(erased: str | None) -> str:
    when = erased if erased is not None else "an unknown date"
    return f"subject was erased on {when}; their data cannot be read"
