"""The way of one decision: consent -> mask -> predict -> explain -> review policy -> audit.

``recommend`` ranks candidates with a ranker; ``decide`` makes one automated decision with a
classifier. Both check consent first, mask features whose purpose is not granted, explain exactly
what is shown (the served top-k items, or the decision), append one audit record, and emit a span
with ids and timings only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._canonical import sha256_hex, sha256_of
from .audit.records import encrypt_inputs, feature_mac, model_ref, new_decision_id
from .audit.trail import AuditTrail
from .consent import ConsentLedger
from .errors import ConfigurationError, FeatureError, WrongModelKind
from .explain.concepts import end_user_reasons
from .explain.narrative import decision_text, item_why, recommendation_notice
from .explain.treeshap import EXPLAINER, tree_shap
from .models.matrix import frame_matrix, mapping_matrix, mask_for_consent
from .models.registry import Model, ModelRegistry
from .subjects.keystore import SubjectKeys
from .telemetry import decision_counter, tracer
from .types import ConsentState, Decision, Recommendations, RecommendedItem, ReviewAction

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Engine"]

_MAX_K = 1000


@dataclass(frozen=True)
class Engine:
    """The parts one decision touches."""

    consent: ConsentLedger
    models: ModelRegistry
    keys: SubjectKeys
    trail: AuditTrail
    mac_key: bytes

    def _model(self, name: str | Model, kind: str) -> Model:
        model = name if isinstance(name, Model) else self.models.get(name)
        if model.kind != kind:
            use = "recommend()" if model.kind == "ranker" else "decide()"
            raise WrongModelKind(f"model {model.name!r} is a {model.kind}; use it with {use}")
        return model

    def _consent_record(self, state: ConsentState, masked: Sequence[str]) -> dict[str, Any]:
        return {
            "state_hash": state.state_hash,
            "based_on": list(state.based_on),
            "masked": list(masked),
        }

    # -- recommend ----------------------------------------------------------------------------

    def recommend(
        self,
        subject: str,
        candidates: pd.DataFrame | Sequence[Mapping[str, Any]],
        *,
        model: str | Model,
        k: int,
        context: Mapping[str, Any] | None,
        item_column: str,
        locale: str,
    ) -> Recommendations:
        with tracer.start_as_current_span("whylens.recommend") as span:
            pseudo = self.keys.pseudonym(subject)
            m = self._model(model, "ranker")
            if not isinstance(k, int) or not 0 < k <= _MAX_K:
                raise ConfigurationError(f"k must be an int from 1 to {_MAX_K}")
            frame = _as_frame(candidates)
            if item_column not in frame.columns:
                raise FeatureError(f"candidates need an item id column {item_column!r}")
            items = [str(i) for i in frame[item_column].tolist()]
            if len(set(items)) != len(items):
                raise FeatureError("candidate item ids must be unique")
            state = self.consent.state_of_pseudonym(pseudo)
            matrix, masked = mask_for_consent(m.schema, frame_matrix(m.schema, frame), state)
            personalized = not masked and any(
                self.consent.purposes.get(f.purpose).needs_consent for f in m.schema
            )
            raw = m.raw_scores(matrix)
            top = np.argsort(-raw, kind="stable")[:k]
            attributions = tree_shap(m.booster, matrix[top])
            decision_id = new_decision_id()
            cipher = self.keys.cipher(pseudo, create=True)
            served: list[RecommendedItem] = []
            records: list[dict[str, Any]] = []
            for rank, row in enumerate(top):
                contributions = dict(
                    zip(m.schema.names, attributions.phi[rank].tolist(), strict=True)
                )
                shown = end_user_reasons(
                    m.schema,
                    contributions,
                    masked=masked,
                    limit=2,
                    positive_only=True,
                    locale=locale,
                )
                why = item_why(shown, personalized=personalized, locale=locale)
                source = "personal" if personalized else "popular"
                served.append(
                    RecommendedItem(
                        item_id=items[row],
                        rank=rank + 1,
                        score=float(raw[row]),
                        source=source,
                        why=why,
                    )
                )
                records.append(
                    {
                        "item_id": items[row],
                        "rank": rank + 1,
                        "score": float(raw[row]),
                        "source": source,
                        "inputs": encrypt_inputs(
                            cipher,
                            pseudo,
                            f"{decision_id}/{items[row]}",
                            m.schema.names,
                            matrix[row],
                        ),
                        "contributions": attributions.phi[rank].tolist(),
                        "base_value": float(attributions.base[rank]),
                        "residual": float(attributions.residual[rank]),
                        "why_sha256": sha256_hex(why.encode()),
                    }
                )
            status = state.purposes.get("personalization", "not_given")
            notice = recommendation_notice(status if not personalized else "given", locale=locale)
            self.trail.append(
                "recommendation",
                pseudo,
                {
                    "decision_id": decision_id,
                    "purpose": "personalization",
                    "model": model_ref(m),
                    "consent": self._consent_record(state, masked),
                    "personalized": personalized,
                    "candidates": len(items),
                    "k": k,
                    "context_sha256": sha256_of(dict(context)) if context else None,
                    "explanation_method": EXPLAINER,
                    "items": records,
                    "notice_sha256": sha256_hex(notice.encode()),
                    "locale": locale,
                },
            )
            span.set_attributes(
                {
                    "whylens.decision_id": decision_id,
                    "whylens.model.name": m.name,
                    "whylens.model.version": m.version,
                    "whylens.candidates": len(items),
                    "whylens.personalized": personalized,
                    "whylens.masked_features": len(masked),
                }
            )
            decision_counter.add(
                1, {"whylens.kind": "recommendation", "whylens.model.name": m.name}
            )
            return Recommendations(
                decision_id=decision_id,
                model=m.name,
                model_version=m.version,
                personalized=personalized,
                notice=notice,
                items=tuple(served),
            )

    # -- decide -------------------------------------------------------------------------------

    def decide(
        self,
        subject: str,
        features: Mapping[str, Any],
        *,
        model: str | Model,
        locale: str,
    ) -> Decision:
        with tracer.start_as_current_span("whylens.decide") as span:
            pseudo = self.keys.pseudonym(subject)
            m = self._model(model, "classifier")
            card = m.card
            assert card.outcomes is not None and card.threshold is not None
            state = self.consent.state_of_pseudonym(pseudo)
            matrix, masked = mask_for_consent(m.schema, mapping_matrix(m.schema, features), state)
            attributions = tree_shap(m.booster, matrix)
            score = float(attributions.raw[0])
            probability = 1.0 / (1.0 + math.exp(-score))
            outcome = card.outcomes[1] if probability >= card.threshold else card.outcomes[0]
            trigger = _review_trigger(m, probability)
            status = "pending_review" if trigger else "automated"
            policy = card.review_policy
            provisional = (policy.provisional_outcome if policy else None) or outcome
            shown_outcome = provisional if trigger else outcome
            contributions = dict(zip(m.schema.names, attributions.phi[0].tolist(), strict=True))
            shown = end_user_reasons(m.schema, contributions, masked=masked, locale=locale)
            why = decision_text(
                outcome=shown_outcome,
                status=status,
                contested=False,
                shown=shown,
                locale=locale,
                masked=bool(masked),
            )
            decision_id = new_decision_id()
            cipher = self.keys.cipher(pseudo, create=True)
            entry = self.trail.append(
                "decision",
                pseudo,
                {
                    "decision_id": decision_id,
                    "purpose": "profiling",
                    "model": model_ref(m),
                    "consent": self._consent_record(state, masked),
                    "inputs": encrypt_inputs(
                        cipher, pseudo, decision_id, m.schema.names, matrix[0]
                    ),
                    "feature_mac": feature_mac(self.mac_key, m.schema.names, matrix[0]),
                    "output": {
                        "score": score,
                        "probability": probability,
                        "outcome": outcome,
                        "provisional_outcome": shown_outcome,
                        "status": status,
                        "trigger": trigger,
                    },
                    "explanation_method": EXPLAINER,
                    "explanation": {
                        "contributions": attributions.phi[0].tolist(),
                        "base_value": float(attributions.base[0]),
                        "residual": float(attributions.residual[0]),
                    },
                    "shown_text_sha256": sha256_hex(why.encode()),
                    "locale": locale,
                },
            )
            span.set_attributes(
                {
                    "whylens.decision_id": decision_id,
                    "whylens.model.name": m.name,
                    "whylens.model.version": m.version,
                    "whylens.status": status,
                    "whylens.masked_features": len(masked),
                }
            )
            decision_counter.add(
                1,
                {
                    "whylens.kind": "decision",
                    "whylens.model.name": m.name,
                    "whylens.status": status,
                },
            )
            return Decision(
                decision_id=decision_id,
                subject=pseudo,
                model=m.name,
                model_version=m.version,
                outcome=shown_outcome,
                automated_outcome=outcome,
                score=score,
                probability=probability,
                status=status,
                review_trigger=trigger,
                why=why,
                created_at=entry.ts,
                history=(
                    ReviewAction(
                        seq=entry.seq,
                        action="decided",
                        at=entry.ts,
                        actor=f"model:{m.name}",
                        outcome=outcome,
                    ),
                ),
            )


def _review_trigger(model: Model, probability: float) -> str | None:
    policy = model.card.review_policy
    if policy is None or policy.uncertainty_band is None:
        return None
    low, high = policy.uncertainty_band
    if low <= probability <= high:
        return f"uncertainty_band: probability {probability:.3f} in [{low:g}, {high:g}]"
    return None


def _as_frame(candidates: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(candidates, pd.DataFrame):
        frame = candidates
    elif isinstance(candidates, Sequence) and all(isinstance(c, Mapping) for c in candidates):
        frame = pd.DataFrame(list(candidates))
    else:
        raise FeatureError("candidates must be a pandas DataFrame or a list of mappings")
    if len(frame) == 0:
        raise FeatureError("no candidates to rank")
    return frame
