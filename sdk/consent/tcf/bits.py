"""Bit-level reading and writing of TC string segments (base64url, most significant bit first).

A segment is a sequence of unsigned big-endian bit fields, base64url-encoded without ``=``
padding. Reading turns the whole segment into one Python integer once, so every field is a
shift and a mask. Running past the end raises :class:`~sdk.errors.InvalidTCString` naming the
segment and field, never the string.
"""

from __future__ import annotations

import base64
import binascii
import re
from itertools import compress

from ...errors import InvalidTCString

__all__ = ["BitReader", "BitWriter"]

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_ZERO_ONE = bytes.maketrans(b"01", b"\x00\x01")


class BitReader:
    """Reads fixed-width unsigned fields from one base64url-encoded segment."""

    __slots__ = ("_nbits", "_value", "limit", "pos", "segment")

    def __init__(self, text: str, segment: str) -> None:
        if not _B64URL.fullmatch(text):
            raise InvalidTCString(
                f"the {segment} segment holds characters outside the base64url alphabet"
            )
        # pad with 'A' (six zero bits) to whole base64 quanta; the extra bits are beyond `limit`
        padded = text + "A" * (-len(text) % 4)
        try:
            raw = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):  # pragma: no cover - the alphabet check prevents it
            raise InvalidTCString(f"the {segment} segment is not valid base64url") from None
        self._value = int.from_bytes(raw, "big")
        self._nbits = len(raw) * 8
        self.limit = len(text) * 6
        self.pos = 0
        self.segment = segment

    def read(self, nbits: int, field: str) -> int:
        """The next ``nbits`` bits as an unsigned integer."""
        end = self.pos + nbits
        if end > self.limit:
            raise InvalidTCString(
                f"the {self.segment} segment ends early: {field} needs {nbits} bit(s) at bit "
                f"{self.pos} but the segment has {self.limit}"
            )
        value = (self._value >> (self._nbits - end)) & ((1 << nbits) - 1)
        self.pos = end
        return value

    def need(self, nbits: int, field: str) -> None:
        """Fail now if fewer than ``nbits`` bits are left (a count that cannot be honoured)."""
        if nbits > self.limit - self.pos:
            raise InvalidTCString(
                f"the {self.segment} segment ends early: {field} needs at least {nbits} bit(s) "
                f"at bit {self.pos} but the segment has {self.limit}"
            )

    def read_bool(self, field: str) -> bool:
        """The next bit as a boolean."""
        return self.read(1, field) == 1

    def read_bitfield(self, nbits: int, field: str) -> list[int]:
        """The 1-based positions of the set bits among the next ``nbits`` bits."""
        if nbits == 0:
            return []
        chunk = self.read(nbits, field)
        if chunk == 0:
            return []
        flags = format(chunk, f"0{nbits}b").encode("ascii").translate(_ZERO_ONE)
        return list(compress(range(1, nbits + 1), flags))

    @property
    def remaining(self) -> int:
        """Bits left before the end of the segment (padding included)."""
        return self.limit - self.pos


class BitWriter:
    """Accumulates fixed-width fields and renders them as one base64url segment."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, value: int, nbits: int) -> None:
        """Append ``value`` as ``nbits`` unsigned bits (the caller guarantees it fits)."""
        if value < 0 or value >> nbits:
            raise ValueError(f"{value} does not fit in {nbits} bits")  # a bug in the encoder
        if nbits:
            self._parts.append(format(value, f"0{nbits}b"))

    def write_bool(self, value: bool) -> None:
        """Append one bit."""
        self._parts.append("1" if value else "0")

    def write_bitfield(self, ids: frozenset[int] | set[int], nbits: int) -> None:
        """Append ``nbits`` bits where bit ``i`` (1-based) is set when ``i`` is in ``ids``."""
        if nbits == 0:
            return
        row = bytearray(b"0" * nbits)
        for i in ids:
            row[i - 1] = 49  # ord("1")
        self._parts.append(row.decode("ascii"))

    def write_bits(self, bits: str) -> None:
        """Append a string of ``0`` and ``1`` characters as is."""
        self._parts.append(bits)

    @property
    def bit_length(self) -> int:
        """Bits written so far."""
        return sum(len(p) for p in self._parts)

    def to_base64url(self) -> str:
        """The bits, zero-padded to a whole byte, as base64url without ``=`` padding.

        Padding to a byte (not to 24 bits, as the IAB JavaScript library does) keeps the string
        as short as possible while staying readable by byte-oriented base64 decoders.
        """
        bits = "".join(self._parts)
        bits += "0" * (-len(bits) % 8)
        raw = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
