"""Random pseudonyms behind a deletable blind index, so an erased id leads nowhere.

A subject's pseudonym is 128 random bits (32 hex characters). The only link from the id to it is
one ``subject_index`` row keyed by ``token = HMAC-SHA256(pseudonym key,
"whylens.subject-index.v1\\0" + id)``. Erasure re-points that row, in the erasure's transaction,
to a fresh random pseudonym that holds only a key tombstone without a date: later uses of the id
still say :class:`~sdk.errors.SubjectErased`, but nothing reachable from the id and the keyring
(the attacker who holds both) leads to the erased person's ledger entries any more.

Each row carries ``tag = HMAC-SHA256(tag key, token || pseudonym)`` (:func:`index_tag`, the tag
key derived from the pseudonym key), checked on every lookup: a database-only attacker who swaps
two rows (so one id reads, exports and erases another person's data) or points a row elsewhere
gets :class:`~sdk.errors.SubjectDataTampered`, and nothing is read or changed. The re-pointing
happens in a transaction of its own, after the key was destroyed (so on PostgreSQL the two rows
carry different ``xmin``), and rewrites every erased id's row (see
:mod:`sdk._store.subject_index_sql`).

Lookups are one primary-key read, cached in memory. Another process may hold the old pseudonym
in its cache; every read of the subject's data key sees the tombstone, says SubjectErased and
drops that entry (:meth:`Pseudonyms.forget`), and so does the ledger's next catch-up in that
process (:class:`ErasureWatch` follows the ``subjects`` stream).

Stores made before schema 3 (marked ``pseudonyms = hmac-v1``) named subjects by
``HMAC(pseudonym key, id)`` (:func:`sdk.crypto.field.pseudonym`); on a lookup miss that name is
used, and indexed, only if it already has a key or ledger entries. Those people stay linkable by
recomputation until ``whylens keys migrate-pseudonyms`` rebuilds the index under a new key and
destroys the old one (:mod:`sdk.keys.pseudonym_migration`).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from ..errors import StoreUnavailable, SubjectDataTampered
from .ids import validate_subject_id

if TYPE_CHECKING:
    from .._store.abc import IndexLink, Store

__all__ = [
    "ERASED_KIND",
    "LEGACY_MARK",
    "ErasureWatch",
    "Pseudonyms",
    "checked",
    "index_tag",
    "retagger",
    "subject_token",
]

ERASED_KIND = "subject.erased"
"""The ledger entry kind of an erasure (``sdk.subjects.erasure_state.ERASED``)."""

LEGACY_MARK = ("pseudonyms", "hmac-v1")
"""``whylens_meta`` entry of a store migrated with HMAC-named subjects in it."""
_TOKEN_DOMAIN = b"whylens.subject-index.v1\x00"
_TAG_KEY_DOMAIN = b"whylens.subject-index.tag-key.v1"
_TAG_DOMAIN = b"whylens.subject-index.tag.v1\x00"
_CACHE_MAX = 100_000
_ERASED_HERE_MAX = 1_024
# the replacement's tombstone carries no time: a timestamp would match the erasure's own
_NO_DATE = "1970-01-01T00:00:00Z"


def subject_token(key: bytes, subject: str) -> bytes:
    """The 32-byte ``subject_index`` token of a (validated) subject id."""
    return hmac.new(key, _TOKEN_DOMAIN + subject.encode("utf-8"), hashlib.sha256).digest()


def _tag_key(key: bytes) -> bytes:
    return hmac.new(key, _TAG_KEY_DOMAIN, hashlib.sha256).digest()


def index_tag(key: bytes, token: bytes, pseudo: str) -> bytes:
    """The tag of the ``subject_index`` row ``token -> pseudo`` under pseudonym key ``key``
    (its own derived key: a tag is never a token). Tokens are 32 bytes, so the join is exact."""
    message = _TAG_DOMAIN + token + pseudo.encode("utf-8")
    return hmac.new(_tag_key(key), message, hashlib.sha256).digest()


def checked(key: bytes, token: bytes, link: IndexLink | None) -> str | None:
    """The pseudonym ``link`` (the row of ``token``) leads to, once its tag is checked;
    :class:`SubjectDataTampered` if it is not the row's own."""
    if link is None:
        return None
    if not hmac.compare_digest(link.tag, index_tag(key, token, link.subject)):
        raise SubjectDataTampered(
            "this subject id's row in the subject index does not carry its own tag: the row was "
            "edited, swapped or copied in the database. Nothing was read or changed; restore "
            "the store from a backup you trust"
        )
    return link.subject


def retagger(
    keys: Sequence[bytes], pseudo: str
) -> Callable[[bytes, str, bytes], bytes | None]:
    """For :meth:`~sdk._store.abc.SubjectIndexStorage.unlink`: the tag of ``token ->
    replacement`` for a row whose tag proves (under one of ``keys``) it was ``token -> pseudo``,
    under that same key; None for any other row."""

    def retag(token: bytes, replacement: str, tag: bytes) -> bytes | None:
        for key in keys:
            if hmac.compare_digest(tag, index_tag(key, token, pseudo)):
                return index_tag(key, token, replacement)
        return None

    return retag


def _random_pseudonym() -> str:
    return secrets.token_hex(16)


class Pseudonyms:
    """Subject id → pseudonym for one store (``SubjectKeys.pseudonym`` uses it)."""

    def __init__(self, db: Store, key: bytes) -> None:
        self._db = db
        self._key = key
        self._legacy = db.meta.get(LEGACY_MARK[0]) == LEGACY_MARK[1]
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, str] = OrderedDict()
        self._claims = _GroupClaims(db)
        self._tokens: dict[str, bytes] = {}
        # erased pseudonyms this instance had cached, so that erase() again returns the first
        # receipt; held in memory only (the store keeps no link), bounded, lost on close
        self._erased_here: OrderedDict[bytes, str] = OrderedDict()

    def of(self, subject: str, *, create: bool = True) -> str:
        """The pseudonym of ``subject``. A new id gets one (committed, race-safe) if ``create``;
        otherwise a random pseudonym that nothing is stored under, and nothing is written."""
        plain = validate_subject_id(subject)
        token = subject_token(self._key, plain)
        with self._lock:
            hit = self._cache.get(token)
            if hit is not None:
                self._cache.move_to_end(token)
                return hit
        key = self._key
        pseudo = checked(key, token, self._db.subject_index.lookup(token))
        if pseudo is None:
            pseudo = self._legacy_pseudonym(plain)
            if pseudo is None:
                if not create:
                    return _random_pseudonym()
                pseudo = _random_pseudonym()
            # insert-or-ignore then re-read: two processes racing for one id agree
            won = self._claims.claim(token, pseudo, index_tag(key, token, pseudo))
            pseudo = checked(key, token, won)
            assert pseudo is not None
        self._remember(token, pseudo)
        return pseudo

    def to_erase(self, subject: str) -> str:
        """The pseudonym an erasure of ``subject`` acts on: the one this instance erased, if it
        erased the id (so the first receipt is returned again), else :meth:`of`."""
        token = subject_token(self._key, validate_subject_id(subject))
        with self._lock:
            earlier = self._erased_here.get(token)
        return earlier if earlier is not None else self.of(subject)

    def unlink(self, pseudo: str, *, kek_version: int) -> int:
        """After the erasure's transaction, in one of its own: point the id's token at a fresh
        pseudonym that holds only a tombstone, so the id no longer reaches ``pseudo``. Does
        nothing (returns 0) when no row with its own tag leads to ``pseudo`` any more."""
        moved = self._db.subject_index.unlink(
            pseudo,
            _random_pseudonym(),
            retag=retagger((self._key,), pseudo),
            kek_version=kek_version,
            created=_NO_DATE,
        )
        self.forget(pseudo)
        return moved

    def forget(self, pseudo: str) -> None:
        """Drop ``pseudo`` from the cache (its key row says it was erased, or its id's row was
        re-pointed); an erasure of its id by this instance then returns the first receipt."""
        with self._lock:
            token = self._tokens.pop(pseudo, None)
            if token is not None:
                self._cache.pop(token, None)
                self._erased_here[token] = pseudo
                while len(self._erased_here) > _ERASED_HERE_MAX:
                    self._erased_here.popitem(last=False)

    def rekey(self, key: bytes) -> None:
        """Use ``key`` for tokens from now on (after the pseudonym migration replaced it)."""
        self.clear()
        with self._lock:
            self._key = key
            self._legacy = self._db.meta.get(LEGACY_MARK[0]) == LEGACY_MARK[1]

    def clear(self) -> None:
        """Drop every cached pseudonym and erasure memo."""
        with self._lock:
            self._cache.clear()
            self._tokens.clear()
            self._erased_here.clear()

    def _legacy_pseudonym(self, subject: str) -> str | None:
        if not self._legacy:
            return None
        from ..crypto.field import pseudonym

        old = pseudonym(self._key, subject)
        return old if self._db.subject_index.in_use(old) else None

    def _remember(self, token: bytes, pseudo: str) -> None:
        with self._lock:
            self._cache[token] = pseudo
            self._tokens[pseudo] = token
            while len(self._cache) > _CACHE_MAX:
                _, old = self._cache.popitem(last=False)
                self._tokens.pop(old, None)


class _Claim:
    """One caller's new (token, pseudonym), waiting for the transaction that carries it."""

    __slots__ = ("done", "error", "pseudo", "result", "tag", "token", "wake")

    def __init__(self, token: bytes, pseudo: str, tag: bytes) -> None:
        self.token, self.pseudo, self.tag = token, pseudo, tag
        self.wake = threading.Event()
        self.result: IndexLink | None = None
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> IndexLink:
        if self.error is not None:
            try:
                mine = copy.copy(self.error)
            except Exception:  # pragma: no cover - exotic exception types
                raise StoreUnavailable("the subject index commit failed") from self.error
            raise mine from self.error
        assert self.result is not None
        return self.result


class _GroupClaims:
    """Group commit of new subjects' index rows: while one caller's transaction commits, the
    ones that arrive wait, and the next transaction carries all of them (one durable commit for
    many concurrent first grants instead of one each). Each caller returns only after the
    transaction holding its row committed, as with a claim of its own."""

    def __init__(self, db: Store) -> None:
        self._db = db
        self._cond = threading.Lock()
        self._queue: list[_Claim] = []
        self._leading = False

    def claim(self, token: bytes, pseudo: str, tag: bytes) -> IndexLink:
        mine = _Claim(token, pseudo, tag)
        with self._cond:
            self._queue.append(mine)
            lead = not self._leading
            if lead:
                self._leading = True
                batch, self._queue = self._queue, []
        if not lead:
            mine.wake.wait()  # our batch committed, or the last leader handed over to us
            if mine.done:
                return mine.outcome()
            with self._cond:
                batch, self._queue = self._queue, []
        try:
            held = self._db.subject_index.claim_many(
                [(c.token, c.pseudo, c.tag) for c in batch]
            )
            for c, link in zip(batch, held, strict=True):
                c.result = link
        except BaseException as exc:
            for c in batch:
                c.error = exc
            raise
        finally:
            with self._cond:
                for c in batch:
                    c.done = True
                    c.wake.set()
                if self._queue:
                    self._queue[0].wake.set()  # the next leader
                else:
                    self._leading = False
        return mine.outcome()


class _Entry(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def subject(self) -> str | None: ...


class ErasureWatch:
    """A ledger view of the ``subjects`` stream: when any process erases a subject, this process
    drops the cached pseudonym, so its next look-up of the id reads the re-pointed index row."""

    def __init__(self, pseudonyms: Pseudonyms) -> None:
        self._pseudonyms = pseudonyms

    def apply(self, entry: _Entry) -> None:
        """Fold one entry."""
        if entry.kind == ERASED_KIND and entry.subject is not None:
            self._pseudonyms.forget(entry.subject)

    def reset(self) -> None:
        """Nothing to forget: the view holds no state of its own."""
