"""Profile fields, events, blind index, protected attributes and models in SQLite: one small
class per aggregate over an :class:`~sdk._store._sqlite.execs.Exec`."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from ..abc import EventRow, ModelRow
from .execs import Exec

__all__ = [
    "SqliteBlindIndex",
    "SqliteEvents",
    "SqliteIntegrity",
    "SqliteModels",
    "SqliteProfiles",
    "SqliteProtected",
]


class SqliteProfiles:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def upsert(self, pseudo: str, fields: Sequence[tuple[str, bytes]], updated: str) -> None:
        self._x.write_many(
            "INSERT INTO profile_fields (subject, field, ciphertext, updated) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(subject, field) DO UPDATE SET "
            "ciphertext = excluded.ciphertext, updated = excluded.updated",
            [(pseudo, name, ct, updated) for name, ct in fields],
        )

    def fields(self, pseudo: str) -> list[tuple[str, bytes]]:
        rows = self._x.read(
            "SELECT field, ciphertext FROM profile_fields WHERE subject = ? ORDER BY field",
            (pseudo,),
        )
        return [(str(f), bytes(c)) for f, c in rows]

    def replace(self, updates: Sequence[tuple[str, str, bytes]]) -> None:
        self._x.write_many(
            "UPDATE profile_fields SET ciphertext = ? WHERE subject = ? AND field = ?",
            [(ct, pseudo, name) for pseudo, name, ct in updates],
        )

    def compare_and_set(self, updates: Sequence[tuple[str, str, bytes, bytes]]) -> None:
        self._x.write_many(
            "UPDATE profile_fields SET ciphertext = ? "
            "WHERE subject = ? AND field = ? AND ciphertext = ?",
            [(new, pseudo, name, old) for pseudo, name, new, old in updates],
        )

    def of_live_subjects(self, field: str) -> list[tuple[str, bytes]]:
        rows = self._x.read(
            "SELECT p.subject, p.ciphertext FROM profile_fields p JOIN subject_keys k "
            "ON k.subject = p.subject WHERE p.field = ? AND k.wrapped IS NOT NULL",
            (field,),
        )
        return [(str(s), bytes(c)) for s, c in rows]

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM profile_fields WHERE subject = ?", (pseudo,))


class SqliteIntegrity:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def get(self, pseudo: str) -> tuple[int, bytes] | None:
        rows = self._x.read(
            "SELECT version, seal FROM subject_integrity WHERE subject = ?", (pseudo,)
        )
        return None if not rows else (int(rows[0][0]), bytes(rows[0][1]))

    def put(self, pseudo: str, version: int, seal: bytes) -> None:
        self._x.write(
            "INSERT INTO subject_integrity (subject, version, seal) VALUES (?, ?, ?) "
            "ON CONFLICT(subject) DO UPDATE SET version = excluded.version, seal = excluded.seal",
            (pseudo, version, seal),
        )

    def delete(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM subject_integrity WHERE subject = ?", (pseudo,))


_EVENT_COLUMNS = "SELECT event_id, kind, purpose, ts, ciphertext FROM personal_events "


class SqliteEvents:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def insert(
        self, event_id: str, pseudo: str, kind: str, purpose: str, ts: str, ciphertext: bytes
    ) -> None:
        self._x.write(
            "INSERT INTO personal_events (event_id, subject, kind, purpose, ts, ciphertext) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, pseudo, kind, purpose, ts, ciphertext),
        )

    def of_subject(
        self, pseudo: str, *, kind: str | None = None, purpose: str | None = None
    ) -> list[EventRow]:
        rows = self._x.read(
            _EVENT_COLUMNS + "WHERE subject = ? AND (? IS NULL OR kind = ?) "
            "AND (? IS NULL OR purpose = ?) ORDER BY ts, event_id",
            (pseudo, kind, kind, purpose, purpose),
        )
        return [(str(e), str(k), str(p), str(t), bytes(c)) for e, k, p, t, c in rows]

    def stale(self, pseudo: str, header: bytes, min_version: int, limit: int) -> list[EventRow]:
        rows = self._x.read(
            # bytes 3-6 are the big-endian key version: byte order is numeric order
            _EVENT_COLUMNS + "WHERE subject = ? AND substr(ciphertext, 1, 6) != ? "
            "AND substr(ciphertext, 3, 4) >= ? LIMIT ?",
            (pseudo, header, struct.pack(">I", min_version), limit),
        )
        return [(str(e), str(k), str(p), str(t), bytes(c)) for e, k, p, t, c in rows]

    def replace(self, updates: Sequence[tuple[str, bytes]]) -> None:
        self._x.write_many(
            "UPDATE personal_events SET ciphertext = ? WHERE event_id = ?",
            [(ct, event_id) for event_id, ct in updates],
        )

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM personal_events WHERE subject = ?", (pseudo,))


class SqliteBlindIndex:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def upsert(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        self._x.write_many(
            "INSERT INTO blind_index (name, subject, token) VALUES (?, ?, ?) "
            "ON CONFLICT(name, subject) DO UPDATE SET token = excluded.token",
            entries,
        )

    def delete(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._x.write_many("DELETE FROM blind_index WHERE name = ? AND subject = ?", pairs)

    def rebuild(self, name: str, entries: Sequence[tuple[str, bytes]]) -> None:
        with self._x.atomic() as x:
            x.write("DELETE FROM blind_index WHERE name = ?", (name,))
            x.write_many(
                "INSERT INTO blind_index (name, subject, token) VALUES (?, ?, ?)",
                [(name, pseudo, token) for pseudo, token in entries],
            )

    def find(self, name: str, token: bytes) -> list[str]:
        rows = self._x.read(
            "SELECT subject FROM blind_index WHERE name = ? AND token = ? ORDER BY subject",
            (name, token),
        )
        return [str(r[0]) for r in rows]

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM blind_index WHERE subject = ?", (pseudo,))


class SqliteProtected:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def names(self) -> set[str]:
        return {str(r[0]) for r in self._x.read("SELECT DISTINCT name FROM protected_attributes")}

    def put(self, rows: Sequence[tuple[str, str, bytes, str]]) -> None:
        self._x.write_many(
            "INSERT INTO protected_attributes (subject, name, value, updated) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(subject, name) DO UPDATE SET "
            "value = excluded.value, updated = excluded.updated",
            rows,
        )

    def values(self, name: str) -> list[tuple[str, bytes]]:
        rows = self._x.read(
            "SELECT subject, value FROM protected_attributes WHERE name = ?", (name,)
        )
        return [(str(s), bytes(v)) for s, v in rows]

    def delete_subject(self, pseudo: str) -> int:
        return self._x.write("DELETE FROM protected_attributes WHERE subject = ?", (pseudo,))


class SqliteModels:
    def __init__(self, x: Exec) -> None:
        self._x = x

    def latest_version(self, name: str) -> int | None:
        row = self._x.read_one("SELECT MAX(version) FROM models WHERE name = ?", (name,))
        return None if row is None or row[0] is None else int(row[0])

    def insert(
        self, name: str, version: int, kind: str, content_hash: str, model_text: bytes, card: str
    ) -> None:
        self._x.write(
            "INSERT INTO models (name, version, kind, content_hash, model_text, card) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, version, kind, content_hash, model_text, card),
        )

    def get(self, name: str, version: int) -> ModelRow | None:
        row = self._x.read_one(
            "SELECT content_hash, model_text, card FROM models WHERE name = ? AND version = ?",
            (name, version),
        )
        return None if row is None else (str(row[0]), bytes(row[1]), str(row[2]))

    def cards(self) -> list[str]:
        return [str(r[0]) for r in self._x.read("SELECT card FROM models ORDER BY name, version")]
