"""The flat columns of an exported audit record, derived from its ledger body alone.

The export writer and the offline verifier both call :func:`record_row`, so every column of the
records file (JSON Lines, CSV or Parquet) can be re-derived from the ``body`` column and checked.
:class:`Selector` decides, from the chain segment alone, which entries a ``model`` filter
selects: the writer and the verifier run it on the same entries, so a record left out of (or
slipped into) a filtered export is caught.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["COLUMNS", "FLOATS", "INTS", "Selector", "cell", "record_row"]

COLUMNS = (
    "seq",
    "hash",
    "ts",
    "kind",
    "decision_id",
    "subject",
    "model",
    "model_version",
    "model_hash",
    "purpose",
    "outcome",
    "provisional_outcome",
    "status",
    "probability",
    "score",
    "trigger",
    "reviewer",
    "reason",
    "actual",
    "feature_mac",
    "shown_text_sha256",
    "consent_state_hash",
    "consent_entries",
    "notice_id",
    "body",
)
INTS = frozenset({"seq", "model_version"})
FLOATS = frozenset({"probability", "score"})
AUDIT_STREAM = "audit"


def _model_name(data: dict[str, Any]) -> str | None:
    model = data.get("model")
    if isinstance(model, dict):
        return str(model.get("name"))
    return str(model) if isinstance(model, str) else None


def record_row(
    seq: int, digest: str, body_text: str, parsed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One record's columns (``None`` where a column does not apply to its kind)."""
    # json.loads, not the ledger's loads: only column values are read here, and cell() makes
    # an integral float and its RFC 8785 integer spelling compare equal
    body = parsed if parsed is not None else json.loads(body_text)
    data: dict[str, Any] = body.get("data") or {}
    ref = data.get("model")
    model: dict[str, Any] = ref if isinstance(ref, dict) else {}
    output = data.get("output") or {}
    consent = data.get("consent") or {}
    notice = consent.get("notice") or {}
    entries = consent.get("entries")
    return {
        "seq": seq,
        "hash": digest,
        "ts": body.get("ts"),
        "kind": body.get("kind"),
        "decision_id": data.get("decision_id"),
        "subject": body.get("subject"),
        "model": _model_name(data),
        "model_version": model.get("version"),
        "model_hash": model.get("content_hash"),
        "purpose": data.get("purpose"),
        "outcome": output.get("outcome", data.get("outcome")),
        "provisional_outcome": output.get("provisional_outcome"),
        "status": output.get("status"),
        "probability": output.get("probability"),
        "score": output.get("score"),
        "trigger": output.get("trigger"),
        "reviewer": data.get("reviewer"),
        "reason": data.get("reason") or data.get("note"),
        "actual": data.get("actual"),
        "feature_mac": data.get("feature_mac"),
        "shown_text_sha256": data.get("shown_text_sha256"),
        "consent_state_hash": consent.get("state_hash"),
        "consent_entries": None
        if entries is None
        else json.dumps([e["seq"] for e in entries], separators=(",", ":")),
        "notice_id": notice.get("notice_id"),
        "body": body_text,
    }


def cell(name: str, value: Any) -> str:
    """A column value as text, the same way whatever the file format (for comparison and CSV)."""
    if value is None or value == "":
        return ""
    if name in FLOATS:
        return repr(float(value))
    if name in INTS:
        return str(int(value))
    return str(value)


class Selector:
    """Which audit entries of a segment an export for ``model`` (``None``: all) holds.

    Fed every entry of the segment in seq order. A review action or true outcome belongs to the
    model it names, or else to the model of its decision when that decision is earlier in the
    same segment.
    """

    def __init__(self, model: str | None) -> None:
        self.model = model
        self._decision_model: dict[str, str | None] = {}

    def take(self, body: dict[str, Any]) -> bool:
        """Whether the entry with parsed ``body`` is selected."""
        if body.get("stream") != AUDIT_STREAM:
            return False
        data = body.get("data") or {}
        name = _model_name(data)
        if isinstance(data.get("model"), dict):
            if self.model is not None:
                self._decision_model[str(data.get("decision_id"))] = name
        elif name is None:
            name = self._decision_model.get(str(data.get("decision_id")))
        return self.model is None or name == self.model
