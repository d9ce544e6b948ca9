"""``recommend``: rank candidates for a person, re-rank, explain what is served, audit it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._canonical import canonical_json, sha256_hex
from ..audit.entries import ItemRecord, ModelRef, RecommendationRecord
from ..audit.records import input_vector, model_ref, new_decision_id
from ..audit.sealing import RECORD_VERSION, keyed_hash, record_mac_key, seal_part
from ..errors import ConfigurationError, FeatureError
from ..explain.concepts import end_user_reasons
from ..explain.narrative import recommendation_notice
from ..explain.treeshap import EXPLAINER, tree_shap
from ..explain.why import item_line, list_notice, staff_line
from ..models.curation import RequestCuration
from ..models.masking import masking_plan
from ..models.matrix import encode_frame, frame_matrix
from ..models.preferences import PreferenceState
from ..models.registry import Model
from ..models.rerank import RerankPolicy
from ..models.rerank import rerank as rerank_picks
from ..models.rules import Rule, apply_rules
from ..models.shadow import record_shadow
from ..telemetry import decision_counter, tracer
from ..types import (
    ConsentState,
    ItemSource,
    Recommendations,
    RecommendedItem,
)
from .ranking import (
    curation_record,
    numeric_column,
    place_promotions,
    place_staff,
    promoted_top,
    request_seed,
    shadow_agreement,
    staff_rows,
    text_column,
    vector_columns,
    weighted_scores,
)

if TYPE_CHECKING:
    import pandas as pd

from .base import EngineBase

_MAX_K = 1000
_TAGGED = ("exploration", "long_tail", "promoted", "staff")


class Recommending(EngineBase):
    """The recommend half of the engine."""

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
        with self._call(), tracer.start_as_current_span("whylens.recommend") as span:
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
            personal = {f.purpose for f in m.schema if self._personal(f.purpose)}
            plan = masking_plan(
                m.schema, state, prefs, personal_purposes=personal, profiling=profiling
            )
            non_profiling = plan.non_profiling
            curated = (
                self.curation.for_request(pseudo, personal=plan.personal_use)
                if self.curation is not None
                else RequestCuration()
            )
            # rules, shop-wide blocks and the person's "not interested" run before anything is
            # scored: a staff pick of an item the person declined is never served
            outcome = apply_rules(frame, tuple(rules))
            keep = outcome.keep & ~np.isin(
                np.asarray(all_items), [*plan.excluded_items, *curated.blocked]
            )
            if not keep.any():
                raise FeatureError("no candidates left after the rules and the person's choices")
            rows = np.flatnonzero(keep)
            frame = frame.iloc[rows].reset_index(drop=True)
            items = [all_items[i] for i in rows]
            staff, staff_picks = staff_rows(items, curated, k)
            featured = np.isin(np.asarray(items), list(curated.featured))
            not_picked = ~np.isin(np.arange(len(items)), staff)
            promoted = np.flatnonzero((outcome.promoted[rows] | featured) & not_picked)
            slots = outcome.slots + (curated.settings.featured_slots if featured.any() else 0)
            encoded = encode_frame(m.schema, frame)
            matrix = plan.apply(encoded.matrix)
            masked, personalized, weights = plan.masked, plan.personalized, plan.weights
            scored = weighted_scores(m, matrix, plan.factors)
            decision_id = new_decision_id()
            seed = policy.seed if policy.seed is not None else request_seed(decision_id)
            pinned = promoted_top(promoted, scored.scores, slots, k - len(staff))
            picks = rerank_picks(
                scored.scores,
                k - len(pinned) - len(staff),
                policy,
                categories=text_column(frame, policy.category_column),
                vectors=vector_columns(frame, policy.vector_columns),
                popularity=numeric_column(frame, policy.popularity_column),
                target=interests if personalized else None,
                rng=np.random.default_rng(seed),
                placed=[*pinned, *staff],
            )
            served_rows = place_staff(
                place_promotions(pinned, picks), staff, curated.settings.staff_slots
            )
            by_row = dict(zip(staff, staff_picks, strict=True))
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
            mac_key = record_mac_key(cipher)  # the why hashes go with the person's key
            plain: ItemSource = "personal" if personalized else "popular"
            served: list[RecommendedItem] = []
            records: list[ItemRecord] = []
            sealed_items: list[dict[str, Any]] = []
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
                pick = by_row.get(row) if tag == "staff" else None
                is_featured = tag == "promoted" and bool(featured[row])
                if pick is not None:
                    why = staff_line(pick.staff_name, after_note=bool(pick.note_id), locale=locale)
                else:
                    why = item_line(
                        shown,
                        source=source,
                        personalized=personalized,
                        non_profiling=non_profiling,
                        locale=locale,
                        featured=is_featured,
                    )
                score = float(scored.scores[row])
                served.append(
                    RecommendedItem(
                        item_id=items[row],
                        rank=rank + 1,
                        score=score,
                        source=source,
                        why=why,
                        disclosure=self.disclosures.for_item(source, locale),
                    )
                )
                # the item's numbers are the person's: sealed below, in one part with the others
                sealed_items.append(
                    {
                        "inputs": input_vector(m.schema.names, matrix[row]),
                        "score": score,
                        "model_score": float(scored.model_scores[row]),
                        "propensity": None if propensity is None else float(propensity),
                        "contributions": phi[rank].tolist(),
                        "residual": abs(float(phi[rank].sum() + base[rank]) - score),
                        "unknown_categories": list(encoded.unknown_in(row)),
                    }
                )
                records.append(
                    ItemRecord(
                        item_id=items[row],
                        rank=rank + 1,
                        source=source,
                        base_value=float(base[rank]),
                        why_sha256=keyed_hash(mac_key, why.encode()),
                        **curation_record(pick, is_featured),
                    )
                )
            status = state.purposes.get("personalization", "not_given")
            if non_profiling:
                notice = list_notice(locale)
            else:
                notice = recommendation_notice(
                    status if not personalized else "given", locale=locale
                )
            shadow = self._shadow(m, frame, state, non_profiling, personal, scored.model_scores, k)
            record = RecommendationRecord(
                version=RECORD_VERSION,
                decision_id=decision_id,
                purpose="personalization",
                model=ModelRef(**model_ref(m)),
                consent=self._consent_record(state, masked),
                personalized=personalized,
                profiling=not non_profiling,
                candidates=len(all_items),
                scored=len(items),
                k=k,
                # keyed like the why hashes: a request context has little entropy
                context_sha256=keyed_hash(mac_key, canonical_json(dict(context)))
                if context
                else None,
                rules=outcome.records,
                preferences={
                    "events": prefs.events,
                    "concepts_weighted": len(weights),
                    "items_excluded": int((outcome.keep & ~keep).sum()),
                },
                rerank={**policy.model_dump(mode="json"), "seed": seed},
                # which candidate shadowed the list; its agreement figures are sealed
                shadow=None
                if shadow is None
                else {"version": shadow["version"], "content_hash": shadow["content_hash"]},
                curation={
                    "blocked": int(np.isin(np.asarray(all_items), list(curated.blocked)).sum()),
                    "staff_picks": len(staff),
                    "featured": int(featured.any()),
                },
                explanation_method=EXPLAINER,
                items=records,
                notice_sha256=sha256_hex(notice.encode()),
                locale=locale,
                # every item's numbers and attributions, in one AEAD under the person's key
                sealed=seal_part(
                    cipher,
                    pseudo,
                    decision_id,
                    "explanation",
                    {"items": sealed_items, "shadow": shadow},
                ),
            )
            self.trail.append("recommendation", pseudo, record.model_dump(mode="json"))
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
            if self.oversight is not None:
                self.oversight.offer(decision_id, m.name, m.version, [i.item_id for i in served])
            return Recommendations(
                decision_id=decision_id,
                model=m.name,
                model_version=m.version,
                personalized=personalized,
                notice=notice,
                items=tuple(served),
                disclosure=self.disclosures.for_list([i.source for i in served], locale),
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
        plan = masking_plan(
            candidate.schema, state, personal_purposes=personal, profiling=not non_profiling
        )
        matrix = plan.apply(frame_matrix(candidate.schema, frame))
        agreement = shadow_agreement(scores, candidate.raw_scores(matrix), k)
        record_shadow(serving, candidate, agreement)
        return {
            "version": candidate.version,
            "content_hash": candidate.content_hash,
            **agreement,
        }


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
