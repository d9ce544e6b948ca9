"""Personal text sealed under a person's own key, for records that live on the ledger.

A note, a contact message or the reason of a staff pick is personal data: it goes on the ledger
only as a ciphertext under the person's data key, bound by associated data to the pseudonym and
the record's field, so it cannot be moved to another person or record, and it is unreadable once
the person is erased (crypto-shredding).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .._canonical import canonical_json, loads
from ..crypto.field import field_aad
from ..errors import DecryptionError, KeyRetired, SubjectErased, UnknownSubject
from .keystore import SubjectKeys

__all__ = ["open_sealed", "seal"]


def seal(keys: SubjectKeys, pseudo: str, field: str, value: dict[str, Any]) -> str:
    """``value`` (JSON-able) encrypted under ``pseudo``'s key, as base64 text for a record."""
    cipher = keys.cipher(pseudo, create=True)
    blob = cipher.encrypt(canonical_json(value), aad=field_aad(subject=pseudo, field=field))
    return base64.b64encode(blob).decode()


def open_sealed(keys: SubjectKeys, pseudo: str, field: str, text: str) -> dict[str, Any] | None:
    """What :func:`seal` sealed, or ``None`` once the person was erased (their key is gone).

    A ciphertext that fails authentication (tampered, or moved from another record) raises
    :class:`~sdk.errors.DecryptionError`; it is never silently read as missing.
    """
    try:
        cipher = keys.cipher(pseudo, create=False)
    except (SubjectErased, UnknownSubject, KeyRetired):
        return None
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError(f"the sealed {field.split('/')[0]} is not valid base64") from None
    value: dict[str, Any] = loads(cipher.decrypt(blob, aad=field_aad(subject=pseudo, field=field)))
    return value
