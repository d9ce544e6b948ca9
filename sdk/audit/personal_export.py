"""The personal fields of an audit export, decrypted for compliance (``export(personal=True)``).

The ledger segment and records file of an export hold the entries exactly as stored, so the
personal parts are ciphertexts there. A compliance officer who needs them gets one more file,
``personal.jsonl``, listed (and so hashed and signed) in the manifest: one line per selected
decision, recommendation or review action, with its inputs, exact score, probability and item
scores, contributions, notes, reasons and contest message decrypted while the person's key
exists, and ``"erased": true`` with no fields once it does not. Nothing in it is needed to
verify the export.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..crypto.field import FieldCipher
from ..errors import DecryptionError, KeyRetired, SubjectErased, UnknownSubject
from ..keys import SubjectKeys
from .entries import DecisionRecord, RecommendationRecord, ReviewRecord
from .records import ACTION_KINDS, decrypt_text
from .sealing import decision_parts, listing_parts, review_text

__all__ = ["PERSONAL_FILE", "PersonalFields"]

PERSONAL_FILE = "personal.jsonl"


class PersonalFields:
    """Writes ``personal.jsonl`` as the export walks its selected audit entries."""

    def __init__(self, keys: SubjectKeys, path: Path) -> None:
        self._keys = keys
        self._path = path
        self._out: Any = None
        self._ciphers: dict[str, FieldCipher | None] = {}

    def _cipher(self, pseudo: str) -> FieldCipher | None:
        if pseudo not in self._ciphers:  # one key lookup per person per export
            cipher: FieldCipher | None
            try:
                cipher = self._keys.cipher(pseudo, create=False)
            except (SubjectErased, UnknownSubject, KeyRetired, DecryptionError):
                cipher = None
            self._ciphers[pseudo] = cipher
        return self._ciphers[pseudo]

    def add(self, seq: int, body: dict[str, Any]) -> None:
        """One selected audit entry (its parsed body); entries with nothing personal are skipped."""
        kind = str(body.get("kind"))
        data = body.get("data") or {}
        pseudo = str(body.get("subject") or "")
        if kind not in ("decision", "recommendation") and kind not in ACTION_KINDS:
            return
        cipher = self._cipher(pseudo) if pseudo else None
        fields = None if cipher is None else _fields(kind, data, cipher, pseudo)
        row = {
            "seq": seq,
            "kind": kind,
            "decision_id": data.get("decision_id"),
            "subject": pseudo,
            "erased": fields is None,
            "fields": fields,
        }
        self._file().write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")

    def _file(self) -> Any:
        if self._out is None:  # opened on first use: the export creates the folder first
            self._out = open(self._path, "w", encoding="utf-8")  # noqa: SIM115
        return self._out

    def close(self) -> None:
        """Finish the file (an empty one when nothing was selected)."""
        self._file().close()


def _inputs(values: dict[str, float] | None) -> dict[str, float | None] | None:
    # a missing value (NaN) as null, so the file is plain JSON
    if values is None:
        return None
    return {k: None if v != v else v for k, v in values.items()}


def _fields(kind: str, data: dict[str, Any], cipher: FieldCipher, pseudo: str) -> dict[str, Any]:
    if kind == "decision":
        opened = decision_parts(DecisionRecord.model_validate(data), cipher, pseudo)
        return {
            "inputs": _inputs(opened.inputs),
            "score": opened.score,
            "probability": opened.probability,
            "contributions": opened.contributions,
            "residual": opened.residual,
            "trigger": opened.trigger,
            "shadow": opened.shadow,
        }
    if kind == "recommendation":
        listing = RecommendationRecord.model_validate(data)
        opened = listing_parts(listing, cipher, pseudo)
        return {
            "items": [
                {
                    "item_id": item.item_id,
                    "inputs": _inputs(values.inputs),
                    "score": values.score,
                    "model_score": values.model_score,
                    "propensity": values.propensity,
                    "contributions": phi,
                }
                for item, phi, values in zip(
                    listing.items, opened.items or [], opened.values or [], strict=True
                )
            ],
            "shadow": opened.shadow,
        }
    action = ReviewRecord.model_validate(data)
    texts = review_text(action, kind, cipher, pseudo) or {}
    out: dict[str, Any] = {k: v for k, v in texts.items() if v is not None}
    if action.message is not None:
        out["message"] = decrypt_text(cipher, pseudo, action.decision_id, action.message)
    return out
