"""The subject index in PostgreSQL: ``subject_index`` (keyed token of a subject id → pseudonym)."""

from __future__ import annotations

from ..subject_index_sql import SubjectIndexSql
from .execs import Exec

__all__ = ["PgSubjectIndex"]


class PgSubjectIndex(SubjectIndexSql):
    def __init__(self, x: Exec) -> None:
        super().__init__(x, "%s")
