"""The audit trail: decision records on the ledger, an index of their effective state, verify.

The index (decision id -> folded state) is a view of stream ``audit`` folded by the store's shared
:class:`~sdk.ledger.follow.LedgerFollower`: every read catches up first, so decisions and review
actions of other processes are found; the ledger stays the only truth.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..crypto.signing import Signer
from ..errors import AuditError, DecisionNotFound, ReviewStateError
from ..ledger import Ledger, LedgerEntry
from ..ledger.follow import LedgerFollower
from ..models.registry import ModelRegistry
from ..types import ExportManifest, VerifyReport
from .entries import ReviewRecord, record_head, review_record
from .protected import ProtectedAttributes
from .records import ACTION_KINDS, DECISION_KINDS, OUTCOME_KIND, DecisionState, fold_actions

if TYPE_CHECKING:
    from ..keys import SubjectKeys
    from .fairness import FairnessReport
    from .proofs import AuditProof, ConsistencyEvidence

__all__ = ["STREAM", "AuditTrail"]

STREAM = "audit"

_DECISION_ID = re.compile(r"dec_[0-9a-f]{32}")


class AuditTrail:
    """``p.audit``: the decision records, their verification and export."""

    def __init__(
        self,
        ledger: Ledger,
        keyring: Signer,
        *,
        models: ModelRegistry,
        protected: ProtectedAttributes,
        follower: LedgerFollower,
        keys: SubjectKeys | None = None,
    ) -> None:
        self._ledger = ledger
        self._keyring = keyring
        self._keys = keys
        self._models = models
        self._follower = follower
        # taken by apply() under the follower's lock and by readers; never held while calling it
        self._lock = threading.RLock()
        self._index: dict[str, DecisionState] = {}
        self.protected = protected
        """Protected attributes for the bias audit."""
        follower.register(self, (STREAM,))

    def _registry(self) -> ModelRegistry:
        return self._models

    # -- writing ------------------------------------------------------------------------------

    def append(self, kind: str, subject: str, data: dict[str, Any]) -> LedgerEntry:
        """Append one record (decision or review action) and index it."""
        entry = self._ledger.append(STREAM, kind, data, subject=subject)
        self._follower.appended(entry)
        return entry

    # -- the index (a view folded by the follower) ----------------------------------------------

    def catch_up(self) -> None:
        """Fold the audit records every process appended since the last call."""
        self._follower.catch_up()

    def reset(self) -> None:
        """Forget the index (before a rebuild from the ledger)."""
        with self._lock:
            self._index = {}

    def apply(self, entry: LedgerEntry) -> None:
        """Fold one ``audit`` stream entry into the index."""
        with self._lock:
            self._apply(entry)

    def _apply(self, entry: LedgerEntry) -> None:
        if entry.kind in DECISION_KINDS:
            head = record_head(entry)
            output = head.output
            status = output.status if output is not None else "automated"
            self._index[head.decision_id] = DecisionState(
                seq=entry.seq,
                kind=entry.kind,
                subject=entry.subject or "",
                model=head.model.name,
                model_version=head.model.version,
                automated_outcome=output.outcome if output is not None else None,
                status=status,
                outcome=(output.provisional_outcome or output.outcome) if output else None,
                held=status == "pending_review",
                ts=entry.ts.timestamp(),
            )
        elif entry.kind in ACTION_KINDS:
            action = review_record(entry)
            state = self._index.get(action.decision_id)
            if state is not None:
                fold_actions(state, entry.kind, entry.seq, action)
        elif entry.kind == OUTCOME_KIND:
            outcome = review_record(entry)
            state = self._index.get(outcome.decision_id)
            if state is not None:
                state.actual = str(outcome.actual)

    # -- reading ------------------------------------------------------------------------------

    def state(self, decision_id: str) -> DecisionState:
        """The folded state of a decision (after catching up), or :class:`DecisionNotFound`."""
        self._follower.catch_up()
        return self._state(decision_id)

    def _state(self, decision_id: str) -> DecisionState:
        with self._lock:
            state = self._index.get(decision_id) if isinstance(decision_id, str) else None
        if state is None:
            # echo only what has the shape of a decision id: anything else may be personal data
            # sent by mistake (an e-mail address in the id's place)
            shown = (
                f" {decision_id!r}"
                if isinstance(decision_id, str) and _DECISION_ID.fullmatch(decision_id)
                else ""
            )
            raise DecisionNotFound(
                f"no decision{shown} in this database; decision ids look like dec_0193... "
                "(dec_ and 32 hex digits)"
            )
        return state

    def entries_of(self, decision_id: str) -> tuple[LedgerEntry, list[LedgerEntry]]:
        """The decision's own entry and its review actions, oldest first (no catch-up: call
        :meth:`state` first)."""
        state = self._state(decision_id)
        with self._lock:
            seqs = list(state.action_seqs)
        return self._ledger.get(state.seq), [self._ledger.get(s) for s in seqs]

    def decisions(self, *, status: str | None = None, subject: str | None = None) -> Iterator[str]:
        """Decision ids (in time order), optionally filtered by status or subject pseudonym."""
        self._follower.catch_up()
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
        self._follower.catch_up()
        with self._lock:
            return [d for d, s in self._index.items() if s.subject == subject]

    # -- outcomes and bias audit ---------------------------------------------------------------

    def record_outcome(self, decision_id: str, actual: str) -> LedgerEntry:
        """Record the true outcome of a decision once known (e.g. the loan was repaid).

        ``actual`` is one of the model's outcome names. An audit record like any other; the last
        one recorded for a decision counts.
        """
        self._follower.catch_up()
        state = self.state(decision_id)
        if state.kind != "decision":
            raise ReviewStateError("true outcomes are recorded for decisions, not recommendations")
        card = self._registry().get(state.model, state.model_version).card
        allowed = card.outcomes or ()
        if actual not in allowed:
            raise AuditError(
                f"actual must be one of {', '.join(allowed)} for model {state.model!r}"
            )
        record = ReviewRecord(decision_id=decision_id, model=state.model, actual=actual)
        return self.append(OUTCOME_KIND, state.subject, record.model_dump(exclude_none=True))

    def fairness(
        self,
        model: str,
        *,
        group_by: str,
        since: datetime | None = None,
        until: datetime | None = None,
        reference: str | None = None,
        bootstrap: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> FairnessReport:
        """Bias audit of ``model``'s decisions in ``[since, until]`` by protected attribute
        ``group_by`` (see :mod:`sdk.audit.fairness`). Subjects without the attribute (or erased)
        form the group ``"unknown"``. ``reference`` defaults to the group selected most often.
        """
        from .fairness import fairness_report
        from .protected import check_not_protected

        for bound in (since, until):
            if bound is not None and bound.tzinfo is None:
                raise AuditError("since and until must be timezone-aware datetimes")
        if not isinstance(bootstrap, int) or bootstrap < 0 or not 0.0 < confidence < 1.0:
            raise AuditError("bootstrap must be an int >= 0 and confidence in (0, 1)")
        self._follower.catch_up()
        registry = self._registry()
        current = registry.get(model)
        check_not_protected(current.schema.names, [group_by])
        favourable = (current.card.outcomes or ("", ""))[1]
        lo = since.timestamp() if since else float("-inf")
        hi = until.timestamp() if until else float("inf")
        with self._lock:
            rows = [
                s
                for s in self._index.values()
                if s.kind == "decision" and s.model == model and lo <= s.ts <= hi
            ]
        values = self.protected.of_pseudonyms(group_by, {s.subject for s in rows})
        if not rows:
            raise AuditError(f"no decisions of model {model!r} in that period")
        groups = [str(values.get(s.subject, "unknown")) for s in rows]
        if reference is not None and reference not in groups:
            raise AuditError(f"reference group {reference!r} has no decisions in that period")
        return fairness_report(
            model=model,
            group_by=group_by,
            favourable=favourable,
            groups=groups,
            predicted=[s.outcome == favourable for s in rows],
            actual=[None if s.actual is None else s.actual == favourable for s in rows],
            reviewed=[s.held or s.was_contested for s in rows],
            overridden=[s.status == "overridden" for s in rows],
            reference=reference,
            since=since,
            until=until,
            n_boot=bootstrap,
            confidence=confidence,
            seed=seed,
        )

    # -- integrity ----------------------------------------------------------------------------

    def verify(self, *, trusted_checkpoint: str | None = None) -> VerifyReport:
        """Check the ledger's hash chain (decisions and consent share one chain) end to end, and
        that the store holds every entry its witnesses (and ``trusted_checkpoint``, a note an
        auditor kept) anchored."""
        return self._ledger.verify(trusted_checkpoint=trusted_checkpoint)

    def prove(self, decision_id: str) -> AuditProof:
        """Inclusion proofs, against the latest signed checkpoint, for the decision's record,
        its review actions and the consent entries it names; check offline with
        :func:`sdk.audit.verify_proof`."""
        from .proofs import prove_decision

        self._follower.catch_up()
        state = self.state(decision_id)
        with self._lock:
            actions = list(state.action_seqs)
        return prove_decision(self._ledger, state.seq, actions, decision_id)

    def prove_consistency(
        self, old_checkpoint: str, new_checkpoint: str | None = None
    ) -> ConsistencyEvidence:
        """Evidence that the ledger of ``new_checkpoint`` (default: today's) extends the one of
        ``old_checkpoint`` (a signed note kept from an earlier proof or export);
        :class:`AuditError` if it was rolled back. Check offline with
        :func:`sdk.audit.verify_consistency`, or pass it as ``consistency=`` to
        :func:`sdk.audit.verify_export` and :func:`sdk.audit.verify_proof` with a trusted
        checkpoint of another size."""
        from .proofs import prove_consistency

        return prove_consistency(self._ledger, old_checkpoint, new_checkpoint)

    def export(
        self,
        path: str | Path,
        *,
        format: str = "jsonl",
        since: datetime | None = None,
        until: datetime | None = None,
        model: str | None = None,
        personal: bool = False,
    ) -> ExportManifest:
        """Write the ledger entries in ``[since, until]`` to folder ``path`` with a signed manifest.

        The export holds every entry of that stretch of the chain (consent and audit alike, so the
        chain can be checked offline) exactly as stored: subjects as pseudonyms, personal inputs,
        contributions, notes and reasons encrypted under each person's key.
        :func:`sdk.audit.verify_export` checks it without a database or keyring.

        ``personal=True`` (for compliance) adds ``personal.jsonl``: each selected record's
        personal fields decrypted while the person's key exists, ``"erased": true`` once not.
        """
        from .export import write_export
        from .personal_export import PERSONAL_FILE, PersonalFields

        if isinstance(model, str):
            # a misspelt name would select no record at all, and the export would look complete
            self._registry().get(model)
        folder = Path(path)
        fields = None
        if personal:
            if self._keys is None:
                raise AuditError("a personal export needs the subject keys")
            fields = PersonalFields(self._keys, folder / PERSONAL_FILE)
        return write_export(
            self._ledger,
            self._keyring,
            folder,
            format,
            since,
            until,
            model=model,
            personal=fields,
        )
