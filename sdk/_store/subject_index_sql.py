"""The ``subject_index`` statements, written once for both backends.

The SQLite and PostgreSQL statements differ only in the parameter marker (``?`` / ``%s``); a
backend's ``index.py`` binds this class to its executor and its marker.

Erasure re-points an id's row to a tombstone. Whatever row the database wrote last says which
id that was, unless everything on the erased side looks alike: :meth:`SubjectIndexSql.unlink`
therefore deletes and re-inserts, in key order, every tombstone and every index row leading to
one. Afterwards they all carry the same writing transaction (PostgreSQL ``xmin``) and sit in key
order (``ctid``; SQLite's tables have no rowid), so the last erasure's id is one of all the
erased ids, not the newest row. This costs one rewrite of the erased ids' rows per erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .abc import IndexLink, IndexRetag

__all__ = ["IndexExec", "SubjectIndexSql"]

# a tombstone: a key row without a key and without an erasure date (made by unlink only)
_TOMBSTONE = "wrapped IS NULL AND erased IS NULL"


class IndexExec(Protocol):
    """What the statements need of a backend's executor."""

    def write(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def read_one(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None: ...

    def read(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Sequence[Any]]: ...

    def atomic(self) -> AbstractContextManager[Any]: ...


class SubjectIndexSql:
    """:class:`sdk._store.abc.SubjectIndexStorage` over one executor (see the module docstring)."""

    def __init__(self, x: IndexExec, marker: str) -> None:
        self._x = x
        m = marker
        self._lookup = f"SELECT subject, tag FROM subject_index WHERE token = {m}"
        self._claim = (
            f"INSERT INTO subject_index (token, subject, tag) VALUES ({m}, {m}, {m}) "
            "ON CONFLICT (token) DO NOTHING"
        )
        self._insert = f"INSERT INTO subject_index (token, subject, tag) VALUES ({m}, {m}, {m})"
        self._tombstone = (
            "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
            f"VALUES ({m}, {m}, NULL, {m}, NULL) ON CONFLICT (subject) DO NOTHING"
        )
        self._links_of = f"SELECT token, tag FROM subject_index WHERE subject = {m}"
        self._repoint = f"UPDATE subject_index SET subject = {m}, tag = {m} WHERE token = {m}"
        self._tombstones = (
            f"SELECT subject, kek_version, created FROM subject_keys WHERE {_TOMBSTONE}"
        )
        self._drop_tombstones = f"DELETE FROM subject_keys WHERE {_TOMBSTONE}"
        self._put_tombstone = (
            "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
            f"VALUES ({m}, {m}, NULL, {m}, NULL)"
        )
        erased_side = f"subject IN (SELECT subject FROM subject_keys WHERE {_TOMBSTONE})"
        self._erased_links = f"SELECT token, subject, tag FROM subject_index WHERE {erased_side}"
        self._drop_erased_links = f"DELETE FROM subject_index WHERE {erased_side}"
        self._tokens = "SELECT token FROM subject_index"
        self._forget = f"DELETE FROM subject_index WHERE token = {m}"
        self._in_use = (
            f"SELECT EXISTS (SELECT 1 FROM subject_keys WHERE subject = {m}) "
            f"OR EXISTS (SELECT 1 FROM ledger WHERE subject = {m})"
        )

    def lookup(self, token: bytes) -> IndexLink | None:
        row = self._x.read_one(self._lookup, (token,))
        return None if row is None else IndexLink(str(row[0]), bytes(row[1]))

    def claim(self, token: bytes, pseudo: str, tag: bytes) -> IndexLink:
        with self._x.atomic() as x:
            x.write(self._claim, (token, pseudo, tag))
            row = x.read_one(self._lookup, (token,))
        assert row is not None
        return IndexLink(str(row[0]), bytes(row[1]))

    def claim_many(self, claims: Sequence[tuple[bytes, str, bytes]]) -> list[IndexLink]:
        with self._x.atomic() as x:
            for token, pseudo, tag in claims:
                x.write(self._claim, (token, pseudo, tag))
            rows = [x.read_one(self._lookup, (token,)) for token, _, _ in claims]
        assert all(row is not None for row in rows)
        return [IndexLink(str(row[0]), bytes(row[1])) for row in rows if row is not None]

    def unlink(
        self, pseudo: str, replacement: str, *, retag: IndexRetag, kek_version: int, created: str
    ) -> int:
        with self._x.atomic() as x:
            retagged = (
                (bytes(t), retag(bytes(t), replacement, bytes(g)))
                for t, g in x.read(self._links_of, (pseudo,))
            )
            moves = [(token, tag) for token, tag in retagged if tag is not None]
            if not moves:
                return 0
            x.write(self._tombstone, (replacement, kek_version, created))
            for token, tag in moves:
                x.write(self._repoint, (replacement, tag, token))
            self._rewrite_erased_side(x, kek_version)
            return len(moves)

    def _rewrite_erased_side(self, x: IndexExec, kek_version: int) -> None:
        # read both sets before deleting either: the links are found through the tombstones.
        # Every tombstone takes this erasure's KEK version (a tombstone holds no key): the
        # version current at each one's own erasure would narrow down which erasure it was
        links = sorted((bytes(t), str(s), bytes(g)) for t, s, g in x.read(self._erased_links))
        stones = sorted((str(s), kek_version, str(c)) for s, _k, c in x.read(self._tombstones))
        x.write(self._drop_erased_links)
        x.write(self._drop_tombstones)
        if stones:
            x.write_many(self._put_tombstone, stones)
        if links:
            x.write_many(self._insert, links)

    def tokens(self) -> list[bytes]:
        with self._x.atomic() as x:
            return [bytes(r[0]) for r in x.read(self._tokens)]

    def forget(self, tokens: Sequence[bytes]) -> int:
        with self._x.atomic() as x:
            return sum(int(x.write(self._forget, (t,))) for t in tokens)

    def in_use(self, pseudo: str) -> bool:
        row = self._x.read_one(self._in_use, (pseudo, pseudo))
        return bool(row and row[0])
