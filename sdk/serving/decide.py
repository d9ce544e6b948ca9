"""``decide``: one automated decision, explained, held for review by policy, audited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..audit.entries import DecisionExplanation, DecisionOutput, DecisionRecord, ModelRef
from ..audit.policy import consent_purposes, consent_trigger, review_trigger
from ..audit.protected import check_not_protected
from ..audit.records import (
    consent_authorisation,
    feature_mac,
    input_vector,
    model_ref,
    new_decision_id,
)
from ..audit.sealing import (
    RECORD_VERSION,
    clear_trigger,
    keyed_hash,
    record_mac_key,
    seal_part,
)
from ..errors import ConsentRequired
from ..explain.concepts import end_user_reasons
from ..explain.narrative import decision_text
from ..explain.treeshap import EXPLAINER, tree_shap
from ..models.masking import classify, masking_plan
from ..models.matrix import encode_mapping
from ..models.registry import Model
from ..models.shadow import decision_shadow
from ..telemetry import decision_counter, tracer
from ..types import HELD_OUTCOME, Decision, DecisionStatus, ReviewAction
from .base import EngineBase


class Deciding(EngineBase):
    """The decide half of the engine."""

    def decide(
        self,
        subject: str,
        features: Mapping[str, Any],
        *,
        model: str | Model,
        locale: str,
    ) -> Decision:
        with self._call(), tracer.start_as_current_span("whylens.decide") as span:
            pseudo = self.keys.pseudonym(subject)
            m = self._model(model, "classifier")
            if self.trail.protected is not None:
                check_not_protected(m.schema.names, self.trail.protected.names())
            card = m.card
            assert card.outcomes is not None and card.threshold is not None
            state = self.consent.state_of_pseudonym(pseudo)
            policy = card.review_policy
            needed = consent_purposes(policy, m.schema, self.consent.purposes)
            held_for_consent, missing = consent_trigger(needed, state)
            if held_for_consent and policy is not None and policy.without_consent == "refuse":
                raise ConsentRequired(
                    f"model {m.name!r} makes automated decisions only with consent to "
                    f"{', '.join(missing)}, which this person has not given; ask for it "
                    "(consent.grant) or decide by a person"
                )
            encoded = encode_mapping(m.schema, features)
            plan = masking_plan(m.schema, state)
            matrix, masked = plan.apply(encoded.matrix), plan.masked
            attributions = tree_shap(m.booster, matrix, content_hash=m.content_hash)
            score = float(attributions.raw[0])
            probability, outcome = classify(card, score)
            decision_id = new_decision_id()
            # without the consent it needs, no automated outcome: a person decides
            trigger = held_for_consent or review_trigger(
                policy,
                decision_id=decision_id,
                probability=probability,
                outcome=outcome,
                names=m.schema.names,
                row=matrix[0],
            )
            status: DecisionStatus = "pending_review" if trigger else "automated"
            provisional = (policy.provisional_outcome if policy else None) or outcome
            # held for consent: the model ran on masked inputs, which decides nothing; the
            # application must not act on an outcome until a person has given one
            shown_outcome = (
                HELD_OUTCOME if held_for_consent else provisional if trigger else outcome
            )
            phi = attributions.phi[0].tolist()
            contributions = dict(zip(m.schema.names, phi, strict=True))
            values = dict(zip(m.schema.names, matrix[0].tolist(), strict=True))
            shown = end_user_reasons(
                m.schema, contributions, masked=masked, locale=locale, values=values
            )
            why = decision_text(
                outcome=shown_outcome,
                status=status,
                contested=False,
                shown=shown,
                locale=locale,
                masked=bool(masked),
                consent_missing=bool(missing),
            )
            # a shadow candidate scores the same request; its output is only recorded
            shadow = decision_shadow(
                m,
                self.models.shadow_of(m.name),
                features,
                state,
                probability,
                self.trail.protected.names() if self.trail.protected is not None else (),
            )
            cipher = self.keys.cipher(pseudo, create=True)
            consent_record = self._consent_record(
                state,
                masked,
                needed=needed,
                missing=missing,
                **consent_authorisation(
                    self.consent.history_of_pseudonym(pseudo), state.based_on, "profiling"
                ),
            )
            # every personal value in ONE AEAD part under the person's key (the exact score is a
            # fingerprint of the inputs: in clear it lets anyone with the model brute-force
            # them); the hashes keyed by that key, so all of it goes with the key on erasure
            mac_key = record_mac_key(cipher)
            vector = input_vector(m.schema.names, matrix[0])
            residual = float(attributions.residual[0])
            sealed = {
                "inputs": vector,
                "score": score,
                "probability": probability,
                "contributions": phi,
                "residual": residual,
                "trigger": trigger,
                "shadow": shadow,
                "unknown_categories": list(encoded.unknown),
            }
            record = DecisionRecord(
                version=RECORD_VERSION,
                decision_id=decision_id,
                purpose="profiling",
                model=ModelRef(**model_ref(m)),
                consent=consent_record,
                feature_mac=feature_mac(mac_key, vector),
                output=DecisionOutput(
                    outcome=outcome,
                    provisional_outcome=shown_outcome,
                    status=status,
                    trigger=clear_trigger(trigger),
                ),
                shadow=_shadow_ref(shadow),
                explanation_method=EXPLAINER,
                explanation=DecisionExplanation(
                    contributions=[], base_value=float(attributions.base[0])
                ),
                shown_text_sha256=keyed_hash(mac_key, why.encode()),
                locale=locale,
                sealed=seal_part(cipher, pseudo, decision_id, "explanation", sealed),
            )
            entry = self.trail.append("decision", pseudo, record.model_dump(mode="json"))
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
                disclosure=self.disclosures.for_decision(status, locale),
            )


def _shadow_ref(shadow: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a record keeps in clear of a shadow run: which candidate (its figures are sealed)."""
    if shadow is None:
        return None
    return {"version": shadow["version"], "content_hash": shadow["content_hash"]}
