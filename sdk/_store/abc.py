"""The storage seam: what every whylens backend (SQLite, PostgreSQL) must provide.

The rest of the SDK (ledger, keys, subjects, models, audit) talks to a :class:`Store` through the
protocols below and never sees SQL, a driver or a connection; each backend lives in one private
package (``sdk/_store/_sqlite/``, ``sdk/_store/_postgres/``) and is chosen by
:func:`sdk._store.open_store` from the path or URL. The tables are defined once, in
:mod:`sdk._store.schema`.

Rows cross the seam as plain tuples of ``str``, ``int``, ``bytes`` and ``None`` (``bytes``, never
``memoryview``; timestamps as the ISO 8601 text the caller wrote). Pseudonyms, field names, kinds
and the like are validated above the seam; a backend checks nothing but its own invariants.

Guarantees every backend gives
------------------------------

*Transactions.* :meth:`Store.transaction` is a serializable read-write transaction: the writes of
all the aggregates reached through its :class:`StoreTx` commit together or not at all, reads
through it see its own writes, and it commits when the ``with`` block ends without an exception
(rolls back otherwise, and also when the commit fails, raising
:class:`~sdk.errors.StoreUnavailable`: "nothing was written"). Write methods called on the
``Store``'s own aggregates (not through a ``StoreTx``) each run in a transaction of their own.
Reads outside a transaction see only committed data, at least everything committed before the
call started (read-your-writes across processes: a commit acknowledged by one process is visible
to the next read of any other process).

*Ledger.* :meth:`LedgerStorage.append` is the one way to write the ledger. It must

1. take the ledger's write lock *across processes and app instances* (SQLite: ``BEGIN
   IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock or a locked head row) before it
   reads anything, so that two writers never both see the same tail;
2. call ``build`` exactly once with a :class:`LedgerReads` bound to that transaction (the tail,
   the signed head and checkpoint in meta, the cached leaves), and
3. write the returned :class:`LedgerBatch` — its rows, its leaves (an upsert: earlier leaves
   computed from bodies may be included), and its meta values (the MAC'd head and the signed
   checkpoint) — and commit, all atomically; ``append`` returns only once the commit is as
   durable as the store's :class:`Durability` says. If ``build`` raises, nothing is written.

Rows are never updated or deleted through the seam (PostgreSQL enforces it in the database). Seq
numbers are dense from 1; :meth:`LedgerReads.tail` is one indexed read (the ``size`` of the
ledger), cheap enough to call before every serving call. Page reads (``entries``, ``raw``,
``with_leaves``) return at most ``limit`` rows with ``seq > after_seq`` in ascending seq order.

*Keys.* Compare-and-set writes (:meth:`KeyStorage.rotate`, :meth:`KeyStorage.rewrap_current`,
:meth:`KeyStorage.rewrap_old`) return whether they changed a row; :meth:`KeyStorage.create` never
overwrites an existing row (a key made by another process, or a tombstone, wins).
:meth:`KeyStorage.destroy` leaves a tombstone even for a subject that had no key.

*Erasure.* After :meth:`Store.purge_freed` returns True, no old version of a deleted or
overwritten row is left where the backend could read it back (SQLite: ``secure_delete`` plus a
truncating WAL checkpoint; PostgreSQL: ``VACUUM`` removed every dead row version of the personal
tables). False means another connection still pins them (an open read snapshot): the caller marks
the erasure pending and tries again later (:meth:`Store.on_commit` runs its hook after writes).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple, Protocol

__all__ = [
    "BlindIndexStorage",
    "Durability",
    "EntryRow",
    "EventRow",
    "EventStorage",
    "IndexLink",
    "IndexRetag",
    "IndexTagger",
    "IntegrityStorage",
    "KeyRow",
    "KeyState",
    "KeyStorage",
    "LeafOrBody",
    "LedgerBatch",
    "LedgerReads",
    "LedgerRow",
    "LedgerStorage",
    "LedgerTail",
    "MetaStorage",
    "ModelRow",
    "ModelStorage",
    "ProfileStorage",
    "ProtectedStorage",
    "RawRow",
    "ReadSource",
    "Store",
    "StoreTx",
    "SubjectIndexStorage",
    "VerifyRow",
    "WrappedKeyRow",
]


class Durability(StrEnum):
    """How hard a commit tries to survive a crash.

    ``FULL`` (the default): every group commit is fsynced before ``append`` returns; survives
    power loss. ``NORMAL``: SQLite WAL with ``synchronous=NORMAL`` (PostgreSQL:
    ``synchronous_commit=off``); survives a crash of the application process, but the last
    commits can be lost if the machine loses power.
    """

    FULL = "full"
    NORMAL = "normal"


# -- ledger rows --------------------------------------------------------------------------------

LedgerRow = tuple[int, str, str, str | None, str, bytes, bytes, bytes]
"""A row to insert: ``(seq, stream, kind, subject, ts, body, prev_hash, hash)``."""

EntryRow = tuple[int, str, str, str | None, str, bytes, bytes]
"""A row read for parsing: ``(seq, stream, kind, subject, ts, body, hash)``."""

RawRow = tuple[int, str, str, str | None, str, bytes, bytes, bytes]
"""A row as stored: ``(seq, stream, kind, subject, ts, prev_hash, hash, body)``; columns may be
malformed in a tampered store (the caller checks), so types are what the database returns."""

VerifyRow = tuple[int, str, str, str | None, str, bytes, bytes, bytes, bytes | None]
"""A row with its cached leaf: ``(seq, stream, kind, subject, ts, body, prev_hash, hash, leaf)``;
``leaf`` is None when no cached leaf exists."""

LeafOrBody = tuple[int, bytes | None, bytes | None]
"""``(seq, cached leaf or None, body if the leaf is missing else None)``."""


@dataclass(frozen=True, slots=True)
class ReadSource:
    """Where a verification worker reads the ledger: ``driver`` ``"sqlite"`` (``target`` = the
    file path) or ``"postgres"`` (``target`` = a libpq connection string), and the
    :meth:`LedgerStorage.with_leaves` query, whose parameters are ``(after_seq, limit)``;
    ``reader``: the path of :mod:`sdk._store.segment_reader`, which opens that connection."""

    driver: str
    target: str
    sql: str
    reader: str = ""


class LedgerTail(NamedTuple):
    """The last stored entry: its seq (the ledger's size), hash and timestamp text (a tuple:
    read before every serving call, so it is cheap to make)."""

    seq: int
    hash: bytes
    ts: str


@dataclass(frozen=True, slots=True)
class LedgerBatch:
    """What one ledger commit writes: entry rows, Merkle leaves ``(seq, leaf)`` (upserted) and
    ``whylens_meta`` values (the signed head and checkpoint), in one transaction."""

    rows: Sequence[LedgerRow]
    leaves: Sequence[tuple[int, bytes]]
    meta: Mapping[str, str] = field(default_factory=dict)


class LedgerReads(Protocol):
    """Reads a ledger commit needs; inside :meth:`LedgerStorage.append` they see locked state."""

    def tail(self) -> LedgerTail | None:
        """The last entry (None when the ledger is empty); one indexed read."""
        ...

    def meta(self, key: str) -> str | None:
        """A ``whylens_meta`` value (the signed head, the checkpoint note)."""
        ...

    def leaves(self, after: int, upto: int, limit: int) -> list[tuple[int, bytes]]:
        """Cached leaves with ``after < seq <= upto``, by seq, at most ``limit``."""
        ...

    def leaves_or_bodies(self, after: int, upto: int, limit: int) -> list[LeafOrBody]:
        """Every entry with ``after < seq <= upto`` (by seq, at most ``limit``): its cached leaf,
        or its body when no leaf is cached (a store written before the tree existed)."""
        ...

    def has_entry(self, *, subject: str, kind: str, after_seq: int) -> bool:
        """Is there an entry of ``subject`` of ``kind`` with ``seq > after_seq``? (indexed by
        subject; inside :meth:`LedgerStorage.append` it sees the locked chain)."""
        ...


class LedgerStorage(LedgerReads, Protocol):
    """The hash-chained log's rows, leaves, head and checkpoint (see the module docstring)."""

    def append(
        self, build: Callable[[LedgerReads], LedgerBatch], *, durable: bool = True
    ) -> LedgerBatch:
        """Under the cross-process ledger lock: ``build(reads)``, write its batch, commit.
        ``durable=False``: the commit need not be flushed before this returns (it survives a
        crash of the process; :meth:`sync` makes it survive a power loss)."""
        ...

    def sync(self) -> None:
        """Flush every commit so far to stable storage."""
        ...

    def count(self, stream: str | None = None) -> int:
        """How many entries, in all or in one stream."""
        ...

    def entry(self, seq: int) -> EntryRow | None:
        """Entry ``seq``, or None."""
        ...

    def entries(
        self,
        *,
        after_seq: int,
        limit: int,
        stream: str | None = None,
        subject: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[EntryRow]:
        """One page of entries after ``after_seq``, optionally filtered (``kinds`` non-empty)."""
        ...

    def raw(self, *, after_seq: int, limit: int) -> list[RawRow]:
        """One page of rows exactly as stored (exports, forensic tools)."""
        ...

    def with_leaves(self, *, after_seq: int, limit: int) -> list[VerifyRow]:
        """One page of rows with their cached leaves (the verification walk)."""
        ...

    def read_source(self) -> ReadSource | None:
        """How another process opens its own read connection to these rows (the parallel
        verification walk), or None when it cannot (an in-memory database)."""
        ...

    def body(self, seq: int) -> bytes | None:
        """The stored body of entry ``seq``."""
        ...

    def hash_at(self, seq: int) -> bytes | None:
        """The stored hash column of entry ``seq``."""
        ...


# -- meta ---------------------------------------------------------------------------------------


class MetaStorage(Protocol):
    """``whylens_meta``: small named settings (format, schema version, keyring fingerprint...)."""

    def get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        ...

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Every ``(key, value)`` whose key starts with ``prefix`` (literally: no wildcards)."""
        ...

    def set(self, key: str, value: str) -> None:
        """Insert or replace ``key``."""
        ...

    def set_default(self, key: str, value: str) -> None:
        """Insert ``key`` unless it exists (the first writer wins)."""
        ...


# -- subject keys -------------------------------------------------------------------------------

KeyRow = tuple[int, bytes | None, str | None, int]
"""``(kek_version, wrapped or None, erased or None, current DEK version)``."""

WrappedKeyRow = tuple[str, int, int, bytes]
"""``(pseudonym, DEK version, kek_version, wrapped)``."""


@dataclass(frozen=True, slots=True)
class KeyState:
    """Whether a subject's row holds a wrapped key, and when they were erased (None: not)."""

    has_key: bool
    erased: str | None


class KeyStorage(Protocol):
    """``subject_keys`` (current wrapped DEK or tombstone) and ``subject_old_keys``."""

    def current(self, pseudo: str) -> KeyRow | None:
        """The subject's current key row, or None if they have none."""
        ...

    def state(self, pseudo: str) -> KeyState | None:
        """Key present / erasure time, or None if the subject has no row."""
        ...

    def old_keys(self, pseudo: str, min_version: int) -> list[tuple[int, int, bytes]]:
        """``(version, kek_version, wrapped)`` of kept old DEKs with ``version >= min_version``."""
        ...

    def create(self, pseudo: str, kek_version: int, wrapped: bytes, created: str) -> None:
        """Insert the subject's first key unless a row (key or tombstone) exists."""
        ...

    def rotate(
        self,
        pseudo: str,
        *,
        expected: bytes,
        new_kek: int,
        new_wrapped: bytes,
        old_version: int,
        old_kek: int,
        created: str,
    ) -> bool:
        """Compare-and-set: if the current wrapped key is still ``expected`` (and not erased),
        replace it and keep the old one as ``old_version``; True if it did."""
        ...

    def destroy(self, pseudo: str, *, kek_version: int, now: str) -> int:
        """Tombstone the subject (wrapped NULL, first erasure time kept) and delete old keys;
        returns how many wrapped keys were destroyed."""
        ...

    def current_below(
        self, kek_version: int, after: tuple[str, int], limit: int
    ) -> list[WrappedKeyRow]:
        """Current keys not under ``kek_version``, ordered by pseudonym, after ``after``."""
        ...

    def old_below(
        self, kek_version: int, after: tuple[str, int], limit: int
    ) -> list[WrappedKeyRow]:
        """Old keys not under ``kek_version``, ordered by (pseudonym, version), after ``after``."""
        ...

    def rewrap_current(
        self, pseudo: str, *, expected: bytes, new_kek: int, new_wrapped: bytes
    ) -> bool:
        """Compare-and-set the current wrapped key; True if it changed."""
        ...

    def rewrap_old(
        self, pseudo: str, version: int, *, expected: bytes, new_kek: int, new_wrapped: bytes
    ) -> bool:
        """Compare-and-set one old wrapped key; True if it changed."""
        ...

    def count_below(self, kek_version: int) -> int:
        """How many wrapped keys (current and old) are under a KEK older than ``kek_version``."""
        ...


# -- personal data ------------------------------------------------------------------------------


class ProfileStorage(Protocol):
    """``profile_fields``: one ciphertext per (pseudonym, field)."""

    def upsert(self, pseudo: str, fields: Sequence[tuple[str, bytes]], updated: str) -> None:
        """Insert or replace the given ``(field, ciphertext)`` of the subject."""
        ...

    def fields(self, pseudo: str) -> list[tuple[str, bytes]]:
        """Every ``(field, ciphertext)`` of the subject, by field name."""
        ...

    def replace(self, updates: Sequence[tuple[str, str, bytes]]) -> None:
        """Set ``(pseudo, field, ciphertext)`` of existing rows."""
        ...

    def compare_and_set(self, updates: Sequence[tuple[str, str, bytes, bytes]]) -> None:
        """``(pseudo, field, new, expected)``: set where the stored ciphertext is ``expected``."""
        ...

    def of_live_subjects(self, field: str) -> list[tuple[str, bytes]]:
        """``(pseudo, ciphertext)`` of ``field`` for every subject that still has a key."""
        ...

    def delete_subject(self, pseudo: str) -> int:
        """Delete every field of the subject; returns how many."""
        ...


class IntegrityStorage(Protocol):
    """``subject_integrity``: one sealed integrity record per subject (a version counter and the
    commitment to its profile fields and events; see :mod:`sdk.subjects.integrity`)."""

    def get(self, pseudo: str) -> tuple[int, bytes] | None:
        """``(version, seal)`` of the subject, if it has a record."""
        ...

    def put(self, pseudo: str, version: int, seal: bytes) -> None:
        """Insert or replace the subject's record."""
        ...

    def delete(self, pseudo: str) -> int:
        """Delete the subject's record (erasure); returns how many rows (0 or 1)."""
        ...


EventRow = tuple[str, str, str, str, bytes]
"""``(event_id, kind, purpose, ts, ciphertext)``."""


class EventStorage(Protocol):
    """``personal_events``: encrypted behavioural events."""

    def insert(
        self, event_id: str, pseudo: str, kind: str, purpose: str, ts: str, ciphertext: bytes
    ) -> None:
        """Store one event."""
        ...

    def of_subject(
        self, pseudo: str, *, kind: str | None = None, purpose: str | None = None
    ) -> list[EventRow]:
        """The subject's events by (ts, event_id), optionally of one kind or purpose."""
        ...

    def stale(self, pseudo: str, header: bytes, min_version: int, limit: int) -> list[EventRow]:
        """Up to ``limit`` events whose ciphertext does not start with ``header`` (the current
        6-byte field header) and whose key version (bytes 3-6, big-endian) is >= ``min_version``:
        the ones lazy rotation re-encrypts."""
        ...

    def replace(self, updates: Sequence[tuple[str, bytes]]) -> None:
        """Set ``(event_id, ciphertext)``."""
        ...

    def delete_subject(self, pseudo: str) -> int:
        """Delete every event of the subject; returns how many."""
        ...


class BlindIndexStorage(Protocol):
    """``blind_index``: one keyed token per (index name, pseudonym)."""

    def upsert(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        """Insert or replace ``(name, pseudo, token)``."""
        ...

    def delete(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Delete ``(name, pseudo)`` entries."""
        ...

    def rebuild(self, name: str, entries: Sequence[tuple[str, bytes]]) -> None:
        """Replace the whole index ``name`` by ``(pseudo, token)`` entries."""
        ...

    def find(self, name: str, token: bytes) -> list[str]:
        """Pseudonyms whose token in index ``name`` is ``token``, sorted."""
        ...

    def delete_subject(self, pseudo: str) -> int:
        """Delete the subject from every index; returns how many entries."""
        ...


IndexTagger = Callable[[bytes, str], bytes]
"""``(token, pseudonym) -> tag`` of a ``subject_index`` row (keyed: computed above the seam)."""

IndexRetag = Callable[[bytes, str, bytes], bytes | None]
"""``(token, new pseudonym, stored tag) -> the tag of the token's new link``, or None when the
stored tag is not the row's own (a forged row: left as it is)."""


class IndexLink(NamedTuple):
    """One ``subject_index`` row as read: the pseudonym a token leads to, and the row's tag."""

    subject: str
    tag: bytes


class SubjectIndexStorage(Protocol):
    """``subject_index``: the keyed token of a subject id → the subject's random pseudonym, with
    a tag over both (checked above the seam, which holds no key)."""

    def lookup(self, token: bytes) -> IndexLink | None:
        """The link of ``token``, or None (one primary-key read)."""
        ...

    def claim(self, token: bytes, pseudo: str, tag: bytes) -> IndexLink:
        """Link ``token`` to ``pseudo`` (with ``tag``) unless it is linked already; returns the
        link that holds it (another writer's, if it won the race)."""
        ...

    def claim_many(self, claims: Sequence[tuple[bytes, str, bytes]]) -> list[IndexLink]:
        """:meth:`claim` for each ``(token, pseudo, tag)``, in one transaction (one durable
        commit for many new subjects); the links that hold them, in order."""
        ...

    def unlink(
        self, pseudo: str, replacement: str, *, retag: IndexRetag, kek_version: int, created: str
    ) -> int:
        """In one transaction: re-point every token of ``pseudo`` that ``retag`` accepts to
        ``replacement`` (with the tag ``retag`` gives), give ``replacement`` a key tombstone
        without an erasure date, then write every tombstone and every row leading to one anew,
        in key order, so no row's physical place or writing transaction (PostgreSQL ``xmin``,
        ``ctid``) tells which was re-pointed when. Returns how many tokens moved; when none
        does, nothing is written."""
        ...

    def in_use(self, pseudo: str) -> bool:
        """True if ``pseudo`` has a key row or a ledger entry (one read)."""
        ...

    def tokens(self) -> list[bytes]:
        """Every token in the index (the pseudonym-key migration)."""
        ...

    def forget(self, tokens: Sequence[bytes]) -> int:
        """Delete the rows of ``tokens``; how many there were."""
        ...


class ProtectedStorage(Protocol):
    """``protected_attributes``: encrypted attributes for bias audits."""

    def names(self) -> set[str]:
        """Every attribute name stored."""
        ...

    def put(self, rows: Sequence[tuple[str, str, bytes, str]]) -> None:
        """Insert or replace ``(pseudo, name, ciphertext, updated)``."""
        ...

    def values(self, name: str) -> list[tuple[str, bytes]]:
        """``(pseudo, ciphertext)`` of attribute ``name``."""
        ...

    def delete_subject(self, pseudo: str) -> int:
        """Delete every attribute of subject ``pseudo`` (erasure); how many rows went."""
        ...


# -- models -------------------------------------------------------------------------------------

ModelRow = tuple[str, bytes, str]
"""``(content_hash, model_text, card_json)``."""


class ModelStorage(Protocol):
    """``models``: trained model versions (trees, content hash, card)."""

    def latest_version(self, name: str) -> int | None:
        """The highest version of ``name``, or None."""
        ...

    def insert(
        self, name: str, version: int, kind: str, content_hash: str, model_text: bytes, card: str
    ) -> None:
        """Store a new version (a version that exists raises the backend's integrity error as
        :class:`~sdk.errors.StoreError`)."""
        ...

    def get(self, name: str, version: int) -> ModelRow | None:
        """One version, or None."""
        ...

    def cards(self) -> list[str]:
        """The card JSON of every version, by name then version."""
        ...


# -- the store ----------------------------------------------------------------------------------


class StoreTx(Protocol):
    """The aggregates inside one :meth:`Store.transaction` (all commit together)."""

    @property
    def keys(self) -> KeyStorage:
        """Subject keys."""
        ...

    @property
    def profiles(self) -> ProfileStorage:
        """Profile fields."""
        ...

    @property
    def events(self) -> EventStorage:
        """Personal events."""
        ...

    @property
    def integrity(self) -> IntegrityStorage:
        """Per-subject integrity records."""
        ...

    @property
    def blind_index(self) -> BlindIndexStorage:
        """Blind indexes."""
        ...

    @property
    def subject_index(self) -> SubjectIndexStorage:
        """Subject id tokens → pseudonyms."""
        ...

    @property
    def protected(self) -> ProtectedStorage:
        """Protected attributes."""
        ...

    @property
    def models(self) -> ModelStorage:
        """The model registry's rows."""
        ...

    @property
    def meta(self) -> MetaStorage:
        """``whylens_meta``."""
        ...


class Store(Protocol):
    """One whylens database, whatever the backend."""

    @property
    def url(self) -> str:
        """Where it lives, safe to show (a path, or a URL without password)."""
        ...

    @property
    def path(self) -> Path | None:
        """The database file for embedded backends, else None."""
        ...

    @property
    def durability(self) -> Durability:
        """The commit mode."""
        ...

    @property
    def ledger(self) -> LedgerStorage:
        """The ledger's rows, leaves, head and checkpoint."""
        ...

    @property
    def keys(self) -> KeyStorage:
        """Subject keys."""
        ...

    @property
    def profiles(self) -> ProfileStorage:
        """Profile fields."""
        ...

    @property
    def events(self) -> EventStorage:
        """Personal events."""
        ...

    @property
    def integrity(self) -> IntegrityStorage:
        """Per-subject integrity records."""
        ...

    @property
    def blind_index(self) -> BlindIndexStorage:
        """Blind indexes."""
        ...

    @property
    def subject_index(self) -> SubjectIndexStorage:
        """Subject id tokens → pseudonyms."""
        ...

    @property
    def protected(self) -> ProtectedStorage:
        """Protected attributes."""
        ...

    @property
    def models(self) -> ModelStorage:
        """The model registry's rows."""
        ...

    @property
    def meta(self) -> MetaStorage:
        """``whylens_meta``."""
        ...

    def transaction(self) -> AbstractContextManager[StoreTx]:
        """A read-write transaction across aggregates (see the module docstring)."""
        ...

    def purge_freed(self, *, patience: float = 0.0) -> bool:
        """Make deleted rows' bytes leave the store's files, retrying for up to ``patience``
        seconds; False if some may remain (see the module docstring)."""
        ...

    def on_commit(self, hook: Callable[[], None] | None) -> None:
        """Call ``hook`` after each committed write transaction of this process (``None``
        removes it); the hook runs outside the store's locks and must be cheap when idle."""
        ...

    def close(self) -> None:
        """Release connections. Idempotent; every later call raises StoreUnavailable."""
        ...
