"""The SQLite file: one connection, serialized by a lock, explicit transactions, checked opening.

Connections run in WAL mode with ``secure_delete`` on (so erased bytes are overwritten, not left in
free pages). An existing file is checked *read-only* before it is opened for writing, so pointing
whylens at someone else's SQLite file or a corrupt one changes nothing in it. A new file gets the
schema of :mod:`sdk._store.schema`; an older whylens file is migrated in place (Alembic, one
``BEGIN IMMEDIATE`` transaction) before the connection is handed out.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import ConfigurationError, NotAWhylensDatabase, StoreUnavailable
from ..abc import Durability, IndexTagger
from ..version import FORMAT_NAME, SCHEMA_VERSION

__all__ = ["Connection", "RawTx", "check_database", "migrate"]


class Connection:
    """A whylens SQLite file: one connection, serialized by a lock, with explicit transactions."""

    def __init__(self, path: Path, conn: sqlite3.Connection, durability: Durability) -> None:
        self.path = path
        self.url = str(path)
        self.durability = durability
        self._conn = conn
        self._lock = threading.RLock()
        self._closed = False
        self._after_commit: Callable[[], None] | None = None

    @classmethod
    def connect(
        cls, path: Path, durability: Durability, index_tag: IndexTagger | None = None
    ) -> sqlite3.Connection:
        """Check (read-only), create or migrate the file at ``path``; the open raw connection."""
        is_new = not path.exists() or path.stat().st_size == 0
        if is_new:
            _create_private(path)
        version = None if is_new else check_database(path)["schema_version"]
        if version != str(SCHEMA_VERSION):
            migrate(path, index_tag)
        try:
            conn = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"cannot open database {path.name!r}: {exc}. Check the folder exists and is "
                "writable."
            ) from exc
        try:
            _configure(conn, durability)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreUnavailable(f"cannot initialise database {path.name!r}: {exc}") from exc
        _make_private(path)
        return conn

    # -- access -------------------------------------------------------------------------------

    def on_commit(self, hook: Callable[[], None] | None) -> None:
        """Call ``hook`` after every committed write transaction of this connection (outside
        the lock; the hook must be cheap when it has nothing to do)."""
        self._after_commit = hook

    @contextmanager
    def raw_transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): commits on success, rolls back on error.

        ``durable=False``: this commit is not fsynced (``synchronous=NORMAL`` for it): it
        survives a crash of the process, and the next durable commit or :meth:`sync` makes it
        survive a power loss too."""
        with self._transaction(relaxed=not durable) as conn:
            yield conn
        hook = self._after_commit
        if hook is not None:
            hook()

    def sync(self) -> None:
        """Make every commit so far survive a power loss: one tiny durable commit, whose WAL
        fsync covers every frame before it. (Never by opening the files here: closing any
        descriptor of them would drop SQLite's POSIX locks in this process.)"""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO whylens_meta (key, value) VALUES ('ledger_flushed', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(time.time()),),
            )

    @contextmanager
    def _transaction(self, *, relaxed: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._ensure_open()
            relax = relaxed and self.durability is Durability.FULL
            if relax:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._begun() as conn:
                    yield conn
            finally:
                if relax:
                    self._conn.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _begun(self) -> Iterator[sqlite3.Connection]:
        # the caller holds self._lock
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot start a write transaction: {exc}") from exc
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK")
            raise StoreUnavailable(f"commit failed, nothing was written: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query and return all rows."""
        with self._lock:
            self._ensure_open()
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise NotAWhylensDatabase(
                    f"database {self.path.name!r} could not be read ({exc}); it may be corrupt"
                ) from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """Run a read query and return the first row, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file (and truncate it)."""
        with self._lock:
            self._ensure_open()
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def purge_freed(self, *, patience: float = 0.0) -> bool:
        """Fold the WAL into the file and truncate it (``secure_delete`` already zeroed the
        freed cells and pages there); retried with backoff for up to ``patience`` seconds.

        False if another connection (any process) kept the checkpoint from finishing: a reader
        whose snapshot predates the deletions pins the old pages in the WAL, so the deleted
        bytes are still on disk. Never waits on the 10 s busy timeout of ordinary writes.
        """
        deadline = time.monotonic() + max(0.0, patience)
        delay = 0.005
        while True:
            if self._truncate_wal():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _truncate_wal(self) -> bool:
        with self._lock:
            self._ensure_open()
            self._conn.execute("PRAGMA busy_timeout=0")
            try:
                row = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:
                row = None  # a writer holds the lock right now
            finally:
                self._conn.execute("PRAGMA busy_timeout=10000")
        # (busy, frames in the WAL, frames checkpointed): TRUNCATE reports (0, 0, 0) only once
        # every frame is in the file and the WAL was reset to zero bytes
        return row is not None and tuple(row) == (0, 0, 0)

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the database is closed; open a new Personalizer")


class RawTx:
    """Plain statements inside a transaction (SQLite-level: the backend and byte-level tests)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, rows)

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO whylens_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _create_private(path: Path) -> None:
    # SQLite creates the file with 0644 & ~umask and gives -wal/-shm the main file's mode, so a
    # file made 0600 first keeps the database, its WAL and shared memory private to the owner
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return  # sqlite3.connect reports the folder problem with its own message
    try:
        os.fchmod(fd, 0o600)  # the umask can only remove bits; be explicit
    finally:
        os.close(fd)


def _make_private(path: Path) -> None:
    # -wal/-shm made by an older version (or another tool) under a permissive umask
    for name in (f"{path}-wal", f"{path}-shm"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError:
            continue


def _configure(conn: sqlite3.Connection, durability: Durability) -> None:
    sync = "FULL" if durability is Durability.FULL else "NORMAL"
    conn.execute("PRAGMA busy_timeout=10000")
    _switch_to_wal(conn)
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA foreign_keys=ON")
    # reads (verification walks every entry) go through memory-mapped I/O: about 1.5x faster
    # fetches of 2 KB ledger bodies; writes are unaffected
    conn.execute("PRAGMA mmap_size=268435456")


def _switch_to_wal(conn: sqlite3.Connection, *, patience: float = 10.0) -> None:
    # Changing the journal mode takes an exclusive lock and SQLite does not run the busy
    # handler for it: another process opening (or migrating) the file at the same moment
    # makes it fail at once with "database is locked". Retry until the other one is done.
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def migrate(path: Path, index_tag: IndexTagger | None = None) -> None:
    """Create the schema in a new file or upgrade an older whylens file, in one transaction
    (``index_tag``: see :func:`sdk._store.migrate.bring_to_head`)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    from ..migrate import bring_to_head

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)
    # the driver's own transaction handling would commit DDL early; take the write lock first
    event.listen(engine, "begin", lambda c: c.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with engine.begin() as conn:
            bring_to_head(conn, index_tag=index_tag)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot initialise database {path.name!r}: {exc}") from exc
    except Exception as exc:
        if isinstance(exc, NotAWhylensDatabase | StoreUnavailable | ConfigurationError):
            raise
        orig = getattr(exc, "orig", None)
        if isinstance(orig, sqlite3.Error):
            raise StoreUnavailable(f"cannot initialise database {path.name!r}: {orig}") from exc
        raise
    finally:
        engine.dispose()


def check_database(path: Path) -> dict[str, str]:
    """Read-only look at an existing file: is it a whylens database we understand? Its
    ``whylens_meta`` values."""
    uri = f"file:{path.resolve()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open {path.name!r} for reading: {exc}") from exc
    try:
        try:
            meta = {
                str(k): str(v) for k, v in conn.execute("SELECT key, value FROM whylens_meta")
            }
        except sqlite3.DatabaseError as exc:
            raise NotAWhylensDatabase(
                f"{path.name!r} is not a whylens database (SQLite says: {exc}). Point "
                "Personalizer.open at a new path or at a database whylens created."
            ) from exc
    finally:
        conn.close()
    version = meta.get("schema_version")
    if meta.get("format") != FORMAT_NAME:
        raise NotAWhylensDatabase(
            f"{path.name!r} is a SQLite file but not a whylens database; it was left untouched."
        )
    if version is None or not version.isdigit():
        raise NotAWhylensDatabase(f"{path.name!r} has no readable schema version")
    if int(version) > SCHEMA_VERSION:
        raise NotAWhylensDatabase(
            f"{path.name!r} uses schema version {version}, newer than this whylens "
            f"understands ({SCHEMA_VERSION}); upgrade whylens."
        )
    return meta
