"""The model registry: versions of trained LightGBM models, their schemas and model cards.

Model text (LightGBM's own format) is stored in the database with its SHA-256 content hash; a
loaded model is checked against that hash, so a decision record's ``content_hash`` names exactly
the trees that produced it. Text, card and schema together have one *governed hash*
(:mod:`sdk.models.governed`), recorded on the ledger when the version is trained and named by its
sign-off; the registration is appended before the version's row is stored, and a version the
ledger never registered (nor a reviewer signed off) does not serve. :meth:`ModelRegistry.get` is
the one load path (serving, shadows, batch jobs, the console): it recomputes the governed hash
once per version and process (then caches the model, so serving pays nothing per call) and
raises :class:`~sdk.errors.ModelTampered` if the ledger recorded another.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import ModelNotFound, ModelTampered, SchemaError, StoreError, TrainingError
from ..types import ModelCard, ReviewPolicy
from .governance import Governance, SignOff
from .governed import governed_of_stored
from .schema import FeatureSchema
from .training import consented_rows, fit
from .versions import store_version

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

    from .._store.abc import Store
    from ..consent import ConsentLedger
    from ..ledger import Ledger
    from ..ledger.follow import LedgerFollower

__all__ = ["Model", "ModelRegistry"]

_NAME_MAX = 64


@dataclass(frozen=True, eq=False)
class Model:
    """One registered model version: the booster, its schema and its card."""

    card: ModelCard
    schema: FeatureSchema
    booster: lgb.Booster
    text: str | None = field(default=None, repr=False)
    """The LightGBM model text whose SHA-256 is ``content_hash`` (what batch jobs ship)."""
    governed_hash: str | None = None
    """The hash of text, card and schema as stored (:func:`~sdk.models.governed.governed_hash`):
    what a sign-off covers."""

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> int:
        return self.card.version

    @property
    def kind(self) -> Literal["ranker", "classifier"]:
        return self.card.kind

    @property
    def content_hash(self) -> str:
        return self.card.content_hash

    def raw_scores(self, matrix: np.ndarray) -> np.ndarray:
        """Raw margins (log-odds for classifiers), on one thread."""
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1))


class ModelRegistry:
    """``p.models``: train, register and load model versions."""

    def __init__(
        self,
        db: Store,
        consent: ConsentLedger,
        ledger: Ledger | None = None,
        *,
        require_sign_off: bool = True,
        follower: LedgerFollower | None = None,
        prepare: Callable[[str, str], object] | None = None,
    ) -> None:
        """``prepare(model_text, content_hash)`` is called on every version registered or
        loaded: it refuses what cannot be explained exactly and does the per-version
        precomputation (the Personalizer passes the TreeSHAP explainer's; models sit below
        explain, so the registry is handed it rather than importing it)."""
        self._prepare = prepare
        self._db = db
        self._consent = consent
        self.governance = Governance(ledger, follower) if ledger is not None else None
        self.require_sign_off = require_sign_off and ledger is not None
        self._cache: dict[tuple[str, int], Model] = {}
        self._lock = threading.Lock()

    def train_ranker(
        self,
        name: str,
        data: pd.DataFrame,
        schema: FeatureSchema,
        *,
        target: str,
        group: str,
        subject_column: str = "subject",
        time_column: str | None = None,
        target_purpose: str | None = None,
        params: dict[str, Any] | None = None,
        num_boost_round: int = 100,
        seed: int = 7,
        holdout_fraction: float = 0.2,
    ) -> ModelCard:
        """Train a LambdaRank model on the consented rows of ``data`` and register it.

        ``data`` has one row per (query, candidate item) with the ``group`` column naming the
        query; rows of a query must be contiguous. Returns the new version's card.

        Consent is checked as of each row's ``time_column`` (else now). By default a row needs
        every consent-requiring purpose of the schema; with ``target_purpose`` it needs only that
        one, and features of other purposes not granted at its time are masked (as in serving).
        """
        if group not in data.columns:
            raise SchemaError(f"group column {group!r} is not in the data")
        return self._train(
            "ranker",
            name,
            data,
            schema,
            target=target,
            group=group,
            subject_column=subject_column,
            time_column=time_column,
            target_purpose=target_purpose,
            params=params,
            num_boost_round=num_boost_round,
            seed=seed,
            holdout_fraction=holdout_fraction,
            outcomes=None,
            threshold=None,
            review_policy=None,
        )

    def train_classifier(
        self,
        name: str,
        data: pd.DataFrame,
        schema: FeatureSchema,
        *,
        target: str,
        subject_column: str = "subject",
        time_column: str | None = None,
        target_purpose: str | None = None,
        outcomes: tuple[str, str] = ("declined", "approved"),
        threshold: float = 0.5,
        review_policy: ReviewPolicy | None = None,
        params: dict[str, Any] | None = None,
        num_boost_round: int = 100,
        seed: int = 7,
        holdout_fraction: float = 0.2,
    ) -> ModelCard:
        """Train a binary classifier on the consented rows of ``data`` and register it.

        ``outcomes`` names the outcome for target 0 and for target 1; a decision's outcome is
        ``outcomes[1]`` when the predicted probability is at least ``threshold``. Decisions whose
        probability falls in ``review_policy.uncertainty_band`` go to human review.
        """
        if not 0.0 < threshold < 1.0:
            raise TrainingError("threshold must be strictly between 0 and 1")
        if len(outcomes) != 2 or outcomes[0] == outcomes[1]:
            raise TrainingError("outcomes must be two different names (for target 0 and 1)")
        return self._train(
            "classifier",
            name,
            data,
            schema,
            target=target,
            group=None,
            subject_column=subject_column,
            time_column=time_column,
            target_purpose=target_purpose,
            params=params,
            num_boost_round=num_boost_round,
            seed=seed,
            holdout_fraction=holdout_fraction,
            outcomes=(str(outcomes[0]), str(outcomes[1])),
            threshold=float(threshold),
            review_policy=review_policy or ReviewPolicy(),
        )

    def _train(
        self,
        kind: Literal["ranker", "classifier"],
        name: str,
        data: pd.DataFrame,
        schema: FeatureSchema,
        *,
        target: str,
        group: str | None,
        subject_column: str,
        time_column: str | None,
        target_purpose: str | None,
        params: dict[str, Any] | None,
        num_boost_round: int,
        seed: int,
        holdout_fraction: float,
        outcomes: tuple[str, str] | None,
        threshold: float | None,
        review_policy: ReviewPolicy | None,
    ) -> ModelCard:
        _check_name(name)
        if not isinstance(schema, FeatureSchema):
            raise SchemaError("schema must be a FeatureSchema")
        for purpose in (*schema.purposes, *([target_purpose] if target_purpose else [])):
            self._consent.purposes.get(purpose)
        review_policy = self._declare_consent(review_policy, schema)
        selection = consented_rows(
            data,
            schema,
            self._consent,
            subject_column=subject_column,
            time_column=time_column,
            target_purpose=target_purpose,
        )
        if selection.rows_used == 0:
            raise TrainingError(
                f"no row of the {len(data)} given has consent for every purpose the features "
                f"need ({', '.join(schema.purposes)}); nothing to train on"
            )
        trained = fit(
            kind=kind,
            data=selection.apply_masks(data[selection.keep], schema),
            schema=schema,
            target=target,
            group=group,
            params=params,
            num_boost_round=num_boost_round,
            seed=seed,
            holdout_fraction=holdout_fraction,
        )
        schema = trained.schema
        text = trained.booster.model_to_string()
        content_hash = hashlib.sha256(text.encode()).hexdigest()
        # refuses what TreeSHAP cannot explain exactly, and does the per-version precomputation
        if self._prepare is not None:
            self._prepare(text, content_hash)
        card = ModelCard(
            name=name,
            version=1,  # set when the version number is claimed, below
            kind=kind,
            content_hash=content_hash,
            features=schema.names,
            purposes=schema.purposes,
            rows_used=selection.rows_used,
            rows_left_out=selection.rows_left_out,
            left_out_by_purpose=selection.left_out_by_purpose,
            masked_by_purpose=selection.masked_by_purpose,
            trained_at=datetime.now(UTC),
            metrics=trained.metrics,
            params={k: _param(v) for k, v in sorted(trained.params.items())},
            outcomes=outcomes,
            threshold=threshold,
            review_policy=review_policy,
        )
        card, governed = store_version(self._db, self.governance, card, schema, text.encode())
        with self._lock:
            self._cache[(name, card.version)] = Model(
                card=card, schema=schema, booster=trained.booster, text=text,
                governed_hash=governed,
            )
        return card

    def _declare_consent(
        self, policy: ReviewPolicy | None, schema: FeatureSchema
    ) -> ReviewPolicy | None:
        """The policy with the purposes an automated decision needs written out (checked when
        declared; by default every consent-requiring purpose among the features)."""
        if policy is None:
            return None
        catalog = self._consent.purposes
        if policy.consent_purposes is None:
            needed = tuple(p for p in schema.purposes if catalog.get(p).needs_consent)
        elif policy.consent_purposes:
            needed = catalog.require(policy.consent_purposes)
        else:
            return policy  # declared explicitly: nothing needs consent
        return policy.model_copy(update={"consent_purposes": needed})

    def get(self, name: str, version: int | None = None) -> Model:
        """A registered model (the latest version unless ``version`` is given)."""
        if version is None:
            latest = self._db.models.latest_version(name)
            if latest is None:
                raise ModelNotFound(
                    f"no model named {name!r} in this store (the model list shows them); "
                    "models are trained in Python with models.train_ranker or train_classifier"
                )
            version = latest
        with self._lock:
            cached = self._cache.get((name, version))
        if cached is not None:
            return cached
        model = self._load(name, version)
        with self._lock:
            self._cache[(name, version)] = model
        return model

    def _load(self, name: str, version: int) -> Model:
        import lightgbm as lgb

        row = self._db.models.get(name, version)
        if row is None:
            raise ModelNotFound(f"model {name!r} has no version {version}")
        content_hash, text, document = row
        if hashlib.sha256(text).hexdigest() != content_hash:
            raise StoreError(
                f"model {name!r} v{version}: stored trees do not match their content hash"
            )
        doc = json.loads(document)
        governed = governed_of_stored(text, doc)
        if self.governance is not None:
            self.governance.check_registered(name, version, governed)
        card = ModelCard.model_validate(doc["card"], strict=False)
        if card.content_hash != content_hash:
            # the trees were swapped and their hash column fixed up: the card names other trees
            raise ModelTampered(
                f"model {name!r} v{version}: the stored trees are not the ones its card names"
            )
        schema = FeatureSchema.from_json(doc["schema"])
        if self._prepare is not None:
            self._prepare(text.decode(), content_hash)
        booster = lgb.Booster(model_str=text.decode())
        return Model(
            card=card, schema=schema, booster=booster, text=text.decode(), governed_hash=governed
        )

    # -- sign-off and shadow ---------------------------------------------------------------

    def sign_off(
        self, name: str, version: int, *, reviewer: str, note: str | None = None
    ) -> SignOff:
        """Record that ``reviewer`` (a person) approved ``name`` v``version`` for serving.

        The sign-off names the version's governed hash (model text, card with its review
        policy, and schema, as stored); until one is recorded, ``recommend`` and ``decide``
        refuse that version with :class:`~sdk.errors.ModelNotSignedOff`, and once the stored
        version no longer matches it they refuse with :class:`~sdk.errors.ModelTampered`.
        """
        model = self.get(name, version)
        return self._governance().sign_off(
            name, model.version, model.content_hash, reviewer, note, model.governed_hash
        )

    def sign_off_of(self, name: str, version: int) -> SignOff | None:
        """The recorded sign-off of a version (by any process), or ``None``."""
        governance = self._governance()
        governance.catch_up()
        return governance.signed(name, version)

    def serving(self, name: str) -> Model:
        """The version that serves ``name``: the latest signed-off one (the latest at all when
        sign-off is not required), as the ledger stands now."""
        if not self.require_sign_off:
            return self.get(name)
        self._governance().catch_up()
        version = self._governance().latest_signed(name)
        if version is None:
            latest = self.get(name)
            self._governance().check(latest.name, latest.version, latest.content_hash)
        return self.get(name, version)

    def check_signed(self, model: Model) -> None:
        """Raise :class:`~sdk.errors.ModelNotSignedOff` unless ``model`` may serve (without
        required sign-off: :class:`~sdk.errors.ModelTampered` unless the ledger registered it)."""
        if self.require_sign_off:
            governance = self._governance()
            governance.catch_up()
            governance.check(model.name, model.version, model.content_hash, model.governed_hash)
        elif self.governance is not None:
            # no sign-off needed, but the ledger must have registered it (ModelTampered)
            self.governance.check_registered_to_serve(model.name, model.version)

    def shadow(self, name: str, version: int | None) -> None:
        """Score ``version`` of ``name`` beside the serving one on every request, logging how
        far they agree; only the serving version's output is used. ``None`` stops it."""
        if version is not None:
            candidate = self.get(name, version)
            serving = self.get(name)
            if candidate.kind != serving.kind:
                raise TrainingError(
                    f"a shadow must be the same kind as {name!r}'s latest version ({serving.kind})"
                )
        self._governance().set_shadow(name, version)

    def shadow_of(self, name: str) -> Model | None:
        """The candidate shadowing ``name``, if one is set."""
        self._governance().catch_up()
        version = self._governance().shadow_of(name)
        return None if version is None else self.get(name, version)

    def _governance(self) -> Governance:
        if self.governance is None:
            raise TrainingError("this registry has no ledger for sign-offs and shadows")
        return self.governance

    def list(self) -> list[ModelCard]:
        """Cards of every registered version, by name then version."""
        return [
            ModelCard.model_validate(json.loads(card)["card"], strict=False)
            for card in self._db.models.cards()
        ]


def _check_name(name: object) -> None:
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= _NAME_MAX
        or not all(c.isalnum() or c in "-_." for c in name)
    ):
        raise TrainingError(f"model name must be 1-{_NAME_MAX} letters, digits, '-', '_' or '.'")


def _param(value: Any) -> str | int | float | bool:
    if isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value)
