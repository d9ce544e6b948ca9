"""The audit trail: decision records on the ledger, an index of their effective state, verify.

The index (decision id -> folded state) is rebuilt from the ledger when the Personalizer opens and
kept current on every append; the ledger stays the only truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..crypto.keyring import Keyring
from ..errors import DecisionNotFound
from ..ledger import Ledger, LedgerEntry
from ..types import ExportManifest, VerifyReport
from .records import ACTION_KINDS, DECISION_KINDS, DecisionState, fold_actions

__all__ = ["STREAM", "AuditTrail"]

STREAM = "audit"


class AuditTrail:
    """``p.audit``: the decision records, their verification and export."""

    def __init__(self, ledger: Ledger, keyring: Keyring) -> None:
        self._ledger = ledger
        self._keyring = keyring
        self._lock = threading.RLock()
        self._index: dict[str, DecisionState] = {}
        for entry in ledger.entries(stream=STREAM):
            self._apply(entry)

    # -- writing ------------------------------------------------------------------------------

    def append(self, kind: str, subject: str, data: dict[str, Any]) -> LedgerEntry:
        """Append one record (decision or review action) and index it."""
        with self._lock:
            entry = self._ledger.append(STREAM, kind, data, subject=subject)
            self._apply(entry)
        return entry

    def _apply(self, entry: LedgerEntry) -> None:
        data = entry.data
        if entry.kind in DECISION_KINDS:
            output = data.get("output") or {}
            status = output.get("status", "automated")
            self._index[data["decision_id"]] = DecisionState(
                seq=entry.seq,
                kind=entry.kind,
                subject=entry.subject or "",
                model=data["model"]["name"],
                model_version=int(data["model"]["version"]),
                automated_outcome=output.get("outcome"),
                status=status,
                outcome=output.get("provisional_outcome") or output.get("outcome"),
            )
        elif entry.kind in ACTION_KINDS:
            state = self._index.get(data["decision_id"])
            if state is not None:
                fold_actions(state, entry)

    # -- reading ------------------------------------------------------------------------------

    def state(self, decision_id: str) -> DecisionState:
        """The folded state of a decision, or :class:`DecisionNotFound`."""
        with self._lock:
            state = self._index.get(decision_id) if isinstance(decision_id, str) else None
        if state is None:
            shown = decision_id if isinstance(decision_id, str) and len(decision_id) <= 40 else "?"
            raise DecisionNotFound(
                f"no decision {shown!r} in this database; decision ids look like dec_0193..."
            )
        return state

    def entries_of(self, decision_id: str) -> tuple[LedgerEntry, list[LedgerEntry]]:
        """The decision's own entry and its review actions, oldest first."""
        state = self.state(decision_id)
        with self._lock:
            seqs = list(state.action_seqs)
        return self._ledger.get(state.seq), [self._ledger.get(s) for s in seqs]

    def decisions(self, *, status: str | None = None, subject: str | None = None) -> Iterator[str]:
        """Decision ids (in time order), optionally filtered by status or subject pseudonym."""
        with self._lock:
            items = list(self._index.items())
        for decision_id, state in items:
            if state.kind != "decision":
                continue
            if status is not None and state.status != status:
                continue
            if subject is not None and state.subject != subject:
                continue
            yield decision_id

    def records_of_subject(self, subject: str) -> list[str]:
        """Every decision and recommendation id about one subject pseudonym."""
        with self._lock:
            return [d for d, s in self._index.items() if s.subject == subject]

    # -- integrity ----------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check the ledger's hash chain (decisions and consent share one chain) end to end."""
        return self._ledger.verify()

    def export(
        self,
        path: str | Path,
        *,
        format: str = "jsonl",
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ExportManifest:
        """Write the ledger entries in ``[since, until]`` to folder ``path`` with a signed manifest.

        The export holds every entry of that stretch of the chain (consent and audit alike, so the
        chain can be checked offline) exactly as stored: subjects as pseudonyms, personal inputs
        encrypted. :func:`sdk.audit.verify_export` checks it without a database or keyring.
        """
        from .export import write_export

        return write_export(self._ledger, self._keyring, Path(path), format, since, until)
