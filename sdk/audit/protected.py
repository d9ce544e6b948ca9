"""Protected attributes (sex, age band, ...) kept for the bias audit only, encrypted per subject.

Rows of ``protected_attributes`` hold ``(pseudonym, name, ciphertext, updated)``; each value is
canonical JSON encrypted under the subject's data key, bound to the subject and the attribute
name. Nothing in the decision path reads this table: the attributes reach only
:meth:`sdk.audit.AuditTrail.fairness`. A name that is a feature of a registered model is refused
here, and :func:`check_not_protected` lets training refuse the reverse.
Each plaintext is padded with JSON whitespace to a multiple of :data:`PAD_BUCKET` bytes before it
is encrypted: an AES-GCM ciphertext is as long as its plaintext plus a constant, so without it
the length alone would tell ``"male"`` from ``"female"``. Erasing a subject deletes their rows
(and destroys their key); the audit then counts them as ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._canonical import canonical_json, loads
from ..crypto.field import field_aad
from ..errors import AuditError, DecryptionError, SubjectErased
from ..keys import SubjectKeys, validate_subject_id
from ..models.registry import ModelRegistry

if TYPE_CHECKING:
    from .._store.abc import Store

__all__ = ["PAD_BUCKET", "ProtectedAttributes", "check_not_protected"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
PAD_BUCKET = 64
"""Protected values are padded to a multiple of this many bytes (group labels fit in one)."""


def _padded(value: str | int | float | bool) -> bytes:
    # trailing spaces are JSON whitespace: the reader's json.loads ignores them, and values
    # written before padding existed read the same way
    text = canonical_json(value)
    return text + b" " * (-len(text) % PAD_BUCKET)


def _aad(pseudo: str, name: str) -> bytes:
    return field_aad(subject=pseudo, field=f"protected/{name}")


def check_not_protected(features: Iterable[str], protected: Iterable[str]) -> None:
    """Raise :class:`AuditError` if a model feature shares its name with a protected attribute."""
    clash = sorted(set(features) & set(protected))
    if clash:
        raise AuditError(
            f"feature(s) {', '.join(clash)} are protected attributes, kept for the bias audit "
            "only; they cannot be model features"
        )


class ProtectedAttributes:
    """``p.audit.protected``: write and (for the audit) read protected attributes."""

    def __init__(self, db: Store, keys: SubjectKeys, models: ModelRegistry) -> None:
        self._db = db
        self._keys = keys
        self._models = models
        self._names = frozenset(db.protected.names())

    def names(self) -> frozenset[str]:
        """Every protected attribute name stored so far (kept in memory: decide() checks it)."""
        return self._names

    def stored_names(self) -> tuple[str, ...]:
        """Every protected attribute name in the store now, by any process, sorted (one query:
        for pages that offer the attributes to audit by, not for the serving path)."""
        return tuple(sorted(set(self._db.protected.names())))

    def put(self, subject: str, attributes: Mapping[str, str | int | float | bool]) -> None:
        """Store (replace) protected attributes of ``subject``, encrypted.

        Names are identifiers (letters, digits, ``_``); values are a group label (text) or a
        number. A name that is a feature of any registered model raises :class:`AuditError`
        and nothing is written.
        """
        validate_subject_id(subject)
        if not isinstance(attributes, Mapping) or not attributes:
            raise AuditError("protected attributes must be a non-empty mapping of name to value")
        for name, value in attributes.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise AuditError("protected attribute names are identifiers of 1-64 characters")
            if not isinstance(value, str | int | float | bool) or (
                isinstance(value, float) and (value != value)
            ):
                raise AuditError(f"protected attribute {name!r} must be a text label or a number")
        features = {f for card in self._models.list() for f in card.features}
        check_not_protected(features, attributes)
        pseudo = self._keys.pseudonym(subject)  # only now: refused input leaves no pseudonym
        cipher = self._keys.cipher(pseudo, create=True)
        now = datetime.now(UTC).isoformat()
        rows = [
            (pseudo, name, cipher.encrypt(_padded(value), aad=_aad(pseudo, name)), now)
            for name, value in attributes.items()
        ]
        self._db.protected.put(rows)
        self._names = self._names | frozenset(attributes)

    def of_pseudonyms(self, name: str, pseudos: Iterable[str]) -> dict[str, Any]:
        """Decrypted values of attribute ``name`` for subjects known by pseudonym.

        Subjects without the attribute, or erased, are left out.
        """
        wanted = set(pseudos)
        out: dict[str, Any] = {}
        for pseudo, blob in self._db.protected.values(name):
            if pseudo not in wanted:
                continue
            try:
                cipher = self._keys.cipher(pseudo, create=False)
                out[pseudo] = loads(cipher.decrypt(bytes(blob), aad=_aad(pseudo, name)))
            except (SubjectErased, DecryptionError):
                continue
        return out
