"""Storing a newly trained version: claim its number on the ledger, then write its row.

The ``model.registered`` entry (name, version, governed hash) is appended *before* the row goes
into the ``models`` table, so a process loading the latest version never meets a row the ledger
has not registered, and serving can refuse one it has not (a row inserted behind whylens's back).
Two processes may pick the same next number: the first registration of a number claims it, the
other process sees that it lost and tries the next one. A registration whose row never came (a
crash in between) only makes that number skipped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..errors import StoreError, TrainingError
from .governed import governed_of_stored

if TYPE_CHECKING:
    from .._store.abc import Store
    from ..types import ModelCard
    from .governance import Governance
    from .schema import FeatureSchema

__all__ = ["store_version"]

_CLAIM_ATTEMPTS = 20


def store_version(
    db: Store, governance: Governance | None, card: ModelCard, schema: FeatureSchema, text: bytes
) -> tuple[ModelCard, str]:
    """Store ``card`` (its version set to the number claimed) with ``schema`` and the model
    ``text``; returns the stored card and its governed hash."""
    name = card.name
    for _ in range(_CLAIM_ATTEMPTS):
        latest = db.models.latest_version(name) or 0
        if governance is not None:
            governance.catch_up()
            latest = max(latest, governance.latest_registered(name) or 0)
        card = card.model_copy(update={"version": latest + 1})
        stored = json.dumps({"card": card.model_dump(mode="json"), "schema": schema.to_json()})
        governed = governed_of_stored(text, json.loads(stored))
        if governance is not None and not governance.register(name, card.version, governed):
            continue  # another process claimed this number first
        try:
            db.models.insert(name, card.version, card.kind, card.content_hash, text, stored)
        except StoreError:
            if db.models.get(name, card.version) is None:
                raise
            continue  # a row of that number exists (stored without a registration)
        return card, governed
    raise TrainingError(
        f"could not claim a version number for model {name!r}: other processes kept "
        "registering the same numbers; train again"
    )
