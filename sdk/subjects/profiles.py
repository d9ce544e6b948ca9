"""Encrypted subject profiles: named fields, one AES-256-GCM ciphertext per field.

Rows of ``profile_fields`` hold ``(pseudonym, field name, ciphertext, updated)``. The subject id
never reaches the database (only its keyed pseudonym), and each value is canonical JSON encrypted
under the subject's data key with :func:`sdk.crypto.field.field_aad` binding it to the subject and
the field name. Field *names* are stored in clear: use names that are not themselves personal data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .._canonical import canonical_json, loads
from ..crypto.field import field_aad
from ..errors import CryptoError, SubjectErased, SubjectError, UnknownSubject
from ..store import Database, _Tx
from .keystore import SubjectKeys, _check_pseudonym

__all__ = ["FIELD_NAME_PATTERN", "MAX_NESTING", "Profiles"]

FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$"
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,63}")
MAX_NESTING = 32
"""How deeply lists and dicts may nest inside one field value."""


class Profiles:
    """Read and write the encrypted profile of each subject."""

    def __init__(self, db: Database, keys: SubjectKeys) -> None:
        """Profiles stored in ``db``, encrypted with data keys from ``keys``."""
        self._db = db
        self._keys = keys

    def put(self, subject: str, fields: Mapping[str, Any]) -> None:
        """Set (insert or replace) the given fields of ``subject``'s profile; other fields stay.

        Field names must match ``FIELD_NAME_PATTERN``; values must be JSON values (str, int,
        finite float, bool, None, and lists and str-keyed dicts of these). Everything is
        validated and encrypted before anything is written, and all fields are written in one
        transaction: a bad name or value anywhere writes nothing. Raises :class:`SubjectError`
        naming the offending field (never its value), :class:`InvalidSubjectId`, or
        :class:`SubjectErased` if the subject was erased.
        """
        pseudo = self._keys.pseudonym(subject)
        if not isinstance(fields, Mapping):
            raise SubjectError(
                f"profile fields must be a mapping of field name to value, got "
                f"{type(fields).__name__}"
            )
        names: list[str] = []
        plaintexts: list[bytes] = []
        for name, value in fields.items():
            names.append(_check_field_name(name))
            plaintexts.append(_encode_value(name, value))
        if not names:
            return
        cipher = self._keys.cipher(pseudo, create=True)
        items = [
            (pt, field_aad(subject=pseudo, field=name))
            for name, pt in zip(names, plaintexts, strict=True)
        ]
        ciphertexts = cipher.encrypt_many(items)
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        with self._db.transaction() as tx:
            # an erasure may have committed since the key was fetched: write nothing then
            row = tx.execute(
                "SELECT wrapped IS NULL OR erased IS NOT NULL, erased FROM subject_keys "
                "WHERE subject = ?",
                (pseudo,),
            ).fetchone()
            if row is None or row[0]:
                raise SubjectErased(
                    f"subject was erased on {row[1] if row else 'an unknown date'}; "
                    "their data cannot be read"
                )
            tx.executemany(
                "INSERT INTO profile_fields (subject, field, ciphertext, updated) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(subject, field) DO UPDATE SET "
                "ciphertext = excluded.ciphertext, updated = excluded.updated",
                [(pseudo, name, ct, now) for name, ct in zip(names, ciphertexts, strict=True)],
            )

    def get(self, subject: str) -> dict[str, Any]:
        """Decrypt and return every field of ``subject``'s profile.

        Raises :class:`UnknownSubject` if no profile was stored, :class:`SubjectErased` if the
        subject was erased, and :class:`DecryptionError` (naming the field) if a stored value was
        tampered with or moved.
        """
        pseudo = self._keys.pseudonym(subject)
        rows = self._db.query(
            "SELECT field, ciphertext FROM profile_fields WHERE subject = ? ORDER BY field",
            (pseudo,),
        )
        if not rows:
            self._keys.raise_if_erased(pseudo)
            raise UnknownSubject("no profile is stored for this subject")
        cipher = self._keys.cipher(pseudo, create=False)
        out: dict[str, Any] = {}
        for name, ciphertext in rows:
            try:
                plaintext = cipher.decrypt(ciphertext, aad=field_aad(subject=pseudo, field=name))
            except CryptoError as exc:
                raise type(exc)(f"profile field {name!r}: {exc}") from exc
            out[name] = loads(plaintext)
        return out

    def delete_all(self, pseudo: str, tx: _Tx) -> int:
        """Delete every profile field of subject ``pseudo`` inside ``tx``; returns how many."""
        _check_pseudonym(pseudo)
        cursor = tx.execute("DELETE FROM profile_fields WHERE subject = ?", (pseudo,))
        return max(cursor.rowcount, 0)

    def fields_encrypted(self, pseudo: str) -> dict[str, bytes]:
        """The raw stored ciphertext of each field of subject ``pseudo`` (for exports and tests)."""
        _check_pseudonym(pseudo)
        rows = self._db.query(
            "SELECT field, ciphertext FROM profile_fields WHERE subject = ? ORDER BY field",
            (pseudo,),
        )
        return {str(name): bytes(ct) for name, ct in rows}

    def __repr__(self) -> str:
        return f"Profiles(database={self._db.path.name!r})"


# -- validation --------------------------------------------------------------------------------


def _check_field_name(name: object) -> str:
    if not isinstance(name, str):
        raise SubjectError(f"profile field names must be strings, got a {type(name).__name__}")
    if _FIELD_NAME.fullmatch(name) is None:
        # an invalid name may be data passed by mistake (a dict keyed by e-mail): never echo it
        raise SubjectError(
            f"invalid profile field name (a str of {len(name)} characters): names must match "
            f"{FIELD_NAME_PATTERN} "
            "(a letter or underscore, then up to 63 letters, digits, underscores or dots)"
        )
    return name


def _encode_value(name: str, value: Any) -> bytes:
    problem = _json_problem(value, 0)
    if problem is not None:
        raise SubjectError(f"profile field {name!r}: value is not storable: {problem}")
    try:
        return canonical_json(value)
    except Exception as exc:  # rfc8785 domain errors (e.g. integers beyond I-JSON range)
        raise SubjectError(
            f"profile field {name!r}: value cannot be encoded as canonical JSON "
            f"({type(exc).__name__}); integers must fit in 53 bits"
        ) from None


def _json_problem(value: Any, depth: int) -> str | None:
    """Why ``value`` is not a storable JSON value (without describing the value), or None."""
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "floats must be finite (no NaN or infinity)"
    if depth >= MAX_NESTING:
        return f"lists and dicts nest more than {MAX_NESTING} levels deep"
    if isinstance(value, list):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"dict keys must be strings, found a {type(key).__name__} key"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return (
        f"a {type(value).__name__} is not a JSON value (use str, int, float, bool, None, "
        "list or dict)"
    )
