"""Encrypted subject profiles: named fields, one AES-256-GCM ciphertext per field.

Rows of ``profile_fields`` hold ``(pseudonym, field name, ciphertext, updated)``. The subject id
never reaches the database (only its keyed pseudonym), and each value is canonical JSON encrypted
under the subject's data key with :func:`sdk.crypto.field.field_aad` binding it to the subject and
the field name. Field *names* are stored in clear: use names that are not themselves personal data.

Fields can carry a blind index (:meth:`Profiles.add_index`) for equality look-ups
(:meth:`Profiles.find`) without decrypting every profile. A field declared deterministic
(:meth:`Profiles.declare`) is stored with AES-256-SIV under a key derived from the subject's data
key: equal values of one subject's field give equal ciphertexts (joinable within that subject's
data), different subjects give unrelated ones. Writing a profile re-encrypts its other fields
still under an older data-key version (lazy data-key rotation).

Every write also seals the subject's state and anchors it on the ledger
(:mod:`sdk.subjects.integrity`); a read checks the rows against it, so a field put back to an
older ciphertext, a deleted field, or the subject rolled back to an older copy raises
:class:`~sdk.errors.SubjectDataTampered`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from .._canonical import loads
from ..crypto.blind import BlindIndex
from ..crypto.field import ALGORITHM_AES256SIV, field_aad, parse_header
from ..crypto.keyset import SubjectCipher
from ..errors import (
    CryptoError,
    SubjectDataTampered,
    SubjectErased,
    SubjectError,
    UnknownSubject,
)
from ..keys import SubjectKeys, check_pseudonym
from .events import db_label
from .integrity import SubjectIntegrity, baseline, profile_digest, profile_plaintexts
from .values import FIELD_NAME_PATTERN, MAX_NESTING, check_field_name, encode_value

if TYPE_CHECKING:
    from .._store.abc import Store, StoreTx

__all__ = ["FIELD_NAME_PATTERN", "MAX_NESTING", "Profiles"]

M = TypeVar("M", bound=BaseModel)
_INDEX_META = "blind_index."
_FIELD_META = "profile_field."
_READ_TRIES = 3


class Profiles:
    """Read and write the encrypted profile of each subject."""

    def __init__(
        self,
        db: Store,
        keys: SubjectKeys,
        *,
        mac_key: bytes | None = None,
        integrity: SubjectIntegrity | None = None,
    ) -> None:
        """Profiles stored in ``db``, encrypted with data keys from ``keys``; ``mac_key`` (the
        keyring's) keys the blind indexes; ``integrity`` seals and anchors each subject's state
        (without one, states are sealed in the database but not anchored on a ledger)."""
        self._db = db
        self._integrity = integrity if integrity is not None else SubjectIntegrity(None)
        self._keys = keys
        self._mac_key = mac_key
        self._indexes: dict[str, BlindIndex] = {}
        for key, value in db.meta.with_prefix(_INDEX_META):
            spec = json.loads(value)
            self._indexes[key[len(_INDEX_META) :]] = self._make_index(
                key[len(_INDEX_META) :], spec["normalizer"], int(spec["bits"])
            )
        self._deterministic: set[str] = set()
        for key, value in db.meta.with_prefix(_FIELD_META):
            if json.loads(value).get("deterministic") is True:
                self._deterministic.add(key[len(_FIELD_META) :])

    def put(self, subject: str, fields: Mapping[str, Any] | BaseModel) -> None:
        """Set (insert or replace) the given fields of ``subject``'s profile; other fields stay.

        ``fields`` is a mapping, or a pydantic model (its fields, personal ones included, are
        stored encrypted like any other). Field names must match ``FIELD_NAME_PATTERN``; values
        must be JSON values (str, int, finite float, bool, None, and lists and str-keyed dicts of
        these). Everything is validated and encrypted before anything is written, and all fields
        are written in one transaction: a bad name or value anywhere writes nothing. Fields
        declared deterministic (:meth:`declare`) are encrypted with AES-SIV, the others with
        AES-GCM. Raises
        :class:`SubjectError` naming the offending field (never its value),
        :class:`InvalidSubjectId`, or :class:`SubjectErased` if the subject was erased.
        """
        pseudo = self._keys.pseudonym(subject)
        if isinstance(fields, BaseModel):
            fields = fields.model_dump(mode="json")
        if not isinstance(fields, Mapping):
            raise SubjectError(
                f"profile fields must be a mapping of field name to value, got "
                f"{type(fields).__name__}"
            )
        names: list[str] = []
        plaintexts: list[bytes] = []
        for name, value in fields.items():
            names.append(check_field_name(name))
            plaintexts.append(encode_value(name, value))
        if not names:
            return
        cipher = self._keys.cipher(pseudo, create=True)
        aads = [field_aad(subject=pseudo, field=name) for name in names]
        deterministic = self._deterministic
        randomized = iter(
            cipher.encrypt_many(
                [
                    (pt, aad)
                    for name, pt, aad in zip(names, plaintexts, aads, strict=True)
                    if name not in deterministic
                ]
            )
        )
        ciphertexts = [
            cipher.encrypt_deterministic(pt, aad=aad) if name in deterministic else next(randomized)
            for name, pt, aad in zip(names, plaintexts, aads, strict=True)
        ]
        tokens = [
            (index.name, index.token(fields[index.name]))
            for index in self._indexes.values()
            if isinstance(fields.get(index.name), str)
        ]
        unindexed = [n for n in names if n in self._indexes and not isinstance(fields[n], str)]
        now = _now()
        integrity = self._integrity
        integrity.catch_up()
        with self._db.transaction() as tx:
            # an erasure may have committed since the key was fetched: write nothing then
            state = tx.keys.state(pseudo)
            if state is None or not state.has_key or state.erased is not None:
                raise SubjectErased(
                    f"subject was erased on {state.erased if state else 'an unknown date'}; "
                    "their data cannot be read"
                )
            # the stored profile must check out first: sealing over tampered rows would
            # launder the tampering
            before = integrity.sealed(tx, pseudo, cipher)
            stored = profile_plaintexts(tx.profiles.fields(pseudo), pseudo, cipher)
            integrity.check(before, cipher, fields=profile_digest(stored), what="profile")
            stored.update(zip(names, plaintexts, strict=True))
            if before is None:
                _, events, count = baseline(tx, pseudo, cipher)
                pending = integrity.write(
                    tx, pseudo, cipher, None,
                    fields=profile_digest(stored), events=events, count=count,
                )
            else:
                pending = integrity.write(tx, pseudo, cipher, before,
                                          fields=profile_digest(stored))
            tx.profiles.upsert(pseudo, list(zip(names, ciphertexts, strict=True)), now)
            tx.blind_index.upsert([(name, pseudo, token) for name, token in tokens])
            tx.blind_index.delete([(name, pseudo) for name in unindexed])
            self._reencrypt_older(tx, pseudo, cipher, set(names))
        integrity.publish(pending)

    def _reencrypt_older(
        self, tx: StoreTx, pseudo: str, cipher: SubjectCipher, skip: set[str]
    ) -> None:
        """Lazy data-key rotation: the subject's other fields still under an older key version
        are re-encrypted under the current one, in the writing transaction."""
        current = cipher.key_version
        rows = tx.profiles.fields(pseudo)
        updates = []
        for name, ciphertext in rows:
            version = cipher.key_version_of(ciphertext)
            # a retired version cannot be read, so it cannot be carried forward either
            if name in skip or version == current or version < cipher.min_version:
                continue
            aad = field_aad(subject=pseudo, field=name)
            plaintext = cipher.decrypt(ciphertext, aad=aad)
            updates.append((pseudo, name, self._encrypt(cipher, name, plaintext, aad)))
        tx.profiles.replace(updates)

    def _encrypt(self, cipher: SubjectCipher, name: str, plaintext: bytes, aad: bytes) -> bytes:
        if name in self._deterministic:
            return cipher.encrypt_deterministic(plaintext, aad=aad)
        return cipher.encrypt(plaintext, aad=aad)

    def get(self, subject: str, *, model: type[M] | None = None) -> Any:
        """Decrypt and return every field of ``subject``'s profile: a dict, or an instance of
        ``model`` (a pydantic model class) built from it.

        Raises :class:`UnknownSubject` if no profile was stored, :class:`SubjectErased` if the
        subject was erased, and :class:`DecryptionError` (naming the field) if a stored value was
        tampered with or moved.
        """
        pseudo = self._keys.pseudonym(subject, create=False)
        out = self.get_by_pseudonym(pseudo)
        return out if model is None else model.model_validate(out)

    def get_by_pseudonym(self, pseudo: str) -> dict[str, Any]:
        """:meth:`get` for a subject known by pseudonym (look-ups, exports)."""
        check_pseudonym(pseudo)
        self._integrity.catch_up()
        for attempt in range(_READ_TRIES):
            try:
                return self._read_checked(pseudo)
            except SubjectDataTampered:
                # the rows and the seal are two reads: a write committed between them looks
                # like tampering once; tampering persists
                if attempt == _READ_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _read_checked(self, pseudo: str) -> dict[str, Any]:
        rows = self._db.profiles.fields(pseudo)
        seal = self._db.integrity.get(pseudo)
        if not rows:
            self._keys.raise_if_erased(pseudo)
            if seal is None and not self._integrity.anchors_any():
                raise UnknownSubject("no profile is stored for this subject")
        try:
            cipher = self._keys.cipher(pseudo, create=False)
        except UnknownSubject:
            if rows or seal is not None:
                raise SubjectDataTampered(
                    "profile: rows are stored for a subject without a data key"
                ) from None
            raise
        out: dict[str, Any] = {}
        plaintexts: dict[str, bytes] = {}
        for name, ciphertext in rows:
            try:
                plaintext = cipher.decrypt(ciphertext, aad=field_aad(subject=pseudo, field=name))
            except CryptoError as exc:
                raise type(exc)(f"profile field {name!r}: {exc}") from exc
            plaintexts[name] = plaintext
            out[name] = loads(plaintext)
        state = self._integrity.load(seal, pseudo, cipher)
        self._integrity.check(state, cipher, fields=profile_digest(plaintexts), what="profile")
        if not rows:
            raise UnknownSubject("no profile is stored for this subject")
        return out

    # -- deterministic fields ------------------------------------------------------------------

    def declare(self, field: str, *, deterministic: bool) -> None:
        """Choose how ``field`` is encrypted for every subject, from now on and for stored values.

        ``deterministic=True``: AES-256-SIV under a key derived from each subject's data key, so
        equal values of the same subject and field give equal ciphertexts (joinable within that
        subject's data) and different subjects' ciphertexts are unrelated; it reveals exactly that
        equality (see ``docs/crypto-format.md``). ``False`` restores randomized AES-GCM, the
        default. The declaration is stored in the database; values already stored are
        re-encrypted in the declared mode now (values under a retired data key are left alone).
        """
        check_field_name(field)
        if not isinstance(deterministic, bool):
            raise SubjectError(
                f"deterministic must be True or False, got {type(deterministic).__name__}"
            )
        # switched first so that a concurrent put already writes in the new mode; the CAS below
        # then leaves its value alone
        was = field in self._deterministic
        self._set_mode(field, deterministic)
        try:
            updates = self._convert(field, deterministic)
            with self._db.transaction() as tx:
                tx.meta.set(_FIELD_META + field, json.dumps({"deterministic": deterministic}))
                tx.profiles.compare_and_set(updates)
        except BaseException:
            self._set_mode(field, was)
            raise

    def _set_mode(self, field: str, deterministic: bool) -> None:
        if deterministic:
            self._deterministic.add(field)
        else:
            self._deterministic.discard(field)

    def _convert(self, field: str, deterministic: bool) -> list[tuple[str, str, bytes, bytes]]:
        """``(pseudonym, field, new ciphertext, old ciphertext)`` for each stored value of
        ``field`` not yet in the wanted mode."""
        rows = self._db.profiles.of_live_subjects(field)
        updates = []
        for pseudo, ciphertext in rows:
            try:
                if (parse_header(ciphertext)[1] == ALGORITHM_AES256SIV) == deterministic:
                    continue
                cipher = self._keys.cipher(pseudo, create=False)
                if cipher.key_version_of(ciphertext) < cipher.min_version:
                    continue
                aad = field_aad(subject=pseudo, field=field)
                plaintext = cipher.decrypt(ciphertext, aad=aad)
            except SubjectErased:
                continue  # erased since the query: nothing left to convert
            except CryptoError as exc:
                raise type(exc)(f"profile field {field!r}: {exc}") from exc
            updates.append(
                (pseudo, field, self._encrypt(cipher, field, plaintext, aad), bytes(ciphertext))
            )
        return updates

    @property
    def deterministic_fields(self) -> frozenset[str]:
        """The fields declared deterministic (:meth:`declare`)."""
        return frozenset(self._deterministic)

    # -- blind indexes -------------------------------------------------------------------------

    def add_index(self, field: str, *, normalizer: str = "text", bits: int = 64) -> BlindIndex:
        """Keep a blind index of string field ``field`` (see :mod:`sdk.crypto.blind`).

        The definition is stored in the database; existing profiles are indexed now.
        """
        check_field_name(field)
        index = self._make_index(field, normalizer, bits)
        spec = json.dumps({"bits": bits, "normalizer": normalizer}, sort_keys=True)
        self._db.meta.set(_INDEX_META + field, spec)
        self._indexes[field] = index
        rows = self._db.profiles.of_live_subjects(field)
        entries = []
        for pseudo, ciphertext in rows:
            cipher = self._keys.cipher(pseudo, create=False)
            value = loads(cipher.decrypt(ciphertext, aad=field_aad(subject=pseudo, field=field)))
            if isinstance(value, str):
                entries.append((pseudo, index.token(value)))
        self._db.blind_index.rebuild(field, entries)
        return index

    def find(self, field: str, value: str) -> list[str]:
        """Pseudonyms of the subjects whose ``field`` equals ``value`` (after the index's
        normalizer). Token hits are confirmed by decrypting, so truncation never yields a wrong
        match. Raises :class:`SubjectError` if ``field`` has no index."""
        index = self._indexes.get(field) if isinstance(field, str) else None
        if index is None:
            raise SubjectError("no blind index on this field; add one with add_index(field)")
        found = []
        for pseudo in self._db.blind_index.find(field, index.token(value)):
            try:
                stored = self.get_by_pseudonym(pseudo).get(field)
            except (SubjectErased, UnknownSubject):
                continue
            if isinstance(stored, str) and index.matches(stored, value):
                found.append(str(pseudo))
        return found

    @property
    def indexes(self) -> dict[str, BlindIndex]:
        """The blind indexes kept, by field name."""
        return dict(self._indexes)

    def _make_index(self, field: str, normalizer: str, bits: int) -> BlindIndex:
        if self._mac_key is None:
            raise SubjectError("blind indexes need the keyring's mac_key; pass mac_key=")
        return BlindIndex(self._mac_key, field, normalizer=normalizer, bits=bits)

    # -- erasure and raw access ----------------------------------------------------------------

    def delete_all(self, pseudo: str, tx: StoreTx) -> int:
        """Delete every profile field and blind-index entry of subject ``pseudo`` inside ``tx``;
        returns how many fields."""
        check_pseudonym(pseudo)
        tx.blind_index.delete_subject(pseudo)
        tx.integrity.delete(pseudo)  # its ledger anchors are keyed by the destroyed data key
        return tx.profiles.delete_subject(pseudo)

    def fields_encrypted(self, pseudo: str) -> dict[str, bytes]:
        """The raw stored ciphertext of each field of subject ``pseudo`` (for exports and tests)."""
        check_pseudonym(pseudo)
        return dict(self._db.profiles.fields(pseudo))

    def __repr__(self) -> str:
        return f"Profiles(database={db_label(self._db)!r})"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
