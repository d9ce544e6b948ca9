"""A signing key inside an HSM, through PKCS#11 (optional extra: ``pip install 'whylens[pkcs11]'``).

:class:`Pkcs11Signer` is a :class:`~sdk.crypto.signing.Signer` whose Ed25519 private key never
leaves the token: ``sign`` is a ``C_Sign`` call with ``CKM_EDDSA``, and the key is generated on
the token as sensitive and not extractable (:meth:`Pkcs11Signer.generate`). Any PKCS#11 module
works: SoftHSM2 (``libsofthsm2.so``, what the tests use), a YubiHSM, a network HSM, a cloud HSM
that ships a PKCS#11 library. Whoever holds the database and the keyring can then read data but
cannot sign a checkpoint, an export or a receipt; whoever can log in to the token can, and the
HSM's own audit log says when.

Why PKCS#11 and not AWS KMS here: the KMS ``Sign`` API has an Ed25519 key spec, but the KMS
server the tests can run (moto) does not implement it, and an adapter that no test runs is not
shipped. A KMS that offers a PKCS#11 library is reachable through this class.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any, NoReturn

from ..errors import ConfigurationError, KeyProviderError

__all__ = ["ED25519_OID", "Pkcs11Signer"]

ED25519_OID = "1.3.101.112"
_INSTALL_HINT = "pip install 'whylens[pkcs11]'"


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise ConfigurationError(
            f"the PKCS#11 signer needs python-pkcs11, which is not installed: {_INSTALL_HINT}"
        ) from exc
    return pkcs11


def _raw_point(point: bytes) -> bytes:
    """CKA_EC_POINT of an Ed25519 key: the 32 bytes, raw or as a DER OCTET STRING."""
    if len(point) == 34 and point[:2] == b"\x04\x20":
        return point[2:]
    if len(point) == 32:
        return point
    raise KeyProviderError("the token's public key is not an Ed25519 point")


def _login(token: Any, pin: str, *, rw: bool = False) -> Any:
    """A session on ``token`` logged in as the user. PKCS#11 logs in an application, not a
    session: when another session of this process already did, a new one shares that login
    (and the PIN is not checked again: the process is already authenticated)."""
    from pkcs11.exceptions import UserAlreadyLoggedIn

    try:
        return token.open(rw=rw, user_pin=pin)
    except UserAlreadyLoggedIn:
        return token.open(rw=rw)


class Pkcs11Signer:
    """An Ed25519 key held by a PKCS#11 token (see the module docstring)."""

    def __init__(
        self,
        library: str | os.PathLike[str],
        *,
        token_label: str,
        key_label: str,
        pin: str,
    ) -> None:
        """Log in to token ``token_label`` of the PKCS#11 module at ``library`` with ``pin``
        and use the key pair labelled ``key_label``.

        :class:`KeyProviderError` if the module, token or key cannot be used (the message
        names the token and label, never the PIN)."""
        p11 = _pkcs11()
        from pkcs11 import Attribute, KeyType, ObjectClass

        where = f"key {key_label!r} on token {token_label!r}"
        try:
            lib = p11.lib(os.fspath(library))
            token = lib.get_token(token_label=token_label)
            self._session = _login(token, pin)
        except (p11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyProviderError(f"cannot open {where}: {type(exc).__name__}") from None
        try:
            self._key = self._session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC_EDWARDS, label=key_label
            )
            public = self._session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC_EDWARDS, label=key_label
            )
            self._public = _raw_point(bytes(public[Attribute.EC_POINT]))
        except (p11.PKCS11Error, RuntimeError) as exc:
            self._session.close()
            raise KeyProviderError(f"cannot use {where}: {type(exc).__name__}") from None
        self._label = where
        self._lock = threading.Lock()  # one session; PKCS#11 wants one operation at a time
        self._check_pair()

    @classmethod
    def generate(
        cls,
        library: str | os.PathLike[str],
        *,
        token_label: str,
        key_label: str,
        pin: str,
    ) -> Pkcs11Signer:
        """Generate a new Ed25519 key pair on the token (private half sensitive and never
        extractable) and open it. :class:`KeyProviderError` if ``key_label`` is taken."""
        p11 = _pkcs11()
        from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
        from pkcs11.util.ec import encode_named_curve_parameters

        try:
            token = p11.lib(os.fspath(library)).get_token(token_label=token_label)
            with _login(token, pin, rw=True) as session:
                taken = list(session.get_objects({Attribute.LABEL: key_label,
                                                  Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
                if taken:
                    raise KeyProviderError(
                        f"token {token_label!r} already holds a key {key_label!r}"
                    )
                params = session.create_domain_parameters(
                    KeyType.EC_EDWARDS,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
                    local=True,
                )
                params.generate_keypair(
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    store=True,
                    label=key_label,
                    private_template={
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                    },
                )
        except (p11.PKCS11Error, RuntimeError) as exc:
            raise KeyProviderError(
                f"cannot generate key {key_label!r} on token {token_label!r}: "
                f"{type(exc).__name__}"
            ) from None
        return cls(library, token_label=token_label, key_label=key_label, pin=pin)

    def _check_pair(self) -> None:
        """A private and a public key under one label that do not belong together would sign
        checkpoints nobody can verify: refuse them at open."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        probe = b"whylens pkcs11 key check"
        try:
            Ed25519PublicKey.from_public_bytes(self._public).verify(self.sign(probe), probe)
        except InvalidSignature:
            self.close()
            raise KeyProviderError(
                f"{self._label}: the private key does not match the public key"
            ) from None

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the public key."""
        return hashlib.sha256(self._public).hexdigest()

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._public

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of ``data``, made by the token."""
        from pkcs11 import Mechanism, PKCS11Error

        with self._lock:
            try:
                return bytes(self._key.sign(data, mechanism=Mechanism.EDDSA))
            except (PKCS11Error, RuntimeError) as exc:
                raise KeyProviderError(
                    f"{self._label} did not sign: {type(exc).__name__}"
                ) from None

    def close(self) -> None:
        """Log out and close the session."""
        self._session.close()

    def __repr__(self) -> str:
        return f"Pkcs11Signer({self._label}, fingerprint={self.fingerprint[:16]}...)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("an HSM session cannot be pickled")
