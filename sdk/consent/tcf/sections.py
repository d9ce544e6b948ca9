"""The variable-length sections of a TC string: vendor vectors and publisher restrictions.

A vendor vector is ``MaxVendorId`` (16 bits), ``IsRangeEncoding`` (1 bit), then either a bitfield
of ``MaxVendorId`` bits or ``NumEntries`` (12 bits) of ranges, each ``IsARange`` (1 bit),
``StartOrOnlyVendorId`` (16) and, for a range, ``EndVendorId`` (16). The encoder computes the
exact length of both encodings and writes the shorter (a tie keeps the bitfield).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from ...errors import InvalidTCString
from .bits import BitReader, BitWriter
from .model import MAX_NUM_ENTRIES, PublisherRestriction, RestrictionType, merge_ranges

_ONES = re.compile(b"1+")

__all__ = [
    "read_restrictions",
    "read_vendor_vector",
    "vendor_vector_bits",
    "write_restrictions",
    "write_vendor_vector",
]


def read_vendor_vector(reader: BitReader, field: str) -> frozenset[int]:
    """Decode one vendor vector (bitfield or range encoded)."""
    max_id = reader.read(16, f"{field}.max_vendor_id")
    if not reader.read_bool(f"{field}.is_range_encoding"):
        return frozenset(reader.read_bitfield(max_id, f"{field}.bitfield"))
    num = reader.read(12, f"{field}.num_entries")
    reader.need(17 * num, f"{field}.entries")
    ranges = []
    for _ in range(num):
        is_range = reader.read_bool(f"{field}.is_a_range")
        first = reader.read(16, f"{field}.start_vendor_id")
        last = reader.read(16, f"{field}.end_vendor_id") if is_range else first
        if first == 0 or last < first or last > max_id:
            raise InvalidTCString(
                f"the {reader.segment} segment has an invalid {field} range entry: vendor ids "
                "must be 1..max_vendor_id and a range must not end before it starts"
            )
        ranges.append((first, last))
    ids: set[int] = set()
    for a, b in merge_ranges(ranges):
        ids.update(range(a, b + 1))
    return frozenset(ids)


def _bitfield_row(ids: frozenset[int], max_id: int) -> bytearray:
    row = bytearray(b"0") * max_id
    for i in ids:
        row[i - 1] = 49  # ord("1")
    return row


def _choose(row: bytearray, max_id: int) -> tuple[bool, int, tuple[tuple[int, int], ...]]:
    bitfield_bits = 17 + max_id
    # each run of ids costs at least 17 bits as a range entry: count runs (a C-speed scan) before
    # building any range
    runs = row.count(b"01") + (row[:1] == b"1")
    if runs == 0 or runs > MAX_NUM_ENTRIES or 29 + 17 * runs >= bitfield_bits:
        return False, bitfield_bits, ()
    ranges = tuple((m.start() + 1, m.end()) for m in _ONES.finditer(row))
    range_bits = 29 + sum(17 if a == b else 33 for a, b in ranges)
    if range_bits < bitfield_bits:
        return True, range_bits, ranges
    return False, bitfield_bits, ()


def vendor_vector_bits(ids: frozenset[int]) -> tuple[bool, int, tuple[tuple[int, int], ...]]:
    """(use range encoding, total bits, the ranges) for the shorter encoding of ``ids``."""
    max_id = max(ids, default=0)
    return _choose(_bitfield_row(ids, max_id), max_id)


def write_vendor_vector(writer: BitWriter, ids: frozenset[int]) -> None:
    """Encode one vendor vector with the shorter of the two encodings (a tie: the bitfield)."""
    max_id = max(ids, default=0)
    row = _bitfield_row(ids, max_id)
    use_range, _, ranges = _choose(row, max_id)
    writer.write(max_id, 16)
    writer.write_bool(use_range)
    if use_range:
        _write_ranges(writer, ranges)
    else:
        writer.write_bits(row.decode("ascii"))


def _write_ranges(writer: BitWriter, ranges: tuple[tuple[int, int], ...]) -> None:
    writer.write(len(ranges), 12)
    for first, last in ranges:
        writer.write_bool(first != last)
        writer.write(first, 16)
        if first != last:
            writer.write(last, 16)


def read_restrictions(reader: BitReader) -> tuple[PublisherRestriction, ...]:
    """Decode the publisher restrictions section of the core segment."""
    count = reader.read(12, "publisher_restrictions.num_pub_restrictions")
    reader.need(20 * count, "publisher_restrictions.entries")
    merged: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for _ in range(count):
        purpose = reader.read(6, "publisher_restrictions.purpose_id")
        kind = reader.read(2, "publisher_restrictions.restriction_type")
        if purpose == 0:
            raise InvalidTCString("a publisher restriction names purpose 0, which does not exist")
        if kind == 3:
            raise InvalidTCString("a publisher restriction has the undefined restriction type 3")
        num = reader.read(12, "publisher_restrictions.num_entries")
        reader.need(17 * num, "publisher_restrictions.entries")
        ranges = merged.setdefault((purpose, kind), [])
        for _ in range(num):
            is_range = reader.read_bool("publisher_restrictions.is_a_range")
            first = reader.read(16, "publisher_restrictions.start_vendor_id")
            last = reader.read(16, "publisher_restrictions.end_vendor_id") if is_range else first
            if first == 0 or last < first:
                raise InvalidTCString(
                    "a publisher restriction has an invalid vendor range entry: vendor ids start "
                    "at 1 and a range must not end before it starts"
                )
            ranges.append((first, last))
    # merged per (purpose, type) and sorted, as TCModel's validator would: the decoder builds the
    # model without re-validating it
    out = []
    for (purpose, kind), ranges in sorted(merged.items()):
        canonical = merge_ranges(ranges)
        if len(canonical) > MAX_NUM_ENTRIES:
            raise InvalidTCString(
                f"the publisher restrictions for purpose {purpose} name more than "
                f"{MAX_NUM_ENTRIES} separate vendor ranges, more than one entry can encode"
            )
        if canonical:
            out.append(
                PublisherRestriction.model_construct(
                    purpose_id=purpose,
                    restriction_type=RestrictionType(kind),
                    vendor_ranges=canonical,
                )
            )
    return tuple(out)


def write_restrictions(
    writer: BitWriter,
    restrictions: tuple[PublisherRestriction, ...],
    gvl_vendor_ids: Sequence[int] | None = None,
) -> None:
    """Encode the publisher restrictions (one entry per purpose and type, merged ranges).

    With ``gvl_vendor_ids`` (sorted), two ranges are joined when no GVL vendor lies between
    them, as the IAB library does: a restriction only concerns GVL vendors, so covering ids that
    are not on the list changes nothing and saves 17 bits or more per join.
    """
    writer.write(len(restrictions), 12)
    for r in restrictions:
        writer.write(r.purpose_id, 6)
        writer.write(int(r.restriction_type), 2)
        ranges = r.vendor_ranges
        if gvl_vendor_ids is not None:
            ranges = _join_across_gaps(ranges, gvl_vendor_ids)
        _write_ranges(writer, ranges)


def _join_across_gaps(
    ranges: tuple[tuple[int, int], ...], gvl: Sequence[int]
) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for first, last in ranges:
        # join when no GVL id lies strictly between the previous range's end and this start
        if out and bisect.bisect_right(gvl, out[-1][1]) >= bisect.bisect_left(gvl, first):
            out[-1][1] = last
        else:
            out.append([first, last])
    return tuple((a, b) for a, b in out)
