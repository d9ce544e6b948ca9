"""Connecting to PostgreSQL: the URL, a pool of connections, and errors that never leak secrets.

A ``postgresql://user:password@host:port/db`` URL names the server; the password (when there is
one) goes to libpq and nowhere else: every message whylens raises names the server as
``postgresql://user@host:port/db`` (:func:`describe`), and the driver's own error text is only
kept after any password in it has been blanked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ...errors import ConfigurationError, StoreUnavailable

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

__all__ = ["PgTarget", "is_postgres_url", "open_pool", "parse_url", "require_driver"]

logger = logging.getLogger(__name__)

_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_INSTALL_HINT = "pip install 'whylens[postgres]'"
CONNECT_TIMEOUT_S = 5


def is_postgres_url(target: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL string."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in _SCHEMES


@dataclass(frozen=True, slots=True)
class PgTarget:
    """A parsed server URL. ``password`` is never part of :meth:`describe` or ``repr``."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None

    def describe(self) -> str:
        """The server as messages name it: no password, ever."""
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.dbname}"

    def __repr__(self) -> str:
        return f"PgTarget({self.describe()!r})"

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq connection string (key=value, quoted), optionally for another database."""
        from psycopg.conninfo import make_conninfo

        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": dbname or self.dbname,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "whylens",
        }
        if self.user:
            params["user"] = self.user
        if self.password is not None:
            params["password"] = self.password
        return make_conninfo("", **params)

    def scrub(self, text: str) -> str:
        """``text`` with the password blanked (driver messages may echo connection strings)."""
        if self.password:
            text = text.replace(self.password, "***")
        return text


def parse_url(url: str) -> PgTarget:
    """Parse ``postgresql://user[:password]@host[:port]/db``; :class:`ConfigurationError` if
    something is missing or malformed (the message never repeats the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError as exc:
        raise ConfigurationError(
            "the PostgreSQL URL is malformed (expected postgresql://user@host:5432/db)"
        ) from exc
    if parts.scheme.lower() not in _SCHEMES:
        raise ConfigurationError(f"not a PostgreSQL URL (scheme {parts.scheme!r})")
    dbname = unquote(parts.path.lstrip("/"))
    host = parts.hostname or ""
    user = unquote(parts.username or "")
    safe = f"postgresql://{user + '@' if user else ''}{host}:{port}/{dbname}"
    if not host:
        raise ConfigurationError(f"the PostgreSQL URL {safe!r} names no host")
    if not dbname or "/" in dbname:
        raise ConfigurationError(
            f"the PostgreSQL URL {safe!r} names no database (postgresql://user@host:5432/db)"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"the PostgreSQL URL {safe!r} has query options; whylens takes none (pass only "
            "user, host, port and database)"
        )
    password = unquote(parts.password) if parts.password is not None else None
    return PgTarget(host, port, dbname, user, password)


def require_driver() -> None:
    """Fail with the install hint when the ``postgres`` extra is missing."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"PostgreSQL support is not installed: {_INSTALL_HINT}"
        ) from exc


def open_pool(target: PgTarget, *, max_size: int = 8) -> ConnectionPool:
    """A pool of connections to ``target``, checked by one real connection before it returns.

    Raises :class:`StoreUnavailable` (naming host, port and database, never the password) when
    the server does not answer or refuses the connection.
    """
    require_driver()
    import psycopg
    from psycopg_pool import ConnectionPool

    try:
        # one direct connection first: a clear error now, not a pool timeout later
        psycopg.connect(target.conninfo()).close()
    except psycopg.Error as exc:
        # not chained: the driver's exception object may hold the connection string
        raise StoreUnavailable(
            f"cannot connect to the PostgreSQL server {target.describe()}: "
            f"{target.scrub(_first_line(exc))}. Check the server runs and the database exists."
        ) from None
    pool = ConnectionPool(
        target.conninfo(),
        min_size=1,
        max_size=max_size,
        open=False,
        name="whylens",
        timeout=30.0,
        kwargs={"autocommit": True},
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
    except Exception as exc:
        pool.close()
        raise StoreUnavailable(
            f"cannot open a connection pool to {target.describe()}: "
            f"{target.scrub(_first_line(exc))}"
        ) from None
    logger.debug("opened a PostgreSQL pool to %s", target.describe())
    return pool


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
