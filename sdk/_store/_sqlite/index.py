"""The subject index in SQLite: ``subject_index`` (keyed token of a subject id → pseudonym)."""

from __future__ import annotations

from ..subject_index_sql import SubjectIndexSql
from .execs import Exec

__all__ = ["SqliteSubjectIndex"]


class SqliteSubjectIndex(SubjectIndexSql):
    def __init__(self, x: Exec) -> None:
        super().__init__(x, "?")
