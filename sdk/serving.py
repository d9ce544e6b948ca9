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
from .audit.policy import review_trigger
from .audit.protected import check_not_protected
from .audit.records import (
    consent_authorisation,
    encrypt_inputs,
    feature_mac,
    model_ref,
    new_decision_id,
)
from .audit.trail import AuditTrail
from .consent import ConsentLedger
from .errors import ConfigurationError, FeatureError, WrongModelKind
from .explain.concepts import end_user_reasons
from .explain.narrative import decision_text, recommendation_notice
from .explain.treeshap import EXPLAINER, tree_shap
from .models.matrix import frame_matrix, mapping_matrix, mask_for_consent
from .models.preferences import Preferences, PreferenceState
from .models.ranking import (
    concept_factors,
    mask_personal,
    numeric_column,
    place_promotions,
    promoted_top,
    request_seed,
    shadow_agreement,
    text_column,
    vector_columns,
    weighted_scores,
)
from .models.registry import Model, ModelRegistry
from .models.rerank import RerankPolicy
from .models.rerank import rerank as rerank_picks
from .models.rules import Rule, apply_rules
from .models.shadow import record_shadow
from .models.why import item_line, list_notice
from .subjects.keystore import SubjectKeys
from .telemetry import decision_counter, tracer
from .types import (
    ConsentState,
    Decision,
    ItemSource,
    Recommendations,
    RecommendedItem,
    ReviewAction,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Engine"]

_MAX_K = 1000
_TAGGED = ("exploration", "long_tail", "promoted")


@dataclass(frozen=True)
class Engine:
    """The parts one decision touches."""

    consent: ConsentLedger
    models: ModelRegistry
    keys: SubjectKeys
    trail: AuditTrail
    mac_key: bytes
    preferences: Preferences | None = None

    def _model(self, name: str | Model, kind: str) -> Model:
        model = name if isinstance(name, Model) else self.models.serving(name)
        if model.kind != kind:
            use = "recommend()" if model.kind == "ranker" else "decide()"
            raise WrongModelKind(f"model {model.name!r} is a {model.kind}; use it with {use}")
        self.models.check_signed(model)
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
        profiling: bool | None = None,
        rules: Sequence[Rule] = (),
        rerank: RerankPolicy | None = None,
        interests: Mapping[str, float] | None = None,
    ) -> Recommendations:
        with tracer.start_as_current_span("whylens.recommend") as span:
            pseudo = self.keys.pseudonym(subject)
            m = self._model(model, "ranker")
            if not isinstance(k, int) or not 0 < k <= _MAX_K:
                raise ConfigurationError(f"k must be an int from 1 to {_MAX_K}")
            if profiling not in (None, True, False):
                raise ConfigurationError("profiling must be True, False or None")
            policy = rerank or RerankPolicy()
            if not isinstance(policy, RerankPolicy):
                raise ConfigurationError("rerank must be a RerankPolicy")
            frame = _as_frame(candidates)
            if item_column not in frame.columns:
                raise FeatureError(f"candidates need an item id column {item_column!r}")
            all_items = [str(i) for i in frame[item_column].tolist()]
            if len(set(all_items)) != len(all_items):
                raise FeatureError("candidate item ids must be unique")
            state = self.consent.state_of_pseudonym(pseudo)
            prefs = (
                self.preferences.state_of_pseudonym(pseudo)
                if self.preferences is not None
                else PreferenceState()
            )
            non_profiling = profiling is False or (profiling is None and not prefs.profiling)
            # rules and the person's "not interested" run before anything is scored
            outcome = apply_rules(frame, tuple(rules))
            keep = outcome.keep & ~np.isin(np.asarray(all_items), list(prefs.excluded_items))
            if not keep.any():
                raise FeatureError("no candidates left after the rules and the person's choices")
            rows = np.flatnonzero(keep)
            frame = frame.iloc[rows].reset_index(drop=True)
            items = [all_items[i] for i in rows]
            promoted = np.flatnonzero(outcome.promoted[rows])
            matrix, masked = mask_for_consent(m.schema, frame_matrix(m.schema, frame), state)
            personal = {f.purpose for f in m.schema if self._personal(f.purpose)}
            if non_profiling:
                matrix, masked = mask_personal(m.schema, matrix, masked, personal)
            personalized = not masked and bool(personal)
            weights = prefs.concept_weights if personalized else {}
            factors = concept_factors(m.schema, weights) if weights else None
            scored = weighted_scores(m, matrix, factors)
            decision_id = new_decision_id()
            seed = policy.seed if policy.seed is not None else request_seed(decision_id)
            pinned = promoted_top(promoted, scored.scores, outcome.slots, k)
            picks = rerank_picks(
                scored.scores,
                k - len(pinned),
                policy,
                categories=text_column(frame, policy.category_column),
                vectors=vector_columns(frame, policy.vector_columns),
                popularity=numeric_column(frame, policy.popularity_column),
                target=interests if personalized else None,
                rng=np.random.default_rng(seed),
                placed=pinned,
            )
            served_rows = place_promotions(pinned, picks)
            top = np.asarray([r for r, _, _ in served_rows], dtype=np.intp)
            if scored.attributions is not None:
                phi = scored.attributions.phi[top] * scored.factors
                base = scored.attributions.base[top]
            else:
                attributions = tree_shap(
                    m.booster,
                    matrix[top],
                    raw=scored.model_scores[top],
                    content_hash=m.content_hash,
                )
                phi, base = attributions.phi, attributions.base
            cipher = self.keys.cipher(pseudo, create=True)
            plain: ItemSource = "personal" if personalized else "popular"
            served: list[RecommendedItem] = []
            records: list[dict[str, Any]] = []
            for rank, (row, tag, propensity) in enumerate(served_rows):
                contributions = dict(zip(m.schema.names, phi[rank].tolist(), strict=True))
                shown = end_user_reasons(
                    m.schema,
                    contributions,
                    masked=masked,
                    limit=2,
                    positive_only=True,
                    locale=locale,
                )
                source: ItemSource = tag if tag in _TAGGED else plain  # type: ignore[assignment]
                why = item_line(
                    shown,
                    source=source,
                    personalized=personalized,
                    non_profiling=non_profiling,
                    locale=locale,
                )
                score = float(scored.scores[row])
                served.append(
                    RecommendedItem(
                        item_id=items[row], rank=rank + 1, score=score, source=source, why=why
                    )
                )
                records.append(
                    {
                        "item_id": items[row],
                        "rank": rank + 1,
                        "score": score,
                        "model_score": float(scored.model_scores[row]),
                        "source": source,
                        "propensity": propensity,
                        "inputs": encrypt_inputs(
                            cipher,
                            pseudo,
                            f"{decision_id}/{items[row]}",
                            m.schema.names,
                            matrix[row],
                        ),
                        "contributions": phi[rank].tolist(),
                        "base_value": float(base[rank]),
                        "residual": abs(float(phi[rank].sum() + base[rank]) - score),
                        "why_sha256": sha256_hex(why.encode()),
                    }
                )
            status = state.purposes.get("personalization", "not_given")
            if non_profiling:
                notice = list_notice(locale)
            else:
                notice = recommendation_notice(
                    status if not personalized else "given", locale=locale
                )
            shadow = self._shadow(m, frame, state, non_profiling, personal, scored.model_scores, k)
            self.trail.append(
                "recommendation",
                pseudo,
                {
                    "decision_id": decision_id,
                    "purpose": "personalization",
                    "model": model_ref(m),
                    "consent": self._consent_record(state, masked),
                    "personalized": personalized,
                    "profiling": not non_profiling,
                    "candidates": len(all_items),
                    "scored": len(items),
                    "k": k,
                    "context_sha256": sha256_of(dict(context)) if context else None,
                    "rules": outcome.records,
                    "preferences": {
                        "events": prefs.events,
                        "concepts_weighted": len(weights),
                        "items_excluded": int((outcome.keep & ~keep).sum()),
                    },
                    "rerank": {**policy.model_dump(mode="json"), "seed": seed},
                    "shadow": shadow,
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
                    "whylens.candidates": len(all_items),
                    "whylens.personalized": personalized,
                    "whylens.profiling": not non_profiling,
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

    def _personal(self, purpose: str) -> bool:
        # purposes that need consent are the ones that process a person's own data
        return bool(self.consent.purposes.get(purpose).needs_consent)

    def _shadow(
        self,
        serving: Model,
        frame: pd.DataFrame,
        state: ConsentState,
        non_profiling: bool,
        personal: set[str],
        scores: np.ndarray,
        k: int,
    ) -> dict[str, Any] | None:
        """Score the shadow candidate (if any) on the same candidates; log agreement only."""
        candidate = self.models.shadow_of(serving.name)
        if candidate is None or candidate.version == serving.version:
            return None
        matrix, _ = mask_for_consent(
            candidate.schema, frame_matrix(candidate.schema, frame), state
        )
        if non_profiling:
            matrix, _ = mask_personal(candidate.schema, matrix, (), personal)
        agreement = shadow_agreement(scores, candidate.raw_scores(matrix), k)
        record_shadow(serving, candidate, agreement)
        return {
            "version": candidate.version,
            "content_hash": candidate.content_hash,
            **agreement,
        }

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
            if self.trail.protected is not None:
                check_not_protected(m.schema.names, self.trail.protected.names())
            card = m.card
            assert card.outcomes is not None and card.threshold is not None
            state = self.consent.state_of_pseudonym(pseudo)
            matrix, masked = mask_for_consent(m.schema, mapping_matrix(m.schema, features), state)
            attributions = tree_shap(m.booster, matrix, content_hash=m.content_hash)
            score = float(attributions.raw[0])
            probability = 1.0 / (1.0 + math.exp(-score))
            outcome = card.outcomes[1] if probability >= card.threshold else card.outcomes[0]
            decision_id = new_decision_id()
            policy = card.review_policy
            trigger = review_trigger(
                policy,
                decision_id=decision_id,
                probability=probability,
                outcome=outcome,
                names=m.schema.names,
                row=matrix[0],
            )
            status = "pending_review" if trigger else "automated"
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
            cipher = self.keys.cipher(pseudo, create=True)
            consent_record = self._consent_record(state, masked)
            consent_record.update(
                consent_authorisation(
                    self.consent.history_of_pseudonym(pseudo), state.based_on, "profiling"
                )
            )
            entry = self.trail.append(
                "decision",
                pseudo,
                {
                    "decision_id": decision_id,
                    "purpose": "profiling",
                    "model": model_ref(m),
                    "consent": consent_record,
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

