"""Per-subject data keys: created on first write, wrapped at rest, rotated, destroyed on erasure.

Each subject (by pseudonym) has a random 32-byte data key (DEK), stored only wrapped by a
:class:`~sdk.crypto.providers.KeyProvider` (the local keyring by default), bound to the pseudonym,
the DEK version and the KEK version (:func:`sdk.crypto.envelope.key_context`):

* ``subject_keys`` holds the subject's *current* DEK (and, once erased, the tombstone:
  ``wrapped`` NULL, ``erased`` set; later reads say :class:`SubjectErased`, not "unknown");
* ``subject_old_keys`` holds earlier DEK versions after :meth:`SubjectKeys.rotate_data_key`,
  so older ciphertexts stay readable until they are re-encrypted (lazily, on the next write) or
  retired with :meth:`SubjectKeys.retire_data_keys`. The current version is one more than the
  newest old one. A retirement is recorded on the ledger too (:mod:`.retirement`), and a
  minimum in ``whylens_meta`` the ledger does not vouch for is
  :class:`~sdk.errors.KeyScheduleTampered`.

Unwrapped keys are cached in memory (``cache_ttl`` seconds, at most ``cache_max_uses`` uses per
unwrap) and purged on erasure. Every access still reads the subject's row (one primary-key
lookup), so an erasure made through another process or instance takes effect at once; the cache
saves the unwrap, which is the expensive step once the KEK lives in a KMS.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..crypto.envelope import key_context
from ..crypto.keyring import Keyring
from ..crypto.keyset import SubjectCipher
from ..crypto.providers import KeyProvider, KeyringProvider
from ..errors import (
    ConfigurationError,
    InvalidSubjectId,
    KeyRetired,
    KeyScheduleTampered,
    SubjectErased,
    UnknownSubject,
)
from .pseudonyms import ErasureWatch, Pseudonyms
from .retirement import META_KEY, DataKeyRetirements, stored_minimum
from .rotation import RewrapReport
from .schedule import KekSchedule

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._store.abc import Store, StoreTx
    from ..ledger import Ledger
    from ..ledger.follow import LedgerFollower
    from .pseudonym_migration import PseudonymMigration

__all__ = ["RewrapReport", "SubjectKeys", "check_pseudonym"]

_PSEUDONYM = re.compile(r"[0-9a-f]{32}")
_CACHE_MAX_SUBJECTS = 10_000
_DEK_SIZE = 32
logger = logging.getLogger(__name__)
_PROVIDER_META = "key_provider"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_pseudonym(pseudo: object) -> str:
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
    version: int
    cipher: SubjectCipher
    expires: float
    uses_left: int


class SubjectKeys(KekSchedule):
    """The data keys of every subject in one database."""

    def __init__(
        self,
        db: Store,
        keyring: Keyring,
        *,
        provider: KeyProvider | None = None,
        cache_ttl: float = 300.0,
        cache_max_uses: int = 10_000,
    ) -> None:
        """Keys stored in ``db``, wrapped by ``provider`` (default: ``keyring``'s KEKs).

        ``cache_ttl`` (seconds) and ``cache_max_uses`` bound how long and how often one unwrapped
        key is reused from memory; ``cache_ttl=0`` or ``cache_max_uses=0`` disables the cache.
        """
        if not cache_ttl >= 0:
            raise ConfigurationError(f"cache_ttl must be >= 0 seconds, got {cache_ttl!r}")
        if not isinstance(cache_max_uses, int) or cache_max_uses < 0:
            raise ConfigurationError(f"cache_max_uses must be an int >= 0, got {cache_max_uses!r}")
        self._db = db
        self._keyring = keyring
        self.provider: KeyProvider = provider if provider is not None else KeyringProvider(keyring)
        self._ttl = float(cache_ttl)
        self._max_uses = cache_max_uses
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.unwraps = 0
        """How many data keys were unwrapped (cache misses); for tests and monitoring."""
        self._min_dek = stored_minimum(db)
        self._retirements: DataKeyRetirements | None = None
        self._schedule_problem: str | None = None
        used = db.meta.get(_PROVIDER_META)
        if used is not None and used != self.provider.name:
            raise ConfigurationError(
                f"this database's data keys are wrapped by the {used!r} key provider, not "
                f"{self.provider.name!r}; open it with the key provider it was created with "
                "(Personalizer.open(..., key_provider=...))"
            )
        self._provider_recorded = used is not None
        self._pseudonyms = Pseudonyms(db, keyring.pseudonym_key)

    # -- pseudonyms ----------------------------------------------------------------------------

    def pseudonym(self, subject: str, *, create: bool = True) -> str:
        """The pseudonym under which ``subject``'s data is stored (validates the id first).

        A random 32-hex name, found through the ``subject_index`` (:mod:`.pseudonyms`); a new id
        gets one. With ``create=False`` (pure reads) an unknown id writes nothing and gets a
        pseudonym that no data is stored under.
        """
        return self._pseudonyms.of(subject, create=create)

    def erasure_watch(self) -> ErasureWatch:
        """A ledger view for the ``subjects`` stream that drops this instance's cached pseudonym
        of a subject erased by any process (the Personalizer registers it)."""
        return ErasureWatch(self._pseudonyms)

    def migrate_pseudonyms(self, ids: Iterable[str], *, force: bool = False) -> PseudonymMigration:
        """Move a legacy store (``pseudonyms = hmac-v1``) to an index under a new pseudonym key
        built from ``ids`` (every subject id the application knows), and destroy the old key in
        the keyring file, so no HMAC pseudonym can be recomputed from an id again
        (:mod:`sdk.keys.pseudonym_migration`). Stop every other process of the store first."""
        from .pseudonym_migration import migrate_pseudonyms

        done = migrate_pseudonyms(
            self._db,
            self._keyring,
            ids,
            is_erased=self.is_erased,
            kek_version=self.provider.current_version,
            force=force,
        )
        self._pseudonyms.rekey(self._keyring.pseudonym_key)
        self.clear_cache()
        return done

    def pseudonym_to_erase(self, subject: str) -> str:
        """The pseudonym :meth:`SubjectRights.erase` acts on: the one this instance erased for
        ``subject`` (the id itself no longer leads to it), else :meth:`pseudonym`."""
        return self._pseudonyms.to_erase(subject)

    # -- keys ----------------------------------------------------------------------------------

    def data_key(self, pseudo: str, *, create: bool) -> bytes:
        """The current 32-byte data key of subject ``pseudo``.

        With ``create=True`` a key is made (and committed) if the subject has none yet. Raises
        :class:`SubjectErased` if the subject was erased and :class:`UnknownSubject` if there is
        no key and ``create`` is false.
        """
        entry = self._entry(pseudo, create=create)
        return entry.cipher._keys[entry.version]

    def cipher(self, pseudo: str, *, create: bool) -> SubjectCipher:
        """The subject's :class:`SubjectCipher`: encrypts under the current data key, decrypts
        every kept version. With ``create=True`` (a write) a subject whose current key is below
        the minimum data-key version gets a new key first. Same errors as :meth:`data_key`."""
        try:
            return self._entry(pseudo, create=create).cipher
        except KeyRetired:
            if not create:
                raise
        self.rotate_data_key(pseudo)
        return self._entry(pseudo, create=create).cipher

    def current_version(self, pseudo: str) -> int:
        """The subject's current data-key version (1 until its key is rotated)."""
        return self._entry(pseudo, create=False).version

    @property
    def min_data_key_version(self) -> int:
        """Data-key versions below this are retired: their ciphertexts raise KeyRetired."""
        return self._min_dek

    def _row(self, pseudo: str, create: bool) -> tuple[int, bytes | None, str | None, int]:
        row = self._db.keys.current(pseudo)
        if row is None:
            if not create:
                raise UnknownSubject(
                    "no data key for this subject: nothing was ever stored for them"
                )
            self._create(pseudo)
            row = self._db.keys.current(pseudo)
            assert row is not None
        return row

    def _entry(self, pseudo: str, *, create: bool) -> _Entry:
        check_pseudonym(pseudo)
        if self._schedule_problem is not None:
            raise KeyScheduleTampered(self._schedule_problem)
        kek_version, wrapped, erased, version = self._row(pseudo, create)
        if erased is not None or wrapped is None:
            self._forget(pseudo)
            self._pseudonyms.forget(pseudo)  # another process may have erased it
            raise SubjectErased(_erased_message(erased))
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(pseudo)
            if entry is not None:
                if (
                    entry.wrapped == wrapped
                    and entry.version == version
                    and entry.expires > now
                    and entry.uses_left > 0
                ):
                    entry.uses_left -= 1
                    self._cache.move_to_end(pseudo)
                    return entry
                del self._cache[pseudo]
        keys = {version: self._unwrap(pseudo, version, kek_version, wrapped)}
        if version > 1:
            for old, old_kek, old_wrapped in self._db.keys.old_keys(pseudo, self._min_dek):
                keys[old] = self._unwrap(pseudo, old, old_kek, old_wrapped)
        cipher = SubjectCipher(keys, current=version, min_version=self._min_dek)
        entry = _Entry(wrapped, version, cipher, now + self._ttl, self._max_uses - 1)
        if self._ttl > 0 and self._max_uses > 1:
            with self._lock:
                self._cache[pseudo] = entry
                self._cache.move_to_end(pseudo)
                while len(self._cache) > _CACHE_MAX_SUBJECTS:
                    self._cache.popitem(last=False)
        return entry

    def _unwrap(self, pseudo: str, version: int, kek_version: int, wrapped: bytes) -> bytes:
        self.unwraps += 1
        context = key_context(subject=pseudo, kek_version=kek_version, dek_version=version)
        return self.provider.unwrap(wrapped, version=kek_version, context=context)

    def _wrap(self, pseudo: str, version: int, dek: bytes) -> tuple[int, bytes]:
        kek_version = self.provider.current_version
        context = key_context(subject=pseudo, kek_version=kek_version, dek_version=version)
        return kek_version, self.provider.wrap(dek, version=kek_version, context=context)

    def _create(self, pseudo: str) -> None:
        kek_version, wrapped = self._wrap(pseudo, 1, secrets.token_bytes(_DEK_SIZE))
        with self._db.transaction() as tx:
            # another writer may have created the key (or a tombstone) since our read
            tx.keys.create(pseudo, kek_version, wrapped, _now())
            if not self._provider_recorded:  # the first key fixes the database's provider
                tx.meta.set_default(_PROVIDER_META, self.provider.name)
        self._provider_recorded = True

    # -- rotation ------------------------------------------------------------------------------

    def rotate_data_key(self, pseudo: str) -> int:
        """Give a subject a new current data key and return its version.

        The old key is kept (wrapped) for the subject's existing ciphertexts; they are
        re-encrypted under the new key on the next write of their record (lazy rotation).
        """
        check_pseudonym(pseudo)
        kek_version, wrapped, erased, version = self._row(pseudo, create=False)
        if erased is not None or wrapped is None:
            raise SubjectErased(_erased_message(erased))
        new_kek, new_wrapped = self._wrap(pseudo, version + 1, secrets.token_bytes(_DEK_SIZE))
        # compare-and-set: nothing changes if somebody rotated or erased it since our read
        self._db.keys.rotate(
            pseudo,
            expected=wrapped,
            new_kek=new_kek,
            new_wrapped=new_wrapped,
            old_version=version,
            old_kek=kek_version,
            created=_now(),
        )
        self._forget(pseudo)
        return self.current_version(pseudo)

    def retire_data_keys(self, below: int) -> None:
        """Refuse ciphertexts made under data-key versions below ``below`` (:class:`KeyRetired`).

        Subjects whose current key is older get a new key on their next write. Stored in the
        database; instances opened earlier see it when reopened.
        """
        if not isinstance(below, int) or isinstance(below, bool) or below < 1:
            raise ConfigurationError(f"the minimum data-key version must be >= 1, got {below!r}")
        if self._retirements is None:
            self._db.meta.set(META_KEY, str(below))
        else:
            self._retirements.retire(below)
            self._schedule_problem = self._retirements.problem()
        self._min_dek = below
        self.clear_cache()

    def bind_ledger(self, ledger: Ledger, follower: LedgerFollower) -> None:
        """Record data-key retirements on ``ledger`` and check ``whylens_meta`` against it (in
        :meth:`check_key_schedule` and in ``ledger.verify()``); the Personalizer calls it."""
        self._retirements = DataKeyRetirements(self._db, ledger, follower, self._retired)
        ledger.add_check(self._retirements.problem)

    def check_key_schedule(self) -> None:
        """Refuse every data-key use (:class:`KeyScheduleTampered`) if the retired versions in
        ``whylens_meta`` are not the ones the ledger records; run on open, once caught up."""
        if self._retirements is None:
            return
        self._schedule_problem = self._retirements.problem()
        if self._schedule_problem is not None:
            logger.error("key schedule tampered: %s", self._schedule_problem)

    def _retired(self, below: int) -> None:
        # a retirement folded from the ledger (any process): it applies from now on
        self._min_dek = below
        self.clear_cache()

    # -- erasure -------------------------------------------------------------------------------

    def destroy(self, pseudo: str, tx: StoreTx) -> int:
        """Crypto-shred subject ``pseudo`` inside the caller's transaction ``tx``; returns how
        many wrapped data keys (all versions) were destroyed.

        The wrapped key is replaced by NULL and the erasure time recorded (the first erasure time
        is kept if the subject was already erased); a tombstone row is written even if the subject
        never had a key. Old key versions are deleted. The in-memory cache is purged. The id
        still leads to ``pseudo`` until :meth:`unlink` (after this transaction commits).
        """
        check_pseudonym(pseudo)
        destroyed = tx.keys.destroy(pseudo, kek_version=self.provider.current_version, now=_now())
        self._forget(pseudo)
        return destroyed

    def unlink(self, pseudo: str) -> int:
        """Once ``pseudo``'s keys are destroyed (committed): move the id's index row to a fresh
        tombstone, in a transaction of its own (on PostgreSQL the erasure's ``xmin`` then marks
        the destroyed key row, not the id's row). Idempotent: 0 when nothing leads to ``pseudo``.
        """
        check_pseudonym(pseudo)
        return self._pseudonyms.unlink(pseudo, kek_version=self.provider.current_version)

    def exists(self, pseudo: str) -> bool:
        """True if subject ``pseudo`` has a live (not erased) data key."""
        check_pseudonym(pseudo)
        state = self._db.keys.state(pseudo)
        return state is not None and state.has_key and state.erased is None

    def is_erased(self, pseudo: str) -> bool:
        """True if subject ``pseudo`` was erased (a tombstone exists)."""
        return self.erased_at(pseudo) is not None

    def erased_at(self, pseudo: str) -> str | None:
        """When subject ``pseudo`` was erased (ISO 8601 UTC), or None if they were not."""
        check_pseudonym(pseudo)
        state = self._db.keys.state(pseudo)
        if state is None:
            return None
        if state.erased is None and not state.has_key:
            self._pseudonyms.forget(pseudo)
            return "an unknown date"
        if state.erased is not None:
            self._pseudonyms.forget(pseudo)
        return state.erased

    def raise_if_erased(self, pseudo: str) -> None:
        """Raise :class:`SubjectErased` if subject ``pseudo`` was erased."""
        erased = self.erased_at(pseudo)
        if erased is not None:
            raise SubjectErased(_erased_message(erased))

    def clear_cache(self) -> None:
        """Drop every unwrapped key held in memory."""
        with self._lock:
            self._cache.clear()

    def cached(self, pseudo: str) -> bool:
        """True if subject ``pseudo``'s unwrapped key is in the memory cache."""
        with self._lock:
            return pseudo in self._cache

    def _forget(self, pseudo: str) -> None:
        with self._lock:
            self._cache.pop(pseudo, None)

    def __repr__(self) -> str:
        return f"SubjectKeys(provider={self.provider.name!r}, cached={len(self._cache)})"


def _erased_message(erased: str | None) -> str:
    when = erased if erased is not None else "an unknown date"
    return f"subject was erased on {when}; their data cannot be read"
