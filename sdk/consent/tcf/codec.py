"""Decode and encode IAB TCF v2 TC strings (core, disclosed-vendors, allowed-vendors and
publisher-TC segments), after "Consent string and vendor list formats v2" (TCF v2.2 / v2.3).

Decoding is lenient about policy (any policy version, no required segments) but exact about
format: every field must be present, ids must be in range, segments must be known and appear at
most once. :func:`validate_tc_model` (or ``decode_tc_string(..., validate=True)``) adds the policy
checks. Every failure is an :class:`~sdk.errors.InvalidTCString` that names the segment and field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...errors import InvalidTCString
from .bits import BitReader, BitWriter
from .model import PublisherTC, TCModel, from_deciseconds, to_deciseconds
from .sections import read_restrictions, read_vendor_vector, write_restrictions, write_vendor_vector
from .validate import validate_tc_model

__all__ = ["MAX_TC_STRING_LENGTH", "decode_tc_string", "encode_tc_string"]

MAX_TC_STRING_LENGTH = 100_000
"""Longest string accepted; three full 65,535-bit vendor bitfields take about 33,000 chars."""

_SEGMENT_NAMES = {1: "disclosed-vendors", 2: "allowed-vendors", 3: "publisher-TC"}
_ASCII_A = 65


def decode_tc_string(tc_string: str, *, validate: bool = False) -> TCModel:
    """Decode a TC string into a :class:`TCModel`.

    With ``validate=True`` the result must also pass :func:`validate_tc_model` (version 2,
    policy version >= 4, the disclosed-vendors segment present in strings created from
    2026-03-01 on, and the TCF v2.2 legitimate-interest rules).
    """
    if not isinstance(tc_string, str):
        raise InvalidTCString(f"a TC string must be a str, not {type(tc_string).__name__}")
    if not tc_string:
        raise InvalidTCString("the TC string is empty")
    if len(tc_string) > MAX_TC_STRING_LENGTH:
        raise InvalidTCString(f"the TC string is longer than {MAX_TC_STRING_LENGTH} characters")
    parts = tc_string.split(".")
    if any(not part for part in parts):
        raise InvalidTCString("the TC string has an empty segment (two dots or a dot at an end)")
    fields = _read_core(BitReader(parts[0], "core"))
    seen: set[int] = set()
    for part in parts[1:]:
        reader = BitReader(part, "non-core")
        kind = reader.read(3, "segment_type")
        if kind == 0:
            raise InvalidTCString("the TC string has a second core segment")
        if kind not in _SEGMENT_NAMES:
            raise InvalidTCString(f"the TC string has a segment of unknown type {kind}")
        if kind in seen:
            raise InvalidTCString(f"the TC string has more than one {_SEGMENT_NAMES[kind]} segment")
        seen.add(kind)
        reader.segment = _SEGMENT_NAMES[kind]
        if kind == 1:
            fields["vendors_disclosed"] = read_vendor_vector(reader, "vendors_disclosed")
        elif kind == 2:
            fields["vendors_allowed"] = read_vendor_vector(reader, "vendors_allowed")
        else:
            fields["publisher_tc"] = _read_publisher_tc(reader)
    model = _build(fields)
    if validate:
        validate_tc_model(model)
    return model


def encode_tc_string(model: TCModel, *, gvl_vendor_ids: Iterable[int] | None = None) -> str:
    """Encode ``model`` as a TC string: core, then each optional segment the model has.

    Each vendor vector takes the shorter of its bitfield and range encodings; segments are
    zero-padded to a whole byte only. The result is never longer than what the IAB JavaScript
    library produces for the same content. ``gvl_vendor_ids`` (the vendor ids of the Global
    Vendor List in use) lets publisher restrictions join ranges across ids that are not on it,
    as the IAB library does; the decoded restrictions then also cover those (absent) ids.
    """
    if not isinstance(model, TCModel):
        raise InvalidTCString(f"encode_tc_string needs a TCModel, not {type(model).__name__}")
    gvl = None
    if gvl_vendor_ids is not None:
        ids = set(gvl_vendor_ids)
        if any(type(i) is not int or not 1 <= i <= 65535 for i in ids):
            raise InvalidTCString("gvl_vendor_ids must be vendor ids (ints from 1 to 65535)")
        gvl = sorted(ids)
    segments = [_write_core(model, gvl)]
    for kind, vector in ((1, model.vendors_disclosed), (2, model.vendors_allowed)):
        if vector is not None:
            writer = BitWriter()
            writer.write(kind, 3)
            write_vendor_vector(writer, vector)
            segments.append(writer.to_base64url())
    if model.publisher_tc is not None:
        segments.append(_write_publisher_tc(model.publisher_tc))
    return ".".join(segments)


def _read_core(r: BitReader) -> dict[str, Any]:
    version = r.read(6, "version")
    if version != 2:
        raise InvalidTCString(
            f"the core segment has version {version}; only version 2 TC strings can be read"
        )
    f: dict[str, Any] = {"version": version}
    f["created"] = from_deciseconds(r.read(36, "created"))
    f["last_updated"] = from_deciseconds(r.read(36, "last_updated"))
    f["cmp_id"] = r.read(12, "cmp_id")
    f["cmp_version"] = r.read(12, "cmp_version")
    f["consent_screen"] = r.read(6, "consent_screen")
    f["consent_language"] = _letters(r, "consent_language")
    f["vendor_list_version"] = r.read(12, "vendor_list_version")
    f["policy_version"] = r.read(6, "policy_version")
    f["is_service_specific"] = r.read_bool("is_service_specific")
    f["use_non_standard_texts"] = r.read_bool("use_non_standard_texts")
    f["special_feature_optins"] = frozenset(r.read_bitfield(12, "special_feature_optins"))
    f["purpose_consents"] = frozenset(r.read_bitfield(24, "purpose_consents"))
    f["purpose_legitimate_interests"] = frozenset(
        r.read_bitfield(24, "purpose_legitimate_interests")
    )
    f["purpose_one_treatment"] = r.read_bool("purpose_one_treatment")
    f["publisher_country_code"] = _letters(r, "publisher_country_code")
    f["vendor_consents"] = read_vendor_vector(r, "vendor_consents")
    f["vendor_legitimate_interests"] = read_vendor_vector(r, "vendor_legitimate_interests")
    f["publisher_restrictions"] = read_restrictions(r)
    return f


def _letters(r: BitReader, field: str) -> str:
    first, second = r.read(6, field), r.read(6, field)
    if first > 25 or second > 25:
        raise InvalidTCString(f"the core segment's {field} is not two letters A-Z")
    return chr(_ASCII_A + first) + chr(_ASCII_A + second)


def _read_publisher_tc(r: BitReader) -> PublisherTC:
    consents = frozenset(r.read_bitfield(24, "pub_purposes_consent"))
    legint = frozenset(r.read_bitfield(24, "pub_purposes_li_transparency"))
    num = r.read(6, "num_custom_purposes")
    custom_consents = frozenset(r.read_bitfield(num, "custom_purposes_consent"))
    custom_legint = frozenset(r.read_bitfield(num, "custom_purposes_li_transparency"))
    return PublisherTC.model_construct(
        purpose_consents=consents,
        purpose_legitimate_interests=legint,
        num_custom_purposes=num,
        custom_purpose_consents=custom_consents,
        custom_purpose_legitimate_interests=custom_legint,
    )


def _build(fields: dict[str, Any]) -> TCModel:
    # Every value read is in range by construction (bit widths, the checks above, restrictions
    # merged in sections.py), so re-validating thousands of ids would only cost time (about half
    # of a decode). The defaults are filled in by model_construct for absent segments.
    return TCModel.model_construct(**fields)


def _write_core(m: TCModel, gvl: list[int] | None) -> str:
    w = BitWriter()
    w.write(m.version, 6)
    w.write(to_deciseconds(m.created), 36)
    w.write(to_deciseconds(m.last_updated), 36)
    w.write(m.cmp_id, 12)
    w.write(m.cmp_version, 12)
    w.write(m.consent_screen, 6)
    _write_letters(w, m.consent_language)
    w.write(m.vendor_list_version, 12)
    w.write(m.policy_version, 6)
    w.write_bool(m.is_service_specific)
    w.write_bool(m.use_non_standard_texts)
    w.write_bitfield(m.special_feature_optins, 12)
    w.write_bitfield(m.purpose_consents, 24)
    w.write_bitfield(m.purpose_legitimate_interests, 24)
    w.write_bool(m.purpose_one_treatment)
    _write_letters(w, m.publisher_country_code)
    write_vendor_vector(w, m.vendor_consents)
    write_vendor_vector(w, m.vendor_legitimate_interests)
    write_restrictions(w, m.publisher_restrictions, gvl)
    return w.to_base64url()


def _write_letters(w: BitWriter, letters: str) -> None:
    w.write(ord(letters[0]) - _ASCII_A, 6)
    w.write(ord(letters[1]) - _ASCII_A, 6)


def _write_publisher_tc(p: PublisherTC) -> str:
    w = BitWriter()
    w.write(3, 3)
    w.write_bitfield(p.purpose_consents, 24)
    w.write_bitfield(p.purpose_legitimate_interests, 24)
    w.write(p.num_custom_purposes, 6)
    w.write_bitfield(p.custom_purpose_consents, p.num_custom_purposes)
    w.write_bitfield(p.custom_purpose_legitimate_interests, p.num_custom_purposes)
    return w.to_base64url()
