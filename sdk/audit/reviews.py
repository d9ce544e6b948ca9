"""Human review: the queue of held decisions, approval, override with a reason, and contest.

Each action is a new audit record naming the decision; the decision's effective outcome is folded
from the chain, never written over.
"""

from __future__ import annotations

import re

from ..errors import ReviewStateError
from ..models.registry import ModelRegistry
from ..subjects.keystore import SubjectKeys
from ..types import Decision
from .records import encrypt_text
from .trail import AuditTrail
from .views import decision_view, model_of

__all__ = ["ReviewQueue"]

_REVIEWER = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")
_MAX_TEXT = 2000


class ReviewQueue:
    """``p.reviews``: what waits for a person, and what a person decides."""

    def __init__(self, trail: AuditTrail, models: ModelRegistry, keys: SubjectKeys) -> None:
        self._trail = trail
        self._models = models
        self._keys = keys

    def get(self, decision_id: str, *, locale: str = "en") -> Decision:
        """The effective state of one decision."""
        state = self._trail.state(decision_id)
        entry, actions = self._trail.entries_of(decision_id)
        return decision_view(state, entry, actions, model_of(self._models, entry), locale=locale)

    def pending(self) -> list[Decision]:
        """Decisions waiting for a person (held by policy, or contested), oldest first."""
        return [self.get(d) for d in self._trail.decisions(status="pending_review")]

    def approve(self, decision_id: str, *, reviewer: str, note: str | None = None) -> Decision:
        """Confirm a pending decision's outcome."""
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        if state.status != "pending_review":
            raise ReviewStateError(
                f"decision {decision_id} is {state.status}, not pending review; only pending "
                "decisions can be approved (use override to change an outcome)"
            )
        data = {"decision_id": decision_id, "reviewer": _reviewer(reviewer), "note": _text(note)}
        self._trail.append("review.approve", state.subject, data)
        return self.get(decision_id)

    def override(self, decision_id: str, *, outcome: str, reviewer: str, reason: str) -> Decision:
        """Replace a decision's outcome; the reason is required and recorded.

        Reviewer ids and reasons are the reviewer's accountability record and are stored as
        written: they must not contain the person's personal data.
        """
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        entry, _ = self._trail.entries_of(decision_id)
        model = model_of(self._models, entry)
        allowed = model.card.outcomes or ()
        if outcome not in allowed:
            raise ReviewStateError(
                f"outcome must be one of {', '.join(allowed)} for model {model.name!r}"
            )
        if not reason or not reason.strip():
            raise ReviewStateError("an override needs a reason; say why the outcome changes")
        data = {
            "decision_id": decision_id,
            "reviewer": _reviewer(reviewer),
            "outcome": outcome,
            "reason": _text(reason),
        }
        self._trail.append("review.override", state.subject, data)
        return self.get(decision_id)

    def contest(self, decision_id: str, *, message: str) -> Decision:
        """The person asks for a human to look again; their message is stored encrypted."""
        state = self._trail.state(decision_id)
        self._require_decision(state.kind)
        if not isinstance(message, str) or not message.strip() or len(message) > _MAX_TEXT:
            raise ReviewStateError(f"message must be 1 to {_MAX_TEXT} characters of text")
        cipher = self._keys.cipher(state.subject, create=False)
        data = {
            "decision_id": decision_id,
            "message": encrypt_text(cipher, state.subject, decision_id, message),
        }
        self._trail.append("review.contest", state.subject, data)
        return self.get(decision_id)

    @staticmethod
    def _require_decision(kind: str) -> None:
        if kind != "decision":
            raise ReviewStateError("recommendations are not reviewed; only decisions are")


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
