"""``Personalizer``: the one entry point that wires the parts together.

::

    p = Personalizer.open("whylens.db")   # SQLite file + keyring file beside it (0600)
    p.consent.grant("cust-1", "personalization", notice="privacy-2026-11")
    recs = p.recommend("cust-1", candidates, model="shop-ranker", k=5)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._store import inspect_store, is_postgres_url, open_store
from ._store.abc import Durability
from .access import AccessTokens, WhyLinks
from .audit.contact import Contact
from .audit.explanations import Explanations, SubjectDecisions
from .audit.oversight import ListReviews
from .audit.protected import ProtectedAttributes
from .audit.reviews import ReviewQueue
from .audit.trail import AuditTrail
from .consent import ConsentLedger, PurposeCatalog
from .crypto.keyring import Keyring
from .crypto.signing import FileSigner, Signer
from .errors import (
    ConfigurationError,
    KeyringMismatch,
    KeyringMissing,
    SigningKeyMismatch,
    WhylensError,
)
from .explain.disclosure import Disclosures
from .explain.narrative import LOCALES
from .keys import SubjectKeys
from .keys.pseudonyms import index_tag
from .ledger import Ledger
from .ledger.follow import LedgerFollower
from .ledger.witness_file import FileWitness, default_witness_path
from .models.curation import Curation
from .models.preferences import Preferences
from .models.registry import Model, ModelRegistry
from .serving import Engine
from .subjects.events import Events
from .subjects.integrity import SubjectIntegrity
from .subjects.notes import Notes
from .subjects.profiles import Profiles
from .subjects.rights import STREAM, SubjectData, SubjectRights
from .types import Audience, Comparison, Counterfactual, Decision, Explanation, Recommendations

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ._store.abc import Store
    from .crypto.providers import KeyProvider
    from .explain.card import LogicCard
    from .ledger.witness import WitnessSink
    from .models.rerank import RerankPolicy
    from .models.rules import Rule

__all__ = ["Personalizer"]

logger = logging.getLogger(__name__)


def default_keyring_path(db_path: Path) -> Path:
    """``shop.db`` -> ``shop.keyring.json`` in the same folder."""
    return db_path.with_name(db_path.stem + ".keyring.json")


class Personalizer:
    """Consent-checked, explained and audited recommendations and decisions.

    Open one with :meth:`open`. Its parts: ``consent``, ``profiles``, ``models``, ``reviews``,
    ``audit`` and ``subjects``; the decision path: :meth:`recommend`, :meth:`decide`,
    :meth:`explain`, :meth:`contest`. Thread-safe; close it (or use ``with``) when done.

    ``views`` is the one :class:`~sdk.ledger.LedgerFollower` of this store: every ledger-derived
    view registers with it (``views.register(view, streams)``), and each call that serves or
    decides catches up with what any process appended before it answers.
    """

    def __init__(
        self,
        db: Store,
        keyring: Keyring,
        *,
        require_sign_off: bool = True,
        key_provider: KeyProvider | None = None,
        witnesses: Sequence[WitnessSink] = (),
        genesis: bool = False,
        signer: Signer | None = None,
    ) -> None:
        self._db = db
        self._closed = False
        self.keyring = keyring
        signer = keyring if signer is None else signer
        self.signer = signer
        """What signs checkpoints, exports and receipts: the keyring, or the separate key."""
        self.ledger = Ledger(
            db,
            mac_key=keyring.mac_key,
            signer=signer,
            origin=f"whylens.local/ledger/{keyring.id}",
            witnesses=witnesses,
            genesis=genesis,
        )
        # a wipe, a cut tail or an old backup put back fails here, before anything reads it
        self.ledger.check_anchors()
        # ONE catch-up for every ledger-derived view: each call that serves or decides first
        # folds what any process appended (sdk/ledger/follow.py)
        self.views = LedgerFollower(self.ledger)
        keys = SubjectKeys(db, keyring, provider=key_provider)
        self._keys = keys
        self.keys = keys  # data keys: KEK rotation, rewrap, data-key rotation and retirement
        self.views.register(keys.erasure_watch(), (STREAM,))  # erased elsewhere: drop pseudonym
        keys.bind_ledger(self.ledger, self.views)  # data-key retirements go on the ledger
        self.consent = ConsentLedger(self.ledger, keys, PurposeCatalog(), follower=self.views)
        integrity = SubjectIntegrity(self.ledger, self.views)
        self.profiles = Profiles(db, keys, mac_key=keyring.mac_key, integrity=integrity)
        self.events = Events(db, keys, self.consent, integrity=integrity)
        self.models = ModelRegistry(
            db,
            self.consent,
            self.ledger,
            require_sign_off=require_sign_off,
            follower=self.views,
            prepare=_prepare_explainer,
        )
        self.preferences = Preferences(self.ledger, keys, self.views)
        self.audit = AuditTrail(
            self.ledger,
            signer,
            models=self.models,
            protected=ProtectedAttributes(db, keys, self.models),
            follower=self.views,
            keys=keys,
        )
        # the human touch: what each response discloses, notes, curation, oversight, contact
        self.disclosures = Disclosures()
        self.notes = Notes(self.ledger, keys, self.consent, follower=self.views)
        self.curation = Curation(self.ledger, keys, notes=self.notes, follower=self.views)
        self.oversight = ListReviews(self.ledger, self.curation, follower=self.views)
        self.contact = Contact(
            self.ledger, keys, self.audit, self.disclosures, follower=self.views
        )
        self.reviews = ReviewQueue(self.audit, self.models, keys, disclosures=self.disclosures)
        self._explanations = Explanations(
            self.audit, self.models, keys, disclosures=self.disclosures
        )
        self.subjects = SubjectRights(
            SubjectData(db, keys, self.profiles, self.events),
            ledger=self.ledger,
            follower=self.views,
            consent=self.consent,
            decisions=SubjectDecisions(self.audit, self.reviews, self._explanations),
            keyring=signer,
            notes=self.notes.of_subject,
            contact_cases=self.contact.of_subject,
        )
        self.links = WhyLinks(keyring.mac_key, keys, self.audit)
        """Signed, expiring why-links for end users: ``p.links.why(subject)``."""
        self.tokens = AccessTokens(self.ledger, self.views)
        """Bearer tokens of the HTTP API (roles service, reviewer, compliance)."""
        self._engine = Engine(
            self.consent,
            self.models,
            keys,
            self.audit,
            keyring.mac_key,
            self.preferences,
            follower=self.views,
            curation=self.curation,
            oversight=self.oversight,
            disclosures=self.disclosures,
        )
        self.views.catch_up()
        keys.check_key_schedule()  # whylens_meta's retired versions against the ledger's
        keys.warn_if_overdue()
        from .batch.jobs import BatchJobs

        self.batch_jobs = BatchJobs(self.ledger, self.keys)
        """Batch jobs run with :mod:`sdk.batch` (Dask, Spark, in process): records, row proofs."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        keyring: str | Path | None = None,
        durability: Durability | str = Durability.FULL,
        require_sign_off: bool = True,
        key_provider: KeyProvider | None = None,
        witness: WitnessSink | Sequence[WitnessSink] | None = None,
        signing_key: str | Path | Signer | None = None,
    ) -> Personalizer:
        """Open (or create) the database at ``path`` and its keyring.

        A new database gets a new keyring file (mode 0600) beside it, ``<name>.keyring.json``,
        unless ``keyring`` names another path. An existing database needs the keyring it was
        created with: a missing one raises :class:`KeyringMissing`, another database's keyring
        :class:`KeyringMismatch`; nothing is changed in either case.

        ``key_provider`` wraps subjects' data keys (default: the keyring's own KEKs); see
        :mod:`sdk.crypto.providers` for a secret-file/environment provider and AWS KMS.

        ``require_sign_off`` (default on): a model version serves only after a person signed it
        off (``models.sign_off``); ``False`` is the application's explicit opt-out.

        ``witness``: where every ledger checkpoint is also anchored, outside the database
        (:mod:`sdk.ledger.witness`). Default: an append-only ``0600`` checkpoint log beside the
        keyring, ``<keyring name>.witness.log``; pass a
        :class:`~sdk.ledger.witness_file.DirectoryWitness` on another volume or an
        :class:`~sdk.ledger.witness_http.HttpWitness` or an
        :class:`~sdk.ledger.witness_s3.S3ObjectLockWitness` (or several) to survive an attacker who
        holds the keyring's folder too. On open the store must hold everything anchored:
        otherwise :class:`~sdk.errors.LedgerRollback` names what was lost.

        ``signing_key``: the key that signs checkpoints, exports and receipts, apart from the
        keyring (recommended): a path to its own ``0600`` key file (created if missing, see
        :class:`~sdk.crypto.signing.FileSigner`) or any :class:`~sdk.crypto.signing.Signer`
        (an HSM: :class:`~sdk.crypto.pkcs11.Pkcs11Signer`). Then the keyring alone cannot
        re-sign a rewritten history. Default:
        the keyring's key (backwards compatible). A store remembers which key signs it and
        refuses another (:class:`~sdk.errors.SigningKeyMismatch`).
        """
        target: str | Path
        if is_postgres_url(path):
            if keyring is None:
                raise ConfigurationError(
                    "a PostgreSQL store needs keyring=PATH (there is no folder to keep it beside)"
                )
            target = str(path)
        else:
            target = Path(path)
            if target.is_dir():
                raise ConfigurationError(f"{str(target)!r} is a folder; give a database file path")
        try:
            durability = Durability(durability)
        except ValueError:
            raise ConfigurationError("durability must be 'full' or 'normal'") from None
        key_path = (
            Path(keyring) if keyring is not None else default_keyring_path(Path(target))
        )
        # a corrupt or foreign store fails (untouched) before the keyring matters
        existing = inspect_store(target)
        if existing is not None:
            if not key_path.exists():
                raise KeyringMissing(
                    f"database {_label(target)!r} exists but its keyring {key_path.name!r} is "
                    "missing; encrypted data cannot be read without it. Restore the keyring from "
                    "backup (it is created beside the database) or pass keyring=PATH."
                )
            ring = Keyring.load(key_path)
            _check_fingerprint(existing.get(_FINGERPRINT), ring, key_path)
            # migrates an older schema in place (tagging its subject index with this keyring)
            db = open_store(
                target, durability=durability, index_tag=partial(index_tag, ring.pseudonym_key)
            )
            claim = _FINGERPRINT not in existing  # created a moment ago by another process
        else:
            ring = Keyring.load(key_path) if key_path.exists() else Keyring.create(key_path)
            db = open_store(target, durability=durability)
            claim = True
        if claim:
            db.meta.set_default(_FINGERPRINT, ring.fingerprint)
            try:  # another process may have claimed it first, with its own keyring
                _check_fingerprint(db.meta.get(_FINGERPRINT), ring, key_path)
            except KeyringMismatch:
                db.close()
                raise
        logger.debug("opened whylens database (keyring %s)", ring.fingerprint[:16])
        try:
            signer = _signer_of(signing_key, ring)
            _check_signer(db, signer, ring, fresh=claim)
        except BaseException:
            db.close()
            raise
        if witness is None:
            sinks: tuple[WitnessSink, ...] = (FileWitness(default_witness_path(key_path)),)
        elif isinstance(witness, Sequence):
            sinks = tuple(witness)
        else:
            sinks = (witness,)
        try:
            return cls(
                db,
                ring,
                require_sign_off=require_sign_off,
                key_provider=key_provider,
                witnesses=sinks,
                genesis=claim,
                signer=signer,
            )
        except BaseException:
            db.close()
            raise

    # -- the decision path --------------------------------------------------------------------

    def recommend(
        self,
        subject: str,
        candidates: pd.DataFrame | Sequence[Mapping[str, Any]],
        *,
        model: str | Model,
        k: int = 10,
        context: Mapping[str, Any] | None = None,
        item_column: str = "item_id",
        locale: str = "en",
        profiling: bool | None = None,
        rules: Sequence[Rule] = (),
        rerank: RerankPolicy | None = None,
        interests: Mapping[str, float] | None = None,
    ) -> Recommendations:
        """Rank ``candidates`` (one row per item: ``item_column`` and the model's features) for
        ``subject`` and return the top ``k``, each with its source and a one-line why.

        Features whose purpose the subject has not granted are masked; without personalization
        consent the list is non-personalized and says so. One audit record per call.

        ``profiling=False`` (or the person's stored choice, ``preferences.set_profiling``) ranks
        without any personal data (EU DSA Art. 38). ``rules`` (include / exclude / promote) run
        before scoring; the person's preferences (``p.preferences``) apply to every list.
        ``rerank`` (MMR, calibration to ``interests`` — category shares, long-tail floor,
        exploration) re-orders the model's scores; each served item's propensity is recorded.
        """
        _check_locale(locale)
        return self._engine.recommend(
            subject,
            candidates,
            model=model,
            k=k,
            context=context,
            item_column=item_column,
            locale=locale,
            profiling=profiling,
            rules=rules,
            rerank=rerank,
            interests=interests,
        )

    def decide(
        self,
        subject: str,
        features: Mapping[str, Any],
        *,
        model: str | Model,
        locale: str = "en",
    ) -> Decision:
        """One automated decision by a classifier, explained, audited, and held for human
        review when the model's review policy says so."""
        _check_locale(locale)
        return self._engine.decide(subject, features, model=model, locale=locale)

    def explain(
        self,
        decision_id: str,
        *,
        audience: Audience = "end_user",
        locale: str = "en",
        item_id: str | None = None,
        counterfactual: bool = False,
    ) -> Explanation:
        """The explanation of a decision (or of one recommended item) for ``audience``.

        ``counterfactual=True`` (decisions only) adds "what would change this" to the text and
        sets ``.counterfactual``: see :meth:`counterfactual`.
        """
        _check_locale(locale)
        return self._explanations.explain(
            decision_id,
            audience=audience,
            locale=locale,
            item_id=item_id,
            counterfactual=counterfactual,
        )

    def counterfactual(self, decision_id: str, *, locale: str = "en") -> Counterfactual:
        """"What would change this": the smallest change to the actionable features of a
        decision's input that flips the model's outcome, found against the model and verified
        by re-scoring. Sensitive, masked and non-actionable features are never changed."""
        _check_locale(locale)
        return self._explanations.counterfactual(decision_id, locale=locale)

    def explain_pair(
        self,
        decision_id: str,
        item_a: str,
        item_b: str,
        *,
        audience: Audience = "end_user",
        locale: str = "en",
    ) -> Comparison:
        """Why ``item_a`` is ranked above (or below) ``item_b`` in one recommendation: the
        difference of their exact attributions, which adds up to the difference of scores."""
        _check_locale(locale)
        return self._explanations.compare(
            decision_id, item_a, item_b, audience=audience, locale=locale
        )

    def logic_card(
        self,
        model: str | Model,
        reference: pd.DataFrame | np.ndarray,
        *,
        version: int | None = None,
    ) -> LogicCard:
        """The model logic card (GDPR Art. 15(1)(h), DSA Art. 27) of a registered model, with
        global concept importance measured on ``reference`` rows. ``.to_markdown()``,
        ``.to_json()``."""
        from .explain.card import logic_card

        m = model if isinstance(model, Model) else self.models.get(model, version)
        return logic_card(m, reference, purposes=self.consent.purposes)

    def contest(self, decision_id: str, *, message: str) -> Decision:
        """The person a decision is about asks for a human to review it (GDPR Art. 22(3))."""
        return self.reviews.contest(decision_id, message=message)

    def decision(self, decision_id: str, *, locale: str = "en") -> Decision:
        """The effective state of a decision (after any review)."""
        return self.reviews.get(decision_id, locale=locale)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The database file (for a server database, a path naming its URL)."""
        return self._db.path if self._db.path is not None else Path(self._db.url)

    def close(self) -> None:
        """Close the database (completing any pending erasure it can first). Idempotent."""
        if not self._closed:
            self._closed = True
            self.subjects.close()
            try:
                self.ledger.flush_anchors()
            except WhylensError as exc:
                logger.warning("could not anchor the last checkpoint on close: %s", exc)
        self._db.close()

    def __enter__(self) -> Personalizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Personalizer({_label(self._db.path or self._db.url)!r})"


_FINGERPRINT = "keyring_fingerprint"


def _check_fingerprint(stored: str | None, ring: Keyring, key_path: Path) -> None:
    if stored is not None and stored != ring.fingerprint:
        raise KeyringMismatch(
            f"keyring {key_path.name!r} belongs to another database (fingerprint "
            f"{ring.fingerprint[:16]}..., this database expects {stored[:16]}...)"
        )


_SIGNING = "signing_key_fingerprint"


def _signer_of(signing_key: str | Path | Signer | None, ring: Keyring) -> Signer:
    if signing_key is None:
        return ring
    if isinstance(signing_key, str | Path):
        return FileSigner.open(signing_key)
    if not isinstance(signing_key, Signer):
        raise ConfigurationError("signing_key is a key file path or a Signer (sign, public key)")
    return signing_key


def _check_signer(db: Store, signer: Signer, ring: Keyring, *, fresh: bool) -> None:
    """A store keeps the fingerprint of the key that signs it; another key is refused (its
    checkpoints would not verify, and appends would stop)."""
    stored = db.meta.get(_SIGNING)
    if stored is None:
        # a new store takes the key given; one from before separate keys was signed by the
        # keyring until now
        db.meta.set_default(_SIGNING, signer.fingerprint if fresh else ring.fingerprint)
        stored = db.meta.get(_SIGNING)
    if stored != signer.fingerprint:
        raise SigningKeyMismatch(
            f"this store's checkpoints are signed by key {str(stored)[:16]}..., not by "
            f"{signer.fingerprint[:16]}...: open it with the signing_key it was set up with"
        )


def _label(target: str | Path) -> str:
    """A store's name for messages: the file name, or the URL (which carries no password)."""
    return target.name if isinstance(target, Path) else target


def _prepare_explainer(model_text: str, content_hash: str) -> object:
    """Refuse a model TreeSHAP cannot explain exactly; precompute its tables once per version."""
    from .explain.fast import Explainer

    return Explainer.from_model_string(model_text, content_hash=content_hash)


def _check_locale(locale: str) -> None:
    if locale not in LOCALES:
        raise ConfigurationError(f"unknown locale {locale!r}; available: {', '.join(LOCALES)}")
