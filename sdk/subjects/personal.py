"""Marking personal data in pydantic models: ``Annotated[str, Personal(category, purpose)]``.

::

    class Customer(BaseModel):
        customer_id: str
        email: Annotated[str, Personal(category="contact", purpose="service")]

    c = Customer(customer_id="c-1", email="ann@example.org")
    repr(c)                       # Customer(customer_id='c-1', email='***')  (logs too)
    Customer.model_json_schema()  # "email": {..., "x-personal-data": {"category": "contact", ...}}
    stored = seal(c, cipher, subject=pseudo)     # personal fields -> "wl1:<base64 ciphertext>"
    unseal(Customer, stored, cipher, subject=pseudo) == c

A marked ``str`` value is a :class:`PersonalStr`: equal to and usable as the plain string, but its
``repr`` is ``'***'`` so printing or logging the model never shows it. ``c.email`` itself is the
real value (reading a field is deliberate). Each sealed value is bound to its subject and field
path like every whylens field ciphertext.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import core_schema

from .._canonical import canonical_json, loads
from ..crypto.field import FieldCipher, field_aad
from ..errors import CiphertextFormatError, SchemaError, SubjectError

__all__ = ["SEALED_PREFIX", "Personal", "PersonalStr", "personal_fields", "seal", "unseal"]

SEALED_PREFIX = "wl1:"
"""How a sealed value starts in stored JSON: ``"wl1:" + base64(field ciphertext)``."""

M = TypeVar("M", bound=BaseModel)


class PersonalStr(str):
    """A ``str`` holding personal data: behaves as the string, shows ``'***'`` in ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


def _mask(value: Any) -> Any:
    return (
        PersonalStr(value)
        if isinstance(value, str) and not isinstance(value, PersonalStr)
        else value
    )


def _plain(value: Any) -> Any:
    return str.__str__(value) if isinstance(value, PersonalStr) else value


@dataclass(frozen=True, slots=True)
class Personal:
    """Marks a model field as personal data: its ``category`` (e.g. ``"contact"``,
    ``"health"``) and the ``purpose`` it is processed for. ``mask=False`` keeps the real value in
    ``repr`` (for fields that are personal but harmless to show, such as a first name in a
    greeting)."""

    category: str
    purpose: str
    mask: bool = True

    def __post_init__(self) -> None:
        for name in ("category", "purpose"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > 64:
                raise SchemaError(
                    f"Personal({name}=...) must be a non-empty name of at most 64 characters"
                )

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        schema: core_schema.CoreSchema = handler(source)
        if not self.mask:
            return schema
        return core_schema.no_info_after_validator_function(
            _mask,
            schema,
            serialization=core_schema.plain_serializer_function_ser_schema(_plain),
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(handler(schema))
        out["x-personal-data"] = {"category": self.category, "purpose": self.purpose}
        return out


def personal_fields(model: type[BaseModel]) -> dict[str, Personal]:
    """The fields of ``model`` marked :class:`Personal`, by name."""
    out = {}
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, Personal):
                out[name] = meta
    return out


def seal(
    model: BaseModel, cipher: FieldCipher, *, subject: str, prefix: str = ""
) -> dict[str, Any]:
    """The model as a JSON-ready dict with every personal field encrypted (nested models too).

    ``subject`` is the subject's pseudonym; each value's ciphertext is bound to it and to the
    field path (``prefix`` + field name), so sealed values cannot be moved between fields or
    subjects.
    """
    data: dict[str, Any] = model.model_dump(mode="json")
    marked = personal_fields(type(model))
    for name in type(model).model_fields:
        path = f"{prefix}{name}"
        value = getattr(model, name)
        if name in marked and data[name] is not None:
            ciphertext = cipher.encrypt(
                canonical_json(data[name]), aad=field_aad(subject=subject, field=path)
            )
            data[name] = SEALED_PREFIX + base64.b64encode(ciphertext).decode("ascii")
        elif isinstance(value, BaseModel):
            data[name] = seal(value, cipher, subject=subject, prefix=path + ".")
    return data


def unseal(
    model: type[M], data: dict[str, Any], cipher: FieldCipher, *, subject: str, prefix: str = ""
) -> M:
    """Inverse of :func:`seal`: decrypt the personal fields and validate into ``model``."""
    if not isinstance(data, dict):
        raise SubjectError(f"sealed data must be a dict, got {type(data).__name__}")
    plain = dict(data)
    marked = personal_fields(model)
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        value = plain.get(name)
        if name in marked and isinstance(value, str):
            if not value.startswith(SEALED_PREFIX):
                raise CiphertextFormatError(f"personal field {path!r} is not sealed")
            try:
                blob = base64.b64decode(value[len(SEALED_PREFIX) :], validate=True)
            except (binascii.Error, ValueError):
                raise CiphertextFormatError(
                    f"personal field {path!r} is not valid base64"
                ) from None
            plain[name] = loads(cipher.decrypt(blob, aad=field_aad(subject=subject, field=path)))
        elif (
            isinstance(value, dict)
            and isinstance(info.annotation, type)
            and issubclass(info.annotation, BaseModel)
        ):
            plain[name] = unseal(info.annotation, value, cipher, subject=subject, prefix=path + ".")
    try:
        return model.model_validate(plain)
    except ValidationError as exc:
        # pydantic's message would quote the decrypted input
        raise SubjectError(
            f"sealed data does not fit {model.__name__}: {exc.error_count()} validation errors "
            f"in fields {sorted({str(e['loc'][0]) for e in exc.errors() if e['loc']})}"
        ) from None
