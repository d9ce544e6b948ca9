"""The subject index in SQLite: ``subject_index`` (keyed token of a subject id → pseudonym)."""

from __future__ import annotations

from .execs import Exec

__all__ = ["SqliteSubjectIndex"]


class SqliteSubjectIndex:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def lookup(self, token: bytes) -> str | None:
        row = self._x.read_one("SELECT subject FROM subject_index WHERE token = ?", (token,))
        return None if row is None else str(row[0])

    def claim(self, token: bytes, pseudo: str) -> str:
        with self._x.atomic() as x:
            x.write(
                "INSERT INTO subject_index (token, subject) VALUES (?, ?) "
                "ON CONFLICT(token) DO NOTHING",
                (token, pseudo),
            )
            row = x.read_one("SELECT subject FROM subject_index WHERE token = ?", (token,))
        assert row is not None
        return str(row[0])

    def unlink(self, pseudo: str, replacement: str, *, kek_version: int, created: str) -> int:
        with self._x.atomic() as x:
            x.write(
                "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
                "VALUES (?, ?, NULL, ?, NULL) ON CONFLICT(subject) DO NOTHING",
                (replacement, kek_version, created),
            )
            return x.write(
                "UPDATE subject_index SET subject = ? WHERE subject = ?", (replacement, pseudo)
            )

    def in_use(self, pseudo: str) -> bool:
        row = self._x.read_one(
            "SELECT EXISTS (SELECT 1 FROM subject_keys WHERE subject = ?) "
            "OR EXISTS (SELECT 1 FROM ledger WHERE subject = ?)",
            (pseudo, pseudo),
        )
        return bool(row and row[0])
