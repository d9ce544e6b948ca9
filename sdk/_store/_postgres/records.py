"""Profile fields, events, blind index, protected attributes and models on PostgreSQL: one small
class per aggregate over an :class:`~sdk._store._postgres.execs.Exec`.

Orderings on text use ``COLLATE "C"`` (byte order, as SQLite sorts), so both backends return rows
in the same order whatever the database's collation.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..abc import EventRow, ModelRow
from .execs import Exec

__all__ = ["PgBlindIndex", "PgEvents", "PgIntegrity", "PgModels", "PgProfiles", "PgProtected"]


class PgProfiles:
    """:class:`~sdk._store.abc.ProfileStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def upsert(self, pseudo: str, fields: Sequence[tuple[str, bytes]], updated: str) -> None:
        self._x.write_many(
            "INSERT INTO profile_fields (subject, field, ciphertext, updated) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (subject, field) DO UPDATE SET "
            "ciphertext = excluded.ciphertext, updated = excluded.updated",
            [(pseudo, name, ct, updated) for name, ct in fields],
        )

    def fields(self, pseudo: str) -> list[tuple[str, bytes]]:
        rows = self._x.read(
            "SELECT field, ciphertext FROM profile_fields WHERE subject = %s "
            'ORDER BY field COLLATE "C"',
            (pseudo,),
        )
        return [(str(f), bytes(c)) for f, c in rows]

    def replace(self, updates: Sequence[tuple[str, str, bytes]]) -> None:
        self._x.write_many(
            "UPDATE profile_fields SET ciphertext = %s WHERE subject = %s AND field = %s",
            [(ct, pseudo, name) for pseudo, name, ct in updates],
        )

    def compare_and_set(self, updates: Sequence[tuple[str, str, bytes, bytes]]) -> None:
        self._x.write_many(
            "UPDATE profile_fields SET ciphertext = %s "
            "WHERE subject = %s AND field = %s AND ciphertext = %s",
            [(new, pseudo, name, old) for pseudo, name, new, old in updates],
        )

    def of_live_subjects(self, field: str) -> list[tuple[str, bytes]]:
        rows = self._x.read(
            "SELECT p.subject, p.ciphertext FROM profile_fields p JOIN subject_keys k "
            "ON k.subject = p.subject WHERE p.field = %s AND k.wrapped IS NOT NULL",
            (field,),
        )
        return [(str(s), bytes(c)) for s, c in rows]

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM profile_fields WHERE subject = %s", (pseudo,))


class PgIntegrity:
    """:class:`~sdk._store.abc.IntegrityStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def get(self, pseudo: str) -> tuple[int, bytes] | None:
        row = self._x.read_one(
            "SELECT version, seal FROM subject_integrity WHERE subject = %s", (pseudo,)
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    def put(self, pseudo: str, version: int, seal: bytes) -> None:
        self._x.write(
            "INSERT INTO subject_integrity (subject, version, seal) VALUES (%s, %s, %s) "
            "ON CONFLICT (subject) DO UPDATE SET version = excluded.version, seal = excluded.seal",
            (pseudo, version, seal),
        )

    def delete(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM subject_integrity WHERE subject = %s", (pseudo,))


_EVENT_COLUMNS = "SELECT event_id, kind, purpose, ts, ciphertext FROM personal_events "


class PgEvents:
    """:class:`~sdk._store.abc.EventStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def insert(
        self, event_id: str, pseudo: str, kind: str, purpose: str, ts: str, ciphertext: bytes
    ) -> None:
        self._x.write(
            "INSERT INTO personal_events (event_id, subject, kind, purpose, ts, ciphertext) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (event_id, pseudo, kind, purpose, ts, ciphertext),
        )

    def of_subject(
        self, pseudo: str, *, kind: str | None = None, purpose: str | None = None
    ) -> list[EventRow]:
        rows = self._x.read(
            _EVENT_COLUMNS + "WHERE subject = %s AND (%s::text IS NULL OR kind = %s) "
            "AND (%s::text IS NULL OR purpose = %s) "
            'ORDER BY ts COLLATE "C", event_id COLLATE "C"',
            (pseudo, kind, kind, purpose, purpose),
        )
        return [(str(e), str(k), str(p), str(t), bytes(c)) for e, k, p, t, c in rows]

    def stale(self, pseudo: str, header: bytes, min_version: int, limit: int) -> list[EventRow]:
        rows = self._x.read(
            # bytes 3-6 are the big-endian key version: byte order is numeric order
            _EVENT_COLUMNS + "WHERE subject = %s AND substr(ciphertext, 1, 6) != %s "
            "AND substr(ciphertext, 3, 4) >= %s LIMIT %s",
            (pseudo, header, struct.pack(">I", min_version), limit),
        )
        return [(str(e), str(k), str(p), str(t), bytes(c)) for e, k, p, t, c in rows]

    def replace(self, updates: Sequence[tuple[str, bytes]]) -> None:
        self._x.write_many(
            "UPDATE personal_events SET ciphertext = %s WHERE event_id = %s",
            [(ct, event_id) for event_id, ct in updates],
        )

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM personal_events WHERE subject = %s", (pseudo,))


class PgBlindIndex:
    """:class:`~sdk._store.abc.BlindIndexStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def upsert(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        self._x.write_many(
            "INSERT INTO blind_index (name, subject, token) VALUES (%s, %s, %s) "
            "ON CONFLICT (name, subject) DO UPDATE SET token = excluded.token",
            entries,
        )

    def delete(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._x.write_many("DELETE FROM blind_index WHERE name = %s AND subject = %s", pairs)

    def rebuild(self, name: str, entries: Sequence[tuple[str, bytes]]) -> None:
        with self._x.atomic() as x:
            x.write("DELETE FROM blind_index WHERE name = %s", (name,))
            x.write_many(
                "INSERT INTO blind_index (name, subject, token) VALUES (%s, %s, %s)",
                [(name, pseudo, token) for pseudo, token in entries],
            )

    def find(self, name: str, token: bytes) -> list[str]:
        rows = self._x.read(
            "SELECT subject FROM blind_index WHERE name = %s AND token = %s "
            'ORDER BY subject COLLATE "C"',
            (name, token),
        )
        return [str(r[0]) for r in rows]

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM blind_index WHERE subject = %s", (pseudo,))


class PgProtected:
    """:class:`~sdk._store.abc.ProtectedStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def names(self) -> set[str]:
        return {str(r[0]) for r in self._x.read("SELECT DISTINCT name FROM protected_attributes")}

    def put(self, rows: Sequence[tuple[str, str, bytes, str]]) -> None:
        self._x.write_many(
            "INSERT INTO protected_attributes (subject, name, value, updated) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (subject, name) DO UPDATE SET "
            "value = excluded.value, updated = excluded.updated",
            rows,
        )

    def values(self, name: str) -> list[tuple[str, bytes]]:
        rows = self._x.read(
            "SELECT subject, value FROM protected_attributes WHERE name = %s", (name,)
        )
        return [(str(s), bytes(v)) for s, v in rows]

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM protected_attributes WHERE subject = %s", (pseudo,))


class PgModels:
    """:class:`~sdk._store.abc.ModelStorage` on PostgreSQL."""

    def __init__(self, x: Exec) -> None:
        self._x = x

    def latest_version(self, name: str) -> int | None:
        row = self._x.read_one("SELECT MAX(version) FROM models WHERE name = %s", (name,))
        return None if row is None or row[0] is None else int(row[0])

    def insert(
        self, name: str, version: int, kind: str, content_hash: str, model_text: bytes, card: str
    ) -> None:
        self._x.write(
            "INSERT INTO models (name, version, kind, content_hash, model_text, card) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (name, version, kind, content_hash, model_text, card),
        )

    def get(self, name: str, version: int) -> ModelRow | None:
        row = self._x.read_one(
            "SELECT content_hash, model_text, card FROM models WHERE name = %s AND version = %s",
            (name, version),
        )
        return None if row is None else (str(row[0]), bytes(row[1]), str(row[2]))

    def cards(self) -> list[str]:
        return [
            str(r[0])
            for r in self._x.read('SELECT card FROM models ORDER BY name COLLATE "C", version')
        ]
