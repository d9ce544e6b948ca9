"""Human review: the queue of held decisions, approval, override with a reason, and contest.

Each action is a new audit record naming the decision; the decision's effective outcome is folded
from the chain, never written over.

*Assess first* (``ReviewPolicy.assess_first``): against automation bias, a reviewer first sees the
case without the model's suggestion (:meth:`ReviewQueue.cases`), records their own view
(:meth:`ReviewQueue.assess`, an audit record), and only then may approve or override.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ..errors import ReviewStateError
from ..explain.disclosure import Disclosures
from ..keys import SubjectKeys
from ..models.registry import Model, ModelRegistry
from ..types import Decision, Frozen
from .entries import ReviewRecord, decision_record
from .policy import check_contest_window
from .records import decrypt_text, encrypt_text, try_cipher
from .sealing import RECORD_VERSION, Opened, open_entries, review_text_id, seal_part
from .trail import AuditTrail
from .views import decision_view, model_of

__all__ = ["ReviewCase", "ReviewQueue"]

_REVIEWER = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")
_MAX_TEXT = 2000


class ReviewCase(Frozen):
    """A decision as a reviewer first sees it; under *assess first* without the model's view.

    ``inputs`` are the decrypted feature values as a reviewer reads them: a number, a
    categorical feature's category as ``"label (code)"``, ``None`` when missing or once the
    subject was erased. ``values`` are the same inputs as the model saw them (a category by its
    integer code, NaN when missing), to score or measure with.
    ``suggestion`` (the model's outcome), ``probability`` and ``score`` are ``None`` while
    ``suggestion_hidden``, and the probability and score once the subject was erased.
    """

    decision_id: str
    model: str
    model_version: int
    created_at: datetime
    trigger: str | None
    contested: bool
    inputs: dict[str, float | str | None]
    values: dict[str, float | None]
    labels: dict[str, str]
    suggestion_hidden: bool
    suggestion: str | None
    probability: float | None
    score: float | None


class ReviewQueue:
    """``p.reviews``: what waits for a person, and what a person decides."""

    def __init__(
        self,
        trail: AuditTrail,
        models: ModelRegistry,
        keys: SubjectKeys,
        *,
        disclosures: Disclosures | None = None,
    ) -> None:
        self._trail = trail
        self._models = models
        self._keys = keys
        self._disclosures = disclosures or Disclosures()

    def get(self, decision_id: str, *, locale: str = "en") -> Decision:
        """The effective state of one decision."""
        state = self._trail.state(decision_id)
        entry, actions = self._trail.entries_of(decision_id)
        model = model_of(self._models, entry)
        values = None
        cipher = try_cipher(self._keys.cipher, state.subject)
        opened = open_entries(cipher, state.subject, entry, actions)
        if entry.kind == "decision" and model.schema.categorical:
            # the text names the person's categories, as the decision's own text did
            values = _inputs(opened, model.schema.names)
        return decision_view(
            state,
            entry,
            actions,
            model,
            opened=opened,
            locale=locale,
            values=values,
            disclosures=self._disclosures,
        )

    def pending(self) -> list[Decision]:
        """Decisions waiting for a person (held by policy, or contested), oldest first."""
        return [self.get(d) for d in self._trail.decisions(status="pending_review")]

    def cases(self, *, reviewer: str) -> list[ReviewCase]:
        """The pending decisions as ``reviewer`` may see them now, oldest first.

        Under an *assess first* policy the model's suggestion stays hidden until this reviewer
        has recorded their own view with :meth:`assess`.
        """
        _reviewer(reviewer)
        return [
            self.case(d, reviewer=reviewer) for d in self._trail.decisions(status="pending_review")
        ]

    def case(self, decision_id: str, *, reviewer: str) -> ReviewCase:
        """One decision as ``reviewer`` may see it now (see :meth:`cases`)."""
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        entry, _ = self._trail.entries_of(decision_id)
        model = model_of(self._models, entry)
        policy = model.card.review_policy
        hidden = bool(policy and policy.assess_first) and reviewer not in state.assessed_by
        output = decision_record(entry).output
        cipher = try_cipher(self._keys.cipher, state.subject)
        opened = open_entries(cipher, state.subject, entry, ())
        values = _inputs(opened, model.schema.names)
        return ReviewCase(
            decision_id=decision_id,
            model=model.name,
            model_version=model.version,
            created_at=entry.ts,
            # the exact trigger names the probability: hidden with it under assess-first
            trigger=output.trigger if hidden or opened.trigger is None else opened.trigger,
            contested=state.contested,
            inputs={name: _shown(model, name, v) for name, v in values.items()},
            values=values,
            labels={f.name: f.label for f in model.schema},
            suggestion_hidden=hidden,
            suggestion=None if hidden else state.automated_outcome,
            probability=None if hidden else opened.probability,
            score=None if hidden else opened.score,
        )

    def assess(
        self, decision_id: str, *, reviewer: str, outcome: str, note: str | None = None
    ) -> Decision:
        """Record ``reviewer``'s own view of a pending decision before seeing the model's."""
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        if state.status != "pending_review":
            raise ReviewStateError(f"decision {decision_id} is {state.status}, not pending review")
        self._check_outcome(decision_id, outcome)
        if reviewer in state.assessed_by:
            raise ReviewStateError("this reviewer already recorded a view of this decision")
        record = ReviewRecord(
            decision_id=decision_id,
            model=state.model,
            reviewer=_reviewer(reviewer),
            outcome=outcome,
            note=_text(note),
        )
        self._append("review.assess", state.subject, record)
        return self.get(decision_id)

    def _check_outcome(self, decision_id: str, outcome: str) -> None:
        """An outcome a reviewer gives must be one the decision's model can produce."""
        entry, _ = self._trail.entries_of(decision_id)
        model = model_of(self._models, entry)
        allowed = model.card.outcomes or ()
        if outcome not in allowed:
            raise ReviewStateError(
                f"outcome must be one of {', '.join(allowed)} for model {model.name!r}"
            )

    def _require_assessed(self, decision_id: str, reviewer: str) -> None:
        state = self._trail.state(decision_id)
        entry, _ = self._trail.entries_of(decision_id)
        policy = model_of(self._models, entry).card.review_policy
        if policy and policy.assess_first and reviewer not in state.assessed_by:
            raise ReviewStateError(
                "this model's policy is assess-first: record your own view with "
                "reviews.assess() before approving or overriding"
            )

    def approve(self, decision_id: str, *, reviewer: str, note: str | None = None) -> Decision:
        """Confirm a pending decision's outcome."""
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        self._require_assessed(decision_id, reviewer)
        if state.status != "pending_review":
            raise ReviewStateError(
                f"decision {decision_id} is {state.status}, not pending review; only pending "
                "decisions can be approved (use override to change an outcome)"
            )
        record = ReviewRecord(
            decision_id=decision_id,
            model=state.model,
            reviewer=_reviewer(reviewer),
            note=_text(note),
        )
        self._append("review.approve", state.subject, record)
        return self.get(decision_id)

    def override(self, decision_id: str, *, outcome: str, reviewer: str, reason: str) -> Decision:
        """Replace a decision's outcome; the reason is required and recorded.

        Reviewer ids are stored as written; the reason (like any note) is sealed under the
        person's key, so reviewers see it while the person exists and it goes on erasure.
        """
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        self._require_assessed(decision_id, reviewer)
        self._check_outcome(decision_id, outcome)
        if not reason or not reason.strip():
            raise ReviewStateError("an override needs a reason; say why the outcome changes")
        record = ReviewRecord(
            decision_id=decision_id,
            model=state.model,
            reviewer=_reviewer(reviewer),
            outcome=outcome,
            reason=_text(reason),
        )
        self._append("review.override", state.subject, record)
        return self.get(decision_id)

    def contest(self, decision_id: str, *, message: str) -> Decision:
        """The person asks for a human to look again; their message is stored encrypted."""
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        if not isinstance(message, str) or not message.strip() or len(message) > _MAX_TEXT:
            raise ReviewStateError(f"message must be 1 to {_MAX_TEXT} characters of text")
        entry, _ = self._trail.entries_of(decision_id)
        check_contest_window(
            model_of(self._models, entry).card.review_policy, entry.ts, datetime.now(UTC)
        )
        cipher = self._keys.cipher(state.subject, create=False)
        record = ReviewRecord(
            decision_id=decision_id,
            model=state.model,
            message=encrypt_text(cipher, state.subject, decision_id, message),
        )
        self._append("review.contest", state.subject, record)
        return self.get(decision_id)

    def _append(self, kind: str, subject: str, record: ReviewRecord) -> None:
        # a note or reason is about the person: sealed under their key, so it goes with it
        texts = {"note": record.note, "reason": record.reason}
        if any(v is not None for v in texts.values()):
            cipher = self._keys.cipher(subject, create=False)  # SubjectErased once erased
            sealed = seal_part(
                cipher, subject, review_text_id(record.decision_id, kind), "text", texts
            )
            record = record.model_copy(update={"note": None, "reason": None, "sealed": sealed})
        record = record.model_copy(update={"version": RECORD_VERSION})
        # only the fields an action has go on the ledger (an approval has no outcome)
        self._trail.append(kind, subject, record.model_dump(mode="json", exclude_none=True))

    def contest_messages(self, decision_id: str) -> tuple[str, ...]:
        """What the person wrote when contesting ``decision_id``, oldest first, for the reviewer
        (empty once the person was erased: their words went with their key)."""
        state = self._trail.state(decision_id)
        _, actions = self._trail.entries_of(decision_id)
        cipher = try_cipher(self._keys.cipher, state.subject)
        if cipher is None:
            return ()
        return tuple(
            decrypt_text(cipher, state.subject, decision_id, e.data["message"])
            for e in actions
            if e.kind == "review.contest"
        )

    @staticmethod
    def _require_decision(kind: str) -> None:
        if kind != "decision":
            raise ReviewStateError("recommendations are not reviewed; only decisions are")


def _inputs(opened: Opened, names: tuple[str, ...] | list[str]) -> dict[str, float | None]:
    """The decision's inputs by feature, ``None`` for each once the person was erased."""
    if opened.inputs is None:
        return dict.fromkeys(names)
    return {name: opened.inputs.get(name) for name in names}


def _reviewer(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not _REVIEWER.match(reviewer):
        raise ReviewStateError("reviewer must be a staff id of 1-128 letters, digits or . _ @ : -")
    return reviewer


def _text(text: str | None) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise ReviewStateError(f"notes and reasons must be text of at most {_MAX_TEXT} characters")
    return text


def _shown(model: Model, name: str, value: float | None) -> float | str | None:
    """A model input as a reviewer reads it: the category's label and code, not its index."""
    if value is None or value != value:
        return None
    feature = model.schema[name]
    if not feature.is_categorical:
        return value
    code = feature.category_of(value)
    return f"{feature.category_label(code)} ({code})" if code is not None else None
