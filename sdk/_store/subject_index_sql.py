"""The ``subject_index`` statements, written once for both backends.

The SQLite and PostgreSQL statements differ only in the parameter marker (``?`` / ``%s``); a
backend's ``index.py`` binds this class to its executor and its marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["IndexExec", "SubjectIndexSql"]


class IndexExec(Protocol):
    """What the statements need of a backend's executor."""

    def write(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None: ...

    def read(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]: ...

    def atomic(self) -> AbstractContextManager[Any]: ...


class SubjectIndexSql:
    """:class:`sdk._store.abc.SubjectIndexStorage` over one executor (see the module docstring)."""

    def __init__(self, x: IndexExec, marker: str) -> None:
        self._x = x
        m = marker
        self._lookup = f"SELECT subject FROM subject_index WHERE token = {m}"
        self._claim = (
            f"INSERT INTO subject_index (token, subject) VALUES ({m}, {m}) "
            "ON CONFLICT (token) DO NOTHING"
        )
        self._tombstone = (
            "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
            f"VALUES ({m}, {m}, NULL, {m}, NULL) ON CONFLICT (subject) DO NOTHING"
        )
        self._repoint = f"UPDATE subject_index SET subject = {m} WHERE subject = {m}"
        self._tokens = "SELECT token FROM subject_index"
        self._forget = f"DELETE FROM subject_index WHERE token = {m}"
        self._in_use = (
            f"SELECT EXISTS (SELECT 1 FROM subject_keys WHERE subject = {m}) "
            f"OR EXISTS (SELECT 1 FROM ledger WHERE subject = {m})"
        )

    def lookup(self, token: bytes) -> str | None:
        row = self._x.read_one(self._lookup, (token,))
        return None if row is None else str(row[0])

    def claim(self, token: bytes, pseudo: str) -> str:
        with self._x.atomic() as x:
            x.write(self._claim, (token, pseudo))
            row = x.read_one(self._lookup, (token,))
        assert row is not None
        return str(row[0])

    def claim_many(self, claims: Sequence[tuple[bytes, str]]) -> list[str]:
        with self._x.atomic() as x:
            for token, pseudo in claims:
                x.write(self._claim, (token, pseudo))
            rows = [x.read_one(self._lookup, (token,)) for token, _ in claims]
        assert all(row is not None for row in rows)
        return [str(row[0]) for row in rows if row is not None]

    def unlink(self, pseudo: str, replacement: str, *, kek_version: int, created: str) -> int:
        with self._x.atomic() as x:
            x.write(self._tombstone, (replacement, kek_version, created))
            return int(x.write(self._repoint, (replacement, pseudo)))

    def tokens(self) -> list[bytes]:
        with self._x.atomic() as x:
            return [bytes(r[0]) for r in x.read(self._tokens)]

    def forget(self, tokens: Sequence[bytes]) -> int:
        with self._x.atomic() as x:
            return sum(int(x.write(self._forget, (t,))) for t in tokens)

    def in_use(self, pseudo: str) -> bool:
        row = self._x.read_one(self._in_use, (pseudo, pseudo))
        return bool(row and row[0])
