"""The one hash a model sign-off covers: model text, card (review policy included) and schema.

A version's *governed hash* is the SHA-256 of the RFC 8785 canonical JSON of::

    {"format": "whylens.governed-model/1",
     "text_sha256": <hex SHA-256 of the LightGBM model text>,
     "card": <the stored card, as JSON>,
     "schema": <the stored feature schema, as JSON>}

The card carries the review policy (uncertainty band, consent purposes, what happens without
consent, sensitive segments, sampling), the threshold and outcomes, so an edit of any of these, of
the schema (a feature's purpose or sensitive flag) or of the trees changes the hash. It is
computed from the JSON *as stored* (not re-serialized from the parsed card), so even a field the
card model would ignore changes it. Registration and sign-off record it on the ledger
(:mod:`sdk.models.governance`); the registry recomputes it whenever it loads a version.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .._canonical import sha256_of
from ..errors import ModelTampered

__all__ = ["GOVERNED_FORMAT", "governed_hash", "governed_of_stored"]

GOVERNED_FORMAT = "whylens.governed-model/1"


def governed_hash(text: bytes, card: Any, schema: Any) -> str:
    """The governed hash of one model version (see the module docstring)."""
    return sha256_of(
        {
            "format": GOVERNED_FORMAT,
            "text_sha256": hashlib.sha256(text).hexdigest(),
            "card": card,
            "schema": schema,
        }
    )


def governed_of_stored(text: bytes, document: Any) -> str:
    """The governed hash of a ``models`` row: its text and its card column (parsed JSON);
    :class:`ModelTampered` if the card column is not the document whylens writes."""
    if not isinstance(document, dict) or "card" not in document or "schema" not in document:
        raise ModelTampered("a stored model card is not the JSON whylens wrote")
    return governed_hash(text, document["card"], document["schema"])
