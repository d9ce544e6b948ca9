"""The PostgreSQL backend's own guarantees: connection errors that name the server but never the
password, and a ledger that the database itself keeps append-only."""

from __future__ import annotations

import psycopg
import pytest

from sdk._store._postgres.connect import parse_url
from sdk._store._postgres.database import PgDatabase
from sdk._store._postgres.guards import SQLSTATE
from sdk.errors import ConfigurationError, StoreUnavailable

SECRET = "s3cr3t-Canary-pw"


def test_an_unreachable_server_names_host_port_and_db_but_never_the_password() -> None:
    url = f"postgresql://whylens:{SECRET}@127.0.0.1:1/shop"
    with pytest.raises(StoreUnavailable) as info:
        PgDatabase.open(url)
    text = str(info.value)
    assert "127.0.0.1:1/shop" in text and "whylens@" in text
    assert SECRET not in text and SECRET not in repr(info.value)
    assert info.value.__cause__ is None or SECRET not in str(info.value.__cause__)


def test_a_refused_login_never_echoes_the_password(pg_url: str) -> None:
    base, _, _ = pg_url.rpartition("/")
    host = base.split("@", 1)[1]
    url = f"postgresql://no_such_role_wl:{SECRET}@{host}/no_such_db_wl"
    with pytest.raises(StoreUnavailable) as info:
        PgDatabase.open(url)
    assert "no_such_db_wl" in str(info.value)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@/db",
        "postgresql://user@host:5432/",
        f"postgresql://user:{SECRET}@host:99999/db",
        f"postgresql://user:{SECRET}@host/db?sslmode=disable",
    ],
)
def test_a_malformed_url_is_a_configuration_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_url(url)
    assert SECRET not in str(info.value)


def test_the_target_repr_hides_the_password() -> None:
    target = parse_url(f"postgresql://app:{SECRET}@db.internal:6543/shop")
    assert (target.host, target.port, target.dbname, target.user) == (
        "db.internal", 6543, "shop", "app",
    )
    assert SECRET not in repr(target) and SECRET not in target.describe()


def _seed(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    conn.execute(
        "INSERT INTO ledger (seq, stream, kind, subject, ts, body, prev_hash, hash) "
        "VALUES (1, 's', 'k', NULL, 't', %s, %s, %s)",
        (b"body", b"\0" * 32, b"\1" * 32),
    )
    conn.execute("INSERT INTO ledger_leaves (seq, leaf) VALUES (1, %s)", (b"\2" * 32,))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger SET body = 'forged'::bytea WHERE seq = 1",
        "UPDATE ledger SET stream = 'x'",
        "DELETE FROM ledger WHERE seq = 1",
        "DELETE FROM ledger",
        "TRUNCATE ledger CASCADE",
        "UPDATE ledger_leaves SET leaf = '\\x00'::bytea",
        "DELETE FROM ledger_leaves",
        "TRUNCATE ledger_leaves",
    ],
)
def test_the_database_rejects_changes_to_ledger_rows(pg_url: str, statement: str) -> None:
    """An attacker with the application's database login, through a raw connection."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _seed(conn)
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement)
        assert info.value.sqlstate == SQLSTATE
        assert "append-only" in str(info.value)
        rows = conn.execute(
            "SELECT l.body, l.stream, t.leaf FROM ledger l JOIN ledger_leaves t USING (seq)"
        ).fetchall()
        assert rows == [(b"body", "s", b"\2" * 32)]
        # inserting stays possible: the guard is for changes, not for appends
        conn.execute(
            "INSERT INTO ledger_leaves (seq, leaf) VALUES (2, %s)", (b"\3" * 32,)
        )
