"""The PostgreSQL :class:`~sdk._store.abc.Store`: a connection pool, its aggregates, transactions.

Any number of processes and hosts may open the same database. The ledger serializes its appends
on an advisory lock (:mod:`.ledger`); the store's multi-statement transactions on another
(:func:`~.execs.locked_transaction`); reads never wait for either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import StoreUnavailable
from ..abc import Durability, IndexTagger
from .connect import PgTarget, open_pool, parse_url
from .database import PgDatabase
from .execs import AutoExec, Exec, PgMeta, TxExec, locked_transaction
from .index import PgSubjectIndex
from .keys import PgKeys
from .ledger import PgLedger
from .records import (
    PgBlindIndex,
    PgEvents,
    PgIntegrity,
    PgModels,
    PgProfiles,
    PgProtected,
)
from .schema_setup import bring_up, read_meta

__all__ = ["PgStore", "PgStoreTx", "inspect"]

logger = logging.getLogger(__name__)

# tables that hold a subject's bytes; subject_keys first: its old row version holds the wrapped key
_PURGED_TABLES = (
    "subject_keys",
    "subject_old_keys",
    "profile_fields",
    "personal_events",
    "blind_index",
    "protected_attributes",
    "subject_integrity",
    "subject_index",
)
_DEAD = re.compile(r"(\d+) are dead but not yet removable")


class _Aggregates:
    """Every aggregate but the ledger, over one executor."""

    def __init__(self, x: Exec) -> None:
        self._keys = PgKeys(x)
        self._profiles = PgProfiles(x)
        self._events = PgEvents(x)
        self._integrity = PgIntegrity(x)
        self._blind_index = PgBlindIndex(x)
        self._subject_index = PgSubjectIndex(x)
        self._protected = PgProtected(x)
        self._models = PgModels(x)
        self._meta = PgMeta(x)

    @property
    def keys(self) -> PgKeys:
        """Subject keys."""
        return self._keys

    @property
    def profiles(self) -> PgProfiles:
        """Profile fields."""
        return self._profiles

    @property
    def events(self) -> PgEvents:
        """Personal events."""
        return self._events

    @property
    def integrity(self) -> PgIntegrity:
        """Per-subject integrity records."""
        return self._integrity

    @property
    def blind_index(self) -> PgBlindIndex:
        """Blind indexes."""
        return self._blind_index

    @property
    def subject_index(self) -> PgSubjectIndex:
        """Subject id tokens → pseudonyms."""
        return self._subject_index

    @property
    def protected(self) -> PgProtected:
        """Protected attributes."""
        return self._protected

    @property
    def models(self) -> PgModels:
        """The model registry's rows."""
        return self._models

    @property
    def meta(self) -> PgMeta:
        """``whylens_meta``."""
        return self._meta


class PgStoreTx(_Aggregates):
    """One open transaction (:class:`~sdk._store.abc.StoreTx`), holding the store's write lock."""

    def __init__(self, conn: Any) -> None:
        super().__init__(TxExec(conn))
        self.conn = conn
        """The driver connection (tools and tests)."""


class PgStore(_Aggregates):
    """A whylens database on a PostgreSQL server (:class:`~sdk._store.abc.Store`)."""

    def __init__(self, db: PgDatabase, durability: Durability) -> None:
        super().__init__(AutoExec(db))
        self.db = db
        self._durability = durability
        self._ledger = PgLedger(db, durable=durability is Durability.FULL)
        self._after_commit: Callable[[], None] | None = None

    @classmethod
    def open(
        cls,
        url: str,
        *,
        durability: Durability = Durability.FULL,
        index_tag: IndexTagger | None = None,
    ) -> PgStore:
        """Connect to ``url``, creating the schema in an empty database or upgrading an older
        one. Raises :class:`~sdk.errors.StoreUnavailable` (naming the server, never the
        password) if it does not answer, :class:`~sdk.errors.NotAWhylensDatabase` for a
        database with foreign tables or a newer schema (left untouched)."""
        target = parse_url(url)
        bring_up(target, index_tag)
        return cls(PgDatabase(target, open_pool(target)), Durability(durability))

    @property
    def url(self) -> str:
        """The server and database, without the password."""
        return self.db.describe()

    @property
    def path(self) -> Path | None:
        """None: a server database has no file."""
        return None

    @property
    def durability(self) -> Durability:
        """The commit mode."""
        return self._durability

    @property
    def ledger(self) -> PgLedger:
        """The ledger's rows, leaves, head and checkpoint."""
        return self._ledger

    @contextmanager
    def transaction(self) -> Iterator[PgStoreTx]:
        """A read-write transaction across aggregates, holding the store's write lock."""
        with locked_transaction(self.db) as conn:
            yield PgStoreTx(conn)
        hook = self._after_commit
        if hook is not None:
            hook()

    def on_commit(self, hook: Callable[[], None] | None) -> None:
        """Call ``hook`` after every committed :meth:`transaction` of this process."""
        self._after_commit = hook

    def purge_freed(self, *, patience: float = 0.0) -> bool:
        """``VACUUM`` the personal tables; True if no dead row version is left in them.

        An open snapshot in any session (a long report, a ``REPEATABLE READ`` transaction)
        keeps VACUUM from removing the old version of an erased subject's key row; VACUUM then
        reports it as "dead but not yet removable" and this returns False (fail closed: a report
        it cannot read counts as not removed). VACUUM makes the space reusable but does not zero
        it, and WAL segments, replicas and base backups keep the bytes until they are recycled:
        that part rests on crypto-shredding and on KEK rotation (``docs/reference/subjects.md``).
        ``patience`` is accepted for the protocol; one VACUUM pass is made per call.
        """
        del patience
        unremovable = 0
        reports = 0
        messages: list[str] = []

        def collect(diag: Any) -> None:
            messages.append(str(diag.message_primary or ""))

        with self.db.connection() as conn:
            conn.add_notice_handler(collect)
            try:
                for table in _PURGED_TABLES:
                    conn.execute(f"VACUUM (VERBOSE) {table}")
            finally:
                conn.remove_notice_handler(collect)
        for message in messages:
            for found in _DEAD.finditer(message):
                reports += 1
                unremovable += int(found.group(1))
        # every table (and its TOAST table) reports; fewer reports means another wording
        return reports >= len(_PURGED_TABLES) and unremovable == 0

    def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        self.db.close()

    def __repr__(self) -> str:
        return f"PgStore({self.url!r})"


def inspect(url: str) -> dict[str, str] | None:
    """The ``whylens_meta`` of the store at ``url``, read without changing anything.

    None when the database has no whylens store yet: no tables, or only a schema prepared ahead
    of time (migrated, but never opened: no keyring claimed it and the ledger is empty).
    """
    import psycopg

    target: PgTarget = parse_url(url)
    try:
        with psycopg.connect(target.conninfo(), autocommit=True) as conn:
            meta = read_meta(conn, target.describe())
            if meta is not None and "keyring_fingerprint" not in meta:
                empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM ledger)").fetchone()
                if empty is not None and empty[0]:
                    return None
            return meta
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot connect to the PostgreSQL server {target.describe()}: "
            f"{target.scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}. "
            "Check the server runs and the database exists."
        ) from None
