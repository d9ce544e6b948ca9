"""Subject keys on PostgreSQL: ``subject_keys`` (current DEK or tombstone), ``subject_old_keys``.

Text is ordered and compared with ``COLLATE "C"`` (byte order), so paging by pseudonym visits
the same rows in the same order as on SQLite, whatever the database's own collation.
"""

from __future__ import annotations

from ..abc import KeyRow, KeyState, WrappedKeyRow
from .execs import Exec

__all__ = ["PgKeys"]

_KEY_ROW = (
    "SELECT k.kek_version, k.wrapped, k.erased, "
    "(SELECT COALESCE(MAX(o.version), 0) FROM subject_old_keys o WHERE o.subject = k.subject) "
    "FROM subject_keys k WHERE k.subject = %s"
)


class PgKeys:
    """:class:`~sdk._store.abc.KeyStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def current(self, pseudo: str) -> KeyRow | None:
        row = self._x.read_one(_KEY_ROW, (pseudo,))
        if row is None:
            return None
        kek, wrapped, erased, newest_old = row
        return int(kek), None if wrapped is None else bytes(wrapped), erased, int(newest_old) + 1

    def state(self, pseudo: str) -> KeyState | None:
        row = self._x.read_one(
            "SELECT wrapped IS NOT NULL, erased FROM subject_keys WHERE subject = %s", (pseudo,)
        )
        return None if row is None else KeyState(bool(row[0]), row[1])

    def old_keys(self, pseudo: str, min_version: int) -> list[tuple[int, int, bytes]]:
        rows = self._x.read(
            "SELECT version, kek_version, wrapped FROM subject_old_keys WHERE subject = %s "
            "AND version >= %s",
            (pseudo, min_version),
        )
        return [(int(v), int(k), bytes(w)) for v, k, w in rows]

    def create(self, pseudo: str, kek_version: int, wrapped: bytes, created: str) -> None:
        self._x.write(
            "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
            "VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (subject) DO NOTHING",
            (pseudo, kek_version, wrapped, created),
        )

    def rotate(
        self,
        pseudo: str,
        *,
        expected: bytes,
        new_kek: int,
        new_wrapped: bytes,
        old_version: int,
        old_kek: int,
        created: str,
    ) -> bool:
        with self._x.atomic() as x:
            changed = x.write(
                "UPDATE subject_keys SET kek_version = %s, wrapped = %s "
                "WHERE subject = %s AND wrapped = %s AND erased IS NULL",
                (new_kek, new_wrapped, pseudo, expected),
            )
            if changed == 1:
                x.write(
                    "INSERT INTO subject_old_keys (subject, version, kek_version, wrapped, "
                    "created) VALUES (%s, %s, %s, %s, %s)",
                    (pseudo, old_version, old_kek, expected, created),
                )
            return changed == 1

    def destroy(self, pseudo: str, *, kek_version: int, now: str) -> int:
        with self._x.atomic() as x:
            had = x.read_one(
                "SELECT wrapped IS NOT NULL FROM subject_keys WHERE subject = %s", (pseudo,)
            )
            old = x.write("DELETE FROM subject_old_keys WHERE subject = %s", (pseudo,))
            x.write(
                "INSERT INTO subject_keys (subject, kek_version, wrapped, created, erased) "
                "VALUES (%s, %s, NULL, %s, %s) ON CONFLICT (subject) DO UPDATE SET "
                "wrapped = NULL, erased = COALESCE(subject_keys.erased, excluded.erased)",
                (pseudo, kek_version, now, now),
            )
        return old + (1 if had is not None and had[0] else 0)

    def current_below(
        self, kek_version: int, after: tuple[str, int], limit: int
    ) -> list[WrappedKeyRow]:
        rows = self._x.read(
            "SELECT k.subject, (SELECT COALESCE(MAX(o.version), 0) + 1 FROM subject_old_keys o "
            "WHERE o.subject = k.subject), k.kek_version, k.wrapped FROM subject_keys k "
            'WHERE k.wrapped IS NOT NULL AND k.kek_version != %s AND k.subject COLLATE "C" > %s '
            'ORDER BY k.subject COLLATE "C" LIMIT %s',
            (kek_version, after[0], limit),
        )
        return [(str(s), int(v), int(k), bytes(w)) for s, v, k, w in rows]

    def old_below(
        self, kek_version: int, after: tuple[str, int], limit: int
    ) -> list[WrappedKeyRow]:
        rows = self._x.read(
            "SELECT subject, version, kek_version, wrapped FROM subject_old_keys "
            'WHERE kek_version != %s AND (subject COLLATE "C" > %s '
            "OR (subject = %s AND version > %s)) "
            'ORDER BY subject COLLATE "C", version LIMIT %s',
            (kek_version, after[0], after[0], after[1], limit),
        )
        return [(str(s), int(v), int(k), bytes(w)) for s, v, k, w in rows]

    def rewrap_current(
        self, pseudo: str, *, expected: bytes, new_kek: int, new_wrapped: bytes
    ) -> bool:
        return self._x.write(
            "UPDATE subject_keys SET kek_version = %s, wrapped = %s WHERE subject = %s "
            "AND wrapped = %s",
            (new_kek, new_wrapped, pseudo, expected),
        ) == 1

    def rewrap_old(
        self, pseudo: str, version: int, *, expected: bytes, new_kek: int, new_wrapped: bytes
    ) -> bool:
        return self._x.write(
            "UPDATE subject_old_keys SET kek_version = %s, wrapped = %s WHERE subject = %s "
            "AND version = %s AND wrapped = %s",
            (new_kek, new_wrapped, pseudo, version, expected),
        ) == 1

    def count_below(self, kek_version: int) -> int:
        row = self._x.read_one(
            "SELECT (SELECT COUNT(*) FROM subject_keys WHERE wrapped IS NOT NULL "
            "AND kek_version < %s) + (SELECT COUNT(*) FROM subject_old_keys "
            "WHERE kek_version < %s)",
            (kek_version, kek_version),
        )
        return int(row[0]) if row else 0
