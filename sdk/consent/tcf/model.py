"""The typed model of a decoded IAB TCF v2 TC string (TCF v2.2 / v2.3).

Every model is frozen, strict and closed. Sets of ids are ``frozenset[int]``; any iterable of
ints is accepted on construction and turned into one. Vendors under a publisher restriction are
kept as merged ``(first, last)`` ranges, because a string may legally name all 65,535 vendor ids
under each of many restrictions and expanding them would cost gigabytes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from ...types import Frozen

__all__ = [
    "MAX_DECISECONDS",
    "PublisherRestriction",
    "PublisherTC",
    "RestrictionType",
    "TCModel",
    "merge_ranges",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DECISECONDS = (1 << 36) - 1
MAX_NUM_ENTRIES = (1 << 12) - 1

VendorId = Annotated[int, Field(ge=1, le=65535)]
PurposeId = Annotated[int, Field(ge=1, le=24)]
SpecialFeatureId = Annotated[int, Field(ge=1, le=12)]
CustomPurposeId = Annotated[int, Field(ge=1, le=63)]
Letters2 = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class RestrictionType(IntEnum):
    """What a publisher restriction does to a vendor's processing for one purpose."""

    NOT_ALLOWED = 0
    REQUIRE_CONSENT = 1
    REQUIRE_LI = 2


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, non-overlapping, non-adjacent ``(first, last)`` ranges covering ``ranges``."""
    out: list[list[int]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1][1] = last
        else:
            out.append([first, last])
    return tuple((a, b) for a, b in out)


def ranges_of(ids: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Runs of consecutive ids as ``(first, last)`` ranges."""
    s = ids if isinstance(ids, set | frozenset) else set(ids)
    # a run starts at an id whose predecessor is absent and ends at one whose successor is
    starts = sorted(s.difference([i + 1 for i in s]))
    ends = sorted(s.difference([i - 1 for i in s]))
    return tuple(zip(starts, ends, strict=True))


def _to_frozenset(value: Any) -> Any:
    if isinstance(value, set | list | tuple | range):
        return frozenset(value)
    return value


class PublisherRestriction(Frozen):
    """One publisher restriction: for ``purpose_id``, ``restriction_type`` applies to vendors."""

    purpose_id: Annotated[int, Field(ge=1, le=63)]
    restriction_type: RestrictionType
    vendor_ranges: tuple[tuple[VendorId, VendorId], ...]
    """Merged, sorted ``(first, last)`` vendor id ranges, both ends included."""

    @field_validator("restriction_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if type(value) is int and value in (0, 1, 2):
            return RestrictionType(value)
        return value

    @field_validator("vendor_ranges")
    @classmethod
    def _canonical(cls, value: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        for first, last in value:
            if first > last:
                raise ValueError("a vendor range ends before it starts")
        merged = merge_ranges(value)
        if len(merged) > MAX_NUM_ENTRIES:
            raise ValueError(f"more than {MAX_NUM_ENTRIES} separate vendor ranges")
        return merged

    @classmethod
    def of(
        cls, purpose_id: int, restriction_type: int, vendors: Iterable[int]
    ) -> PublisherRestriction:
        """A restriction for an iterable of vendor ids."""
        return cls(
            purpose_id=purpose_id,
            restriction_type=RestrictionType(restriction_type),
            vendor_ranges=ranges_of(vendors),
        )

    def covers(self, vendor_id: int) -> bool:
        """True if the restriction applies to ``vendor_id``."""
        i = bisect.bisect_right(self.vendor_ranges, (vendor_id, 65536)) - 1
        return i >= 0 and self.vendor_ranges[i][0] <= vendor_id <= self.vendor_ranges[i][1]

    @property
    def vendors(self) -> frozenset[int]:
        """The vendor ids as a set (expands the ranges: up to 65,535 ids)."""
        return frozenset(i for a, b in self.vendor_ranges for i in range(a, b + 1))


class PublisherTC(Frozen):
    """The publisher transparency and consent segment (the publisher's own purposes)."""

    purpose_consents: frozenset[PurposeId] = frozenset()
    purpose_legitimate_interests: frozenset[PurposeId] = frozenset()
    num_custom_purposes: Annotated[int, Field(ge=0, le=63)] = 0
    custom_purpose_consents: frozenset[CustomPurposeId] = frozenset()
    custom_purpose_legitimate_interests: frozenset[CustomPurposeId] = frozenset()

    _sets = field_validator(
        "purpose_consents",
        "purpose_legitimate_interests",
        "custom_purpose_consents",
        "custom_purpose_legitimate_interests",
        mode="before",
    )(_to_frozenset)

    @model_validator(mode="after")
    def _custom_in_range(self) -> PublisherTC:
        n = self.num_custom_purposes
        for name in ("custom_purpose_consents", "custom_purpose_legitimate_interests"):
            if any(i > n for i in getattr(self, name)):
                raise ValueError(f"{name} names a custom purpose above num_custom_purposes")
        return self


class TCModel(Frozen):
    """A TC string's content: the core segment and the optional segments.

    ``vendors_disclosed``, ``vendors_allowed`` and ``publisher_tc`` are ``None`` when the string
    has no such segment. Timestamps are UTC with decisecond precision (what the string holds).
    """

    version: Annotated[int, Field(ge=0, le=63)] = 2
    created: datetime
    last_updated: datetime
    cmp_id: Annotated[int, Field(ge=0, le=4095)]
    cmp_version: Annotated[int, Field(ge=0, le=4095)] = 0
    consent_screen: Annotated[int, Field(ge=0, le=63)] = 0
    consent_language: Letters2 = "EN"
    vendor_list_version: Annotated[int, Field(ge=0, le=4095)]
    policy_version: Annotated[int, Field(ge=0, le=63)] = 5
    is_service_specific: bool = False
    use_non_standard_texts: bool = False
    special_feature_optins: frozenset[SpecialFeatureId] = frozenset()
    purpose_consents: frozenset[PurposeId] = frozenset()
    purpose_legitimate_interests: frozenset[PurposeId] = frozenset()
    purpose_one_treatment: bool = False
    publisher_country_code: Letters2 = "AA"
    vendor_consents: frozenset[VendorId] = frozenset()
    vendor_legitimate_interests: frozenset[VendorId] = frozenset()
    publisher_restrictions: tuple[PublisherRestriction, ...] = ()
    vendors_disclosed: frozenset[VendorId] | None = None
    vendors_allowed: frozenset[VendorId] | None = None
    publisher_tc: PublisherTC | None = None

    _sets = field_validator(
        "special_feature_optins",
        "purpose_consents",
        "purpose_legitimate_interests",
        "vendor_consents",
        "vendor_legitimate_interests",
        "vendors_disclosed",
        "vendors_allowed",
        mode="before",
    )(_to_frozenset)

    @field_validator("created", "last_updated")
    @classmethod
    def _timestamp(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must be timezone-aware (e.g. UTC)")
        if not 0 <= to_deciseconds(value) <= MAX_DECISECONDS:
            raise ValueError("must lie between 1970 and 2187 (36 bits of deciseconds)")
        return value.astimezone(UTC)

    @field_validator("publisher_restrictions")
    @classmethod
    def _merge_restrictions(
        cls, value: tuple[PublisherRestriction, ...]
    ) -> tuple[PublisherRestriction, ...]:
        # one entry per (purpose, type), in a stable order, so equal content compares equal; an
        # entry without vendors restricts nothing and is dropped
        by_key: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for r in value:
            if r.vendor_ranges:
                key = (r.purpose_id, int(r.restriction_type))
                by_key.setdefault(key, []).extend(r.vendor_ranges)
        return tuple(
            PublisherRestriction(
                purpose_id=p, restriction_type=RestrictionType(t), vendor_ranges=merge_ranges(rs)
            )
            for (p, t), rs in sorted(by_key.items())
        )

    def restriction_for(self, vendor_id: int, purpose_id: int) -> RestrictionType | None:
        """The strongest restriction on ``vendor_id`` for ``purpose_id`` (lowest type wins:
        not allowed before require-consent before require-LI), or None."""
        found = [
            r.restriction_type
            for r in self.publisher_restrictions
            if r.purpose_id == purpose_id and r.covers(vendor_id)
        ]
        return min(found) if found else None


def to_deciseconds(ts: datetime) -> int:
    """Deciseconds since the Unix epoch, rounded half up (what the string stores)."""
    delta = ts - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (micros + 50_000) // 100_000


def from_deciseconds(value: int) -> datetime:
    """The UTC moment ``value`` deciseconds after the Unix epoch."""
    return EPOCH + timedelta(milliseconds=100 * value)
