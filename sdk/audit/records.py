"""The shape of audit records on the ledger, and the effective state derived from them.

A decision is one ledger entry (kind ``decision`` or ``recommendation``); every later review action
(``review.approve``, ``review.override``, ``review.contest``) is another entry naming it. Nothing is
updated in place: a decision's effective status and outcome are folded from its entries.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import numpy as np

from .._canonical import loads
from ..crypto.field import FieldCipher, field_aad
from ..errors import DecryptionError, SubjectErased
from ..ledger import LedgerEntry
from ..models.registry import Model
from ..types import DecisionStatus, ReviewAction
from .entries import ReviewRecord, record_head, review_record

__all__ = [
    "ACTION_KINDS",
    "DECISION_KINDS",
    "OUTCOME_KIND",
    "DecisionState",
    "consent_authorisation",
    "decrypt_inputs",
    "feature_mac",
    "fold_actions",
    "input_aad_id",
    "input_vector",
    "model_ref",
    "new_decision_id",
]

DECISION_KINDS = frozenset({"decision", "recommendation"})
ACTION_KINDS = {
    "review.approve": "approved",
    "review.override": "overridden",
    "review.contest": "contested",
    "review.assess": "assessed",
}
OUTCOME_KIND = "outcome.actual"
"""A true outcome learned later (e.g. the loan was repaid), for false positive / negative rates."""


def new_decision_id() -> str:
    """A time-ordered id (UUIDv7 layout): 48-bit milliseconds, then 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms << 80)
        | (0x7 << 76)
        | ((rand >> 64) & 0x0FFF) << 64
        | (0b10 << 62)
        | (rand & ((1 << 62) - 1))
    )
    text = f"{value:032x}"
    return f"dec_{text}"


def model_ref(model: Model) -> dict[str, Any]:
    """How a record names the model that produced it."""
    return {
        "name": model.name,
        "version": model.version,
        "content_hash": model.content_hash,
        "kind": model.kind,
    }


def input_aad_id(decision_id: str, item_id: str | None = None) -> str:
    """The record id that binds encrypted inputs (by associated data): the decision id, or
    ``"<decision_id>/<item_id>"`` for the inputs of one recommended item."""
    return decision_id if item_id is None else f"{decision_id}/{item_id}"


def decrypt_inputs(
    cipher: FieldCipher | None, pseudo: str, decision_id: str, inputs: Mapping[str, str]
) -> dict[str, float | None]:
    """The inputs of a record of version 1 or 2, each encrypted on its own (version 3 seals
    them with the rest, see :mod:`sdk.audit.sealing`); ``None`` values once the subject was
    erased."""
    if cipher is None:
        return dict.fromkeys(inputs)
    out: dict[str, float | None] = {}
    for name, blob in inputs.items():
        plain = cipher.decrypt(
            base64.b64decode(blob),
            aad=field_aad(subject=pseudo, field=f"decision/{decision_id}/{name}"),
        )
        value = loads(plain)
        out[name] = float("nan") if value is None else float(value)
    return out


def feature_mac(key: bytes, vector: Mapping[str, float | None]) -> str:
    """Keyed hash of the exact feature vector the model saw (feature -> value, ``None`` for a
    missing one, in schema order), spelled as compact JSON (record version 3; versions 1 and 2
    hashed its RFC 8785 form, which no reader recomputes).

    Keyed (HMAC) rather than a bare SHA-256 because feature vectors have little entropy: a plain
    hash could be reversed by trying the likely values.
    """
    text = json.dumps(dict(vector), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hmac.new(key, text.encode(), sha256).hexdigest()


def input_vector(names: Sequence[str], row: np.ndarray) -> dict[str, float | None]:
    """One row of the model's matrix as feature -> value, ``None`` for a missing (NaN) one."""
    return {name: None if v != v else v for name, v in zip(names, row.tolist(), strict=True)}


@dataclass
class DecisionState:
    """What the in-memory index keeps per decision: where it is and its folded state."""

    seq: int
    kind: str
    subject: str
    model: str
    model_version: int
    automated_outcome: str | None
    status: DecisionStatus
    outcome: str | None
    contested: bool = False
    action_seqs: list[int] = field(default_factory=list)
    held: bool = False
    """Held for review by the policy when decided."""
    was_contested: bool = False
    contest_result: str | None = None
    assessed_by: set[str] = field(default_factory=set)
    actual: str | None = None
    ts: float = 0.0
    """POSIX time of the decision, for ``since`` / ``until`` filters."""
    person_decided: str | None = None
    """``"approved"`` or ``"overridden"``: the latest outcome a person gave (None: none yet)."""


def fold_actions(state: DecisionState, kind: str, seq: int, record: ReviewRecord) -> None:
    """Apply one review action entry (its kind, seq and record) to its decision's state."""
    action = ACTION_KINDS[kind]
    state.action_seqs.append(seq)
    if action == "assessed":
        state.assessed_by.add(str(record.reviewer))
        return
    if action == "approved":
        state.status = "approved"
        state.outcome = state.automated_outcome
    elif action == "overridden":
        state.status = "overridden"
        state.outcome = str(record.outcome)
    if action in ("approved", "overridden"):
        state.person_decided = action
        if state.contested:
            state.contest_result = state.outcome
        state.contested = False
    else:
        state.status = "pending_review"
        state.contested = True
        state.was_contested = True
        state.assessed_by.clear()


def review_action(
    entry: LedgerEntry, texts: Mapping[int, str | None] | None = None
) -> ReviewAction:
    """A ledger entry about a decision, as the decision's history shows it.

    ``texts`` (seq -> note or reason, see :func:`sdk.audit.sealing.open_entries`) gives the
    opened text of an action whose note or reason is sealed; without it only a version 1
    entry's clear text shows."""
    if entry.kind in DECISION_KINDS:
        head = record_head(entry)
        return ReviewAction(
            seq=entry.seq,
            action="decided",
            at=entry.ts,
            actor=f"model:{head.model.name}",
            outcome=head.output.outcome if head.output is not None else None,
        )
    action = ACTION_KINDS[entry.kind]
    record = review_record(entry)
    return ReviewAction(
        seq=entry.seq,
        action=action,  # type: ignore[arg-type]
        at=entry.ts,
        actor="subject" if action == "contested" else str(record.reviewer),
        outcome=record.outcome,
        reason=texts.get(entry.seq) if texts is not None else (record.reason or record.note),
    )


def consent_authorisation(
    events: Sequence[Any], based_on: Sequence[int], purpose: str
) -> dict[str, Any]:
    """The consent ledger entries (seq and hash) a decision's consent state rests on, and the
    entry and notice that authorise ``purpose`` (``None`` when the purpose needs no consent).

    ``events`` are the subject's :class:`~sdk.types.ConsentEvent` objects.
    """
    wanted = set(based_on)
    entries: dict[int, str] = {}
    authorised_by: int | None = None
    notice: dict[str, Any] | None = None
    for event in events:
        if event.seq in wanted:
            entries[event.seq] = event.entry_hash
            if event.purpose == purpose and event.action == "grant":
                authorised_by = event.seq
                notice = event.notice.model_dump(mode="json") if event.notice else None
    return {
        "entries": [{"seq": seq, "hash": entries[seq]} for seq in sorted(entries)],
        "authorised_by": authorised_by,
        "notice": notice,
    }


def encrypt_text(cipher: FieldCipher, pseudo: str, decision_id: str, text: str) -> str:
    """The person's own words (a contest message), encrypted under their key."""
    blob = cipher.encrypt(
        text.encode(), aad=field_aad(subject=pseudo, field=f"decision/{decision_id}/contest")
    )
    return base64.b64encode(blob).decode()


def decrypt_text(cipher: FieldCipher, pseudo: str, decision_id: str, blob: str) -> str:
    """Inverse of :func:`encrypt_text` (for the reviewer who reads the person's message)."""
    aad = field_aad(subject=pseudo, field=f"decision/{decision_id}/contest")
    plain = cipher.decrypt(base64.b64decode(blob), aad=aad)
    return plain.decode()


def try_cipher(get: Any, pseudo: str) -> FieldCipher | None:
    """The subject's cipher, or None once they were erased."""
    try:
        cipher: FieldCipher = get(pseudo, create=False)
        return cipher
    except (SubjectErased, DecryptionError):
        return None
