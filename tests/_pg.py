"""PostgreSQL for the tests: one migrated template database per session, one clone per test.

The server is ``WHYLENS_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``, the
development and CI machines' server). The template is named after a fingerprint of the schema code,
so a changed migration builds a new one instead of testing against a stale copy; concurrent test
sessions (xdist workers, other checkouts) serialize on an advisory lock while one builds it.
Each test gets ``CREATE DATABASE wl_t_... TEMPLATE <template>`` (about 0.1 s); databases are
dropped in a background thread so no test waits for the drop.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import uuid
from pathlib import Path
from typing import Any

SERVER = os.environ.get("WHYLENS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_RUN = (
    "PostgreSQL tests skipped: no server answers at {server}; start PostgreSQL 15 there "
    "(user postgres, trust auth) or set WHYLENS_TEST_PG=postgresql://user@host:port/db"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
_ROOT = Path(__file__).resolve().parents[1]
_TEMPLATE_LOCK = 0x77_68_79_74_70_6C  # "whytpl"
PREFIX = "wl_t_"


def _schema_fingerprint() -> str:
    """A hash of everything that shapes the migrated schema."""
    digest = hashlib.sha256()
    store = _ROOT / "sdk" / "_store"
    for path in sorted(store.rglob("*.py")):
        rel = path.relative_to(store).as_posix()
        shaping = rel in ("schema.py", "migrate.py", "version.py")
        if shaping or rel.startswith(("migrations/", "_postgres/")):
            digest.update(rel.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def _with_db(url: str, dbname: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{dbname}"


class PgServer:
    """The test server: whether it answers, the template, and per-test databases."""

    def __init__(self, url: str = SERVER) -> None:
        self.url = url
        self.template = f"wl_tpl_{_schema_fingerprint()}"
        self._problem: str | None = None
        self._checked = False
        self._built = False
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=3)

    def problem(self) -> str | None:
        """None if the server answers, else the one-line reason the PostgreSQL tests cannot run."""
        if not self._checked:
            self._checked = True
            try:
                import psycopg  # noqa: F401
            except ImportError:
                self._problem = "PostgreSQL tests skipped: pip install 'whylens[postgres]'"
                return self._problem
            try:
                self._admin().close()
            except Exception:
                self._problem = HOW_TO_RUN.format(server=self.url.split("@")[-1])
        return self._problem

    def _ensure_template(self) -> None:
        if self._built:
            return
        from sdk._store._postgres.connect import parse_url
        from sdk._store._postgres.schema_setup import bring_up

        with self._admin() as admin:
            admin.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK,))
            try:
                exists = admin.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate",
                    (self.template,),
                ).fetchone()
                if not exists:
                    building = self.template + "_new"
                    admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                    admin.execute(f'CREATE DATABASE "{building}"')
                    bring_up(parse_url(_with_db(self.url, building)))
                    admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{self.template}"')
                    admin.execute(f'ALTER DATABASE "{self.template}" IS_TEMPLATE true')
            finally:
                admin.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK,))
        self._built = True

    def new_database(self) -> str:
        """A fresh, migrated database of its own; returns its URL."""
        self._ensure_template()
        name = PREFIX + uuid.uuid4().hex[:16]
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return _with_db(self.url, name)

    def empty_database(self) -> str:
        """A fresh database with no schema at all (for migration tests)."""
        name = PREFIX + uuid.uuid4().hex[:16]
        with self._admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return _with_db(self.url, name)

    def drop_later(self, url: str) -> None:
        """Drop the database of ``url`` in the background (connections still open are ended)."""
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_loop, daemon=True)
            self._dropper.start()
        self._drops.put(url.rpartition("/")[2])

    def _drop_loop(self) -> None:
        with self._admin() as admin:
            while (name := self._drops.get()) is not None:
                if name.startswith(PREFIX):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def finish(self) -> None:
        """Wait for the pending drops (end of the session)."""
        if self._dropper is not None:
            self._drops.put(None)
            self._dropper.join(timeout=120)


SERVER_UNDER_TEST = PgServer()
