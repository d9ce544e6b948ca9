"""What recommend and decide share: the parts a decision touches, model and consent look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..audit.entries import ConsentRecord
from ..audit.trail import AuditTrail
from ..consent import ConsentLedger
from ..errors import WrongModelKind
from ..explain.disclosure import Disclosures
from ..keys import SubjectKeys
from ..ledger.follow import LedgerFollower
from ..models.curation import Curation
from ..models.preferences import Preferences
from ..models.registry import Model, ModelRegistry
from ..types import (
    ConsentState,
)


class ListSampler(Protocol):
    """Draws served lists for review by a person (:class:`sdk.audit.oversight.ListReviews`)."""

    def offer(self, decision_id: str, model: str, version: int, items: list[str]) -> bool:
        """Record the list for review if its seeded draw says so; True when sampled."""
        ...


@dataclass(frozen=True)
class EngineBase:
    """The parts one decision touches, and what recommend and decide share."""

    consent: ConsentLedger
    models: ModelRegistry
    keys: SubjectKeys
    trail: AuditTrail
    mac_key: bytes
    preferences: Preferences | None = None
    follower: LedgerFollower | None = None
    """The views' shared catch-up: each call folds what any process appended, once."""
    curation: Curation | None = None
    oversight: ListSampler | None = None
    disclosures: Disclosures = field(default_factory=Disclosures)

    def _call(self) -> AbstractContextManager[Any]:
        """One serving call: catch every view up with the ledger once, on entry."""
        return self.follower.call() if self.follower is not None else nullcontext()

    def _model(self, name: str | Model, kind: str) -> Model:
        model = name if isinstance(name, Model) else self.models.serving(name)
        if model.kind != kind:
            # worded for both callers: the Python facade and the HTTP route of the same name
            use = "recommend (POST /v1/recommend)" if model.kind == "ranker" else (
                "decide (POST /v1/decide)")
            raise WrongModelKind(f"model {model.name!r} is a {model.kind}; use it with {use}")
        self.models.check_signed(model)
        return model

    def _consent_record(
        self, state: ConsentState, masked: Sequence[str], **more: Any
    ) -> ConsentRecord:
        """The consent part of a record: the state's hash, the entries it rests on, the masked
        features, and what ``more`` adds (decisions: needed, missing, authorisation)."""
        return ConsentRecord(
            state_hash=state.state_hash,
            based_on=list(state.based_on),
            masked=list(masked),
            **more,
        )
