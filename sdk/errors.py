"""The whylens exception hierarchy.

Every error whylens raises on purpose is a subclass of :class:`WhylensError`, so a caller can catch
one base class. Messages say what was wrong and what to do about it; they carry names, ids and
hashes, never personal data (no field values, e-mail addresses, free text of a person).

Third-party exceptions (``cryptography``'s ``InvalidTag``, ``sqlite3.DatabaseError``, LightGBM's
errors) are wrapped, the original kept as ``__cause__`` for debugging, so callers never have to know
which primitive failed.

::

    WhylensError
    ├── ConfigurationError            bad argument to open(), unknown option
    ├── StoreError                    the database file
    │   ├── NotAWhylensDatabase       corrupt, foreign or newer-format file
    │   └── StoreUnavailable          cannot be opened or written (locked, read-only, disk full)
    ├── KeyringError                  the key file beside the database
    │   ├── KeyringMissing
    │   ├── KeyringPermissionError    readable by group or others
    │   └── KeyringMismatch           a keyring that does not belong to this database
    ├── CryptoError
    │   ├── DecryptionError           authentication failed: tampered, swapped or wrong key
    │   ├── SubjectDataTampered       a profile field or event replayed, deleted or added;
    │   │                             an index row swapped or re-pointed
    │   ├── CiphertextFormatError     truncated, unknown version or algorithm
    │   │   ├── TruncatedCiphertext   shorter than the format allows
    │   │   └── UnknownCiphertextVersion  a format version or algorithm id this whylens lacks
    │   ├── KeyRetired                made under a key version below the minimum still accepted
    │   ├── KeyScheduleTampered       retired key versions in the database differ from the ledger's
    │   ├── KeyProviderError          the key provider (keyring, secret, KMS) failed or is absent
    │   └── SubjectErased             the subject's key was destroyed (crypto-shredded)
    ├── LedgerError
    │   └── LedgerIntegrityError      the hash chain does not verify
    │       └── ProofError            a Merkle proof, checkpoint or receipt does not verify
    ├── ConsentError
    │   ├── UnknownPurpose
    │   ├── ConsentUnavailable        the consent log cannot be read: decisions fail closed
    │   ├── ConsentRequired           a decision model's policy refuses to decide without consent
    │   ├── InvalidConsentEvent       out of order, future-dated, malformed
    │   ├── InvalidTCString           a malformed or (strictly) invalid IAB TCF TC string
    │   ├── GPCConflict               an opt-in against an active Global Privacy Control signal
    │   └── NoteConsentMissing        a customer note without the person's grant of its purpose
    ├── SubjectError
    │   ├── InvalidSubjectId
    │   ├── UnknownSubject
    │   └── NoteStateError            an unknown note, or one already resolved
    ├── ModelError
    │   ├── ModelNotFound
    │   ├── SchemaError               an invalid feature schema
    │   ├── FeatureError              wrong, missing or non-numeric features at scoring time
    │   ├── TrainingError             not enough usable (consented) rows, bad target
    │   ├── WrongModelKind            a ranker passed to decide() and vice versa
    │   ├── ModelNotSignedOff         a version no person has signed off yet (refused for serving)
    │   ├── ModelTampered             stored text, card or schema differ from the sign-off
    │   ├── ModelNotExplainable       no exact TreeSHAP (linear trees); refused at registration
    │   └── CurationError             a staff pick or item decision that cannot be recorded
    ├── ExplanationError
    │   └── AdditivityError           contributions + base value != model output
    ├── AuditError
    │   ├── DecisionNotFound
    │   ├── ReviewStateError          approve a decision that is not pending, and so on
    │   ├── ExportVerificationError
    │   ├── ContactCaseError          an unknown contact case, or a step its state does not allow
    │   └── ListReviewError           a sampled list review that cannot be recorded
    ├── BatchError                    a batch job (sdk.batch): bad frame, snapshot or proof
    │   └── BatchJobNotFound          no batch job with this id
    └── AccessError                   who may do what (server tokens, why-links)
        ├── NotAuthenticated          no or an unknown / revoked bearer token or session
        ├── Forbidden                 authenticated, but the role may not do this
        ├── InvalidLink               a why-link that is malformed, forged or of an erased subject
        ├── LinkExpired               a genuine why-link past its expiry
        └── CsrfError                 a form post without a valid anti-forgery token
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessError",
    "AdditivityError",
    "AuditError",
    "BatchError",
    "BatchJobNotFound",
    "CiphertextFormatError",
    "ConfigurationError",
    "ConsentError",
    "ConsentRequired",
    "ConsentUnavailable",
    "ContactCaseError",
    "CryptoError",
    "CsrfError",
    "CurationError",
    "DecisionNotFound",
    "DecryptionError",
    "ExplanationError",
    "ExportNotFound",
    "ExportVerificationError",
    "FeatureError",
    "Forbidden",
    "GPCConflict",
    "InvalidConsentEvent",
    "InvalidLink",
    "InvalidSubjectId",
    "InvalidTCString",
    "KeyDestroyed",
    "KeyProviderError",
    "KeyRetired",
    "KeyScheduleTampered",
    "KeyringError",
    "KeyringMismatch",
    "KeyringMissing",
    "KeyringPermissionError",
    "LedgerError",
    "LedgerIntegrityError",
    "LedgerRollback",
    "LinkExpired",
    "ListReviewError",
    "ModelError",
    "ModelNotExplainable",
    "ModelNotFound",
    "ModelNotSignedOff",
    "ModelTampered",
    "NotAWhylensDatabase",
    "NotAuthenticated",
    "NoteConsentMissing",
    "NoteStateError",
    "ProofError",
    "ReviewStateError",
    "SchemaError",
    "SigningKeyMismatch",
    "StoreError",
    "StoreUnavailable",
    "SubjectDataTampered",
    "SubjectErased",
    "SubjectError",
    "TrainingError",
    "TruncatedCiphertext",
    "UnknownCiphertextVersion",
    "UnknownPurpose",
    "UnknownSubject",
    "WhylensError",
    "WitnessConflict",
    "WitnessError",
    "WitnessOriginConflict",
    "WrongModelKind",
]


class WhylensError(Exception):
    """Base class of every error whylens raises on purpose."""

    code: ClassVar[str] = "whylens_error"
    """A stable, machine-readable name of the error (an HTTP layer maps it to a status)."""


class ConfigurationError(WhylensError):
    """An option or argument that whylens cannot work with."""

    code = "configuration_error"


class StoreError(WhylensError):
    """The database file could not be used."""

    code = "store_error"


class NotAWhylensDatabase(StoreError):
    """The file exists but is not a whylens database (corrupt, foreign, or a newer format)."""

    code = "not_a_whylens_database"


class StoreUnavailable(StoreError):
    """The database could not be opened or written (locked, read-only, disk full...)."""

    code = "store_unavailable"


class KeyringError(WhylensError):
    """The keyring (the key file beside the database) could not be used."""

    code = "keyring_error"


class KeyringMissing(KeyringError):
    """The database exists but its keyring file does not."""

    code = "keyring_missing"


class KeyringPermissionError(KeyringError):
    """The keyring file can be read by users other than its owner."""

    code = "keyring_permission_error"


class KeyringMismatch(KeyringError):
    """The keyring does not belong to this database."""

    code = "keyring_mismatch"


class SigningKeyMismatch(KeyringError):
    """The signing key given is not the one this store's checkpoints are signed with (or the
    store was set up with a separate signing key and none was given)."""

    code = "signing_key_mismatch"


class CryptoError(WhylensError):
    """Encryption or decryption failed."""

    code = "crypto_error"


class DecryptionError(CryptoError):
    """A ciphertext did not authenticate: it was altered, moved to another field or subject,
    or the key is wrong."""

    code = "decryption_error"


class SubjectDataTampered(CryptoError):
    """A subject's stored profile fields or events do not match their integrity record: a row
    was deleted, added, or replaced by an older ciphertext (each decrypting fine on its own); or
    a subject id's ``subject_index`` row does not carry its own tag (swapped or re-pointed)."""

    code = "subject_data_tampered"


class CiphertextFormatError(CryptoError):
    """A ciphertext is truncated or carries an unknown format version or algorithm."""

    code = "ciphertext_format_error"


class TruncatedCiphertext(CiphertextFormatError):
    """A ciphertext (or wrapped key) shorter than its format allows: cut off in storage or
    transit."""

    code = "truncated_ciphertext"


class UnknownCiphertextVersion(CiphertextFormatError):
    """A ciphertext with a format version or algorithm id this whylens does not know."""

    code = "unknown_ciphertext_version"


class KeyRetired(CryptoError):
    """A ciphertext or wrapped key made under a key version below the configured minimum
    decryption version: the key was retired on purpose."""

    code = "key_retired"


class KeyScheduleTampered(CryptoError):
    """The retired data-key versions stored in the database are not the ones the ledger
    records (``whylens_meta`` was edited): no data key is used until it is resolved."""

    code = "key_schedule_tampered"


class KeyDestroyed(KeyRetired):
    """A wrapped key made under a key-encryption key version that the rotation schedule has
    destroyed (its material is gone from the keyring): typically a backup older than the
    retention window. Nothing can read it any more, by design."""

    code = "key_destroyed"


class KeyProviderError(CryptoError):
    """The key provider (local keyring, secret file or environment, KMS) could not wrap or unwrap
    a data key, or is not installed."""

    code = "key_provider_error"


class SubjectErased(CryptoError):
    """The subject was erased: their data key is destroyed and their data cannot be read."""

    code = "subject_erased"


class LedgerError(WhylensError):
    """The append-only ledger could not be read or written."""

    code = "ledger_error"


class LedgerIntegrityError(LedgerError):
    """The ledger's hash chain does not verify."""

    code = "ledger_integrity_error"


class ProofError(LedgerIntegrityError):
    """A Merkle inclusion or consistency proof, a signed checkpoint or a consent receipt does
    not verify (altered, truncated, rolled back, or signed by another key)."""

    code = "proof_error"


class LedgerRollback(LedgerIntegrityError):
    """The store holds fewer (or other) entries than a checkpoint anchored outside it: a wipe,
    a truncation or an old backup put back. The message names the anchored size, the present
    size and the entries lost."""

    code = "ledger_rollback"


class WitnessError(WhylensError):
    """A witness sink (the checkpoint log outside the store, a directory, an HTTP witness)
    could not be read or written, or answered something malformed."""

    code = "witness_error"


class WitnessConflict(WitnessError):
    """A witness holds a checkpoint the ledger's is not consistent with (a fork: the same size
    with another root, or a consistency proof that does not verify)."""

    code = "witness_conflict"


class WitnessOriginConflict(WitnessConflict):
    """A witness is pinned to another log than the one it is handed (the ledger's origin
    changed: the keyring's id was edited, or another store was put in place). ``pinned`` is the
    origin the witness keeps, ``witness`` the sink's name."""

    code = "witness_origin_conflict"

    def __init__(self, message: str, *, witness: str, pinned: str) -> None:
        super().__init__(message)
        self.witness = witness
        self.pinned = pinned


class ConsentError(WhylensError):
    """A consent operation was refused."""

    code = "consent_error"


class ConsentUnavailable(ConsentError):
    """The consent log could not be read or does not verify, so no purpose is authorised:
    decisions fail closed until the ledger is restored."""

    code = "consent_unavailable"


class ConsentRequired(ConsentError):
    """An automated decision needs consent the person has not given (or withdrew), and the
    model's policy says to refuse rather than hold the decision for a person."""

    code = "consent_required"


class UnknownPurpose(ConsentError):
    """A purpose id that is not in the purposes catalog."""

    code = "unknown_purpose"


class InvalidConsentEvent(ConsentError):
    """A consent event that cannot be recorded (future-dated, out of order, malformed)."""

    code = "invalid_consent_event"


class InvalidTCString(ConsentError):
    """An IAB TCF TC string that cannot be decoded, or that fails strict validation.

    The message names the segment and field at fault; it never contains the string itself.
    """

    code = "invalid_tc_string"


class GPCConflict(ConsentError):
    """An opt-in to a purpose that an active Global Privacy Control signal opted out of.

    Record it only with the person's acknowledgement (``acknowledge_gpc_conflict=True``).
    """

    code = "gpc_conflict"


class NoteConsentMissing(ConsentError):
    """A customer note for a person who has not granted its purpose (``customer_notes``):
    nothing was stored; ask the person to agree first (``consent.grant``)."""

    code = "note_consent_missing"


class SubjectError(WhylensError):
    """A problem with a subject identifier or record."""

    code = "subject_error"


class InvalidSubjectId(SubjectError):
    """A subject id that is empty, too long or not a string."""

    code = "invalid_subject_id"


class UnknownSubject(SubjectError):
    """No record of this subject."""

    code = "unknown_subject"


class NoteStateError(SubjectError):
    """A customer-note step that is not possible: an unknown note id, a note already resolved,
    an unknown action, or text that is empty or too long."""

    code = "note_state_error"


class ModelError(WhylensError):
    """A model could not be trained, loaded or used."""

    code = "model_error"


class ModelNotFound(ModelError):
    """No model with this name (and version) in the registry."""

    code = "model_not_found"


class SchemaError(ModelError):
    """A feature schema that is invalid or does not match the data."""

    code = "schema_error"


class FeatureError(ModelError):
    """Features passed for scoring are missing, unexpected or not numeric."""

    code = "feature_error"


class TrainingError(ModelError):
    """Training could not proceed (for example no consented rows are left)."""

    code = "training_error"


class WrongModelKind(ModelError):
    """A ranker was used where a classifier is needed, or the other way round."""

    code = "wrong_model_kind"


class ModelNotSignedOff(ModelError):
    """A model version that no person has signed off yet is not served (``models.sign_off``)."""

    code = "model_not_signed_off"


class ModelTampered(ModelError):
    """The stored model text, card, feature schema or review policy of a version no longer hash
    to what was registered and signed off (the ``models`` row was edited): it is not served."""

    code = "model_tampered"


class ModelNotExplainable(ModelError):
    """A model whose outputs TreeSHAP cannot explain exactly (for example LightGBM linear trees)."""

    code = "model_not_explainable"


class CurationError(ModelError):
    """A staff pick, un-pick, item decision or curation setting that cannot be recorded
    (bad staff id or item id, an expiry in the past, slots out of range)."""

    code = "curation_error"


class ExplanationError(WhylensError):
    """An explanation could not be produced."""

    code = "explanation_error"


class AdditivityError(ExplanationError):
    """Attributions plus the base value do not add up to the model output being explained."""

    code = "additivity_error"


class AuditError(WhylensError):
    """An audit-trail operation failed."""

    code = "audit_error"


class DecisionNotFound(AuditError):
    """No decision with this id."""

    code = "decision_not_found"


class ExportNotFound(AuditError):
    """No audit export with this id (on the server's export folder)."""

    code = "export_not_found"


class ReviewStateError(AuditError):
    """A review action that the decision's current state does not allow."""

    code = "review_state_error"


class ExportVerificationError(AuditError):
    """An audit export could not be read at all (missing manifest, unreadable file)."""

    code = "export_verification_error"


class ContactCaseError(AuditError):
    """A human-contact step that is not possible: an unknown case id, a closed case, an empty or
    too long message, a bad staff id or service level."""

    code = "contact_case_error"


class ListReviewError(AuditError):
    """A sampled-list review that cannot be recorded: the list was not sampled, was reviewed
    already, or names an item it did not serve."""

    code = "list_review_error"


class AccessError(WhylensError):
    """Who may do what: a request the server's access rules refuse."""

    code = "access_error"


class NotAuthenticated(AccessError):
    """No bearer token or session, or one that is unknown, revoked or expired."""

    code = "not_authenticated"


class Forbidden(AccessError):
    """The caller is known, but their role may not use this route."""

    code = "forbidden"


class InvalidLink(AccessError):
    """A why-link that is malformed, not signed by this store, or whose subject was erased."""

    code = "invalid_link"


class LinkExpired(AccessError):
    """A genuine why-link past its expiry; ask the service for a new one."""

    code = "link_expired"


class CsrfError(AccessError):
    """A form was posted without a valid anti-forgery token (reload the page and try again)."""

    code = "csrf_error"


class BatchError(WhylensError):
    """A batch job failed: a bad input frame, a snapshot that does not match its hash, a row
    that cannot be proved."""

    code = "batch_error"


class BatchJobNotFound(BatchError):
    """No batch job with this id on the ledger."""

    code = "batch_job_not_found"
