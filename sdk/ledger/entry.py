"""Ledger entries: the dataclasses, input validation and the canonical body encoding.

An entry's *body* is the RFC 8785 canonical JSON of::

    {"v": 1, "seq": 17, "stream": "consent", "kind": "consent.grant", "subject": "9f2c..." | null,
     "ts": "2024-05-01T12:00:00.123456Z", "data": {...}, "prev": "<hex sha256 of entry 16>"}

and its hash is the hex SHA-256 of those bytes. The body is the truth; the other columns of the
``ledger`` table are copies kept for indexing, and :func:`~sdk.ledger.verify.verify_ledger` checks
that they agree with it.

:func:`encode_body` builds the bytes by concatenating canonical pieces (the key order of the body is
fixed), which is byte-for-byte what ``canonical_json`` of the whole dict gives, only faster.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from .._canonical import canonical_json, fast_canonical_json
from ..errors import LedgerError, LedgerIntegrityError

__all__ = [
    "BODY_VERSION",
    "GENESIS_HASH",
    "KIND_RE",
    "STREAM_RE",
    "SUBJECT_RE",
    "TS_RE",
    "LedgerEntry",
    "PendingEntry",
    "PreparedItem",
    "RawEntry",
    "body_hash",
    "encode_body",
    "entry_from_body",
    "entry_from_row",
    "format_ts",
    "hex_or_empty",
    "parse_ts",
    "prepare",
    "tail_bytes",
]

BODY_VERSION = 1
GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""

STREAM_RE = re.compile(r"[a-z_]{1,64}")
KIND_RE = re.compile(r"[a-z_.]{1,128}")
SUBJECT_RE = re.compile(r"[0-9a-f]{1,128}")
TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
MAX_DEPTH = 64

_BODY_KEYS = frozenset({"v", "seq", "stream", "kind", "subject", "ts", "data", "prev"})
_SAFE_INT = 2**53


def _int_or_float(text: str) -> int | float:
    # A float such as 2.0**60 is written as its integer digits by RFC 8785; read it back as the
    # float it was, so that the data canonicalizes again (ints beyond 2**53 are not JSON-safe).
    n = int(text)
    if -_SAFE_INT < n < _SAFE_INT:
        return n
    try:
        return float(n)
    except OverflowError:  # beyond any float: no ledger ever wrote it
        raise ValueError("a JSON number out of range") from None


_decoder = json.JSONDecoder(parse_int=_int_or_float)


def loads(data: bytes) -> Any:
    """Parse canonical JSON bytes the way the ledger stored them (see ``_int_or_float``).

    Raises ValueError on anything that is not such JSON, nesting too deep to parse included.
    """
    try:
        return _decoder.decode(data.decode("utf-8"))
    except RecursionError:
        # attacker-made bytes nested past the decoder's recursion limit: malformed, not a crash
        raise ValueError("JSON nested too deeply") from None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One committed record of the ledger.

    ``seq`` is 1-based and gapless; ``ts`` is assigned by the ledger at commit (tz-aware UTC,
    microsecond precision, never decreasing); ``subject`` is a pseudonym (lowercase hex) or None;
    ``prev_hash`` is the hash of the previous entry (:data:`GENESIS_HASH` for the first) and
    ``hash`` the hex SHA-256 of this entry's canonical body bytes.
    """

    seq: int
    stream: str
    kind: str
    subject: str | None
    ts: datetime
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class RawEntry:
    """An entry exactly as stored, for exports: the body bytes and the row's columns, unchecked.

    ``ts`` comes from the row (None if the column is malformed); ``prev_hash`` and ``hash`` are
    the hex of the stored columns. Nothing is verified here: an export's verifier does that.
    """

    seq: int
    stream: str
    kind: str
    subject: str | None
    ts: datetime | None
    prev_hash: str
    hash: str
    body: bytes


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An entry to be appended with :meth:`Ledger.append_many`; seq, ts and hashes come later."""

    stream: str
    kind: str
    data: Mapping[str, Any]
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """A validated entry waiting for its commit: its data already in canonical bytes."""

    stream: str
    kind: str
    subject: str | None
    data_bytes: bytes
    data: dict[str, Any]


def prepare(stream: object, kind: object, data: object, subject: object) -> PreparedItem:
    """Validate one entry's fields and canonicalize its data.

    Raises :class:`LedgerError` naming the field or the key path at fault, never a value.
    """
    if not isinstance(stream, str) or not STREAM_RE.fullmatch(stream):
        raise LedgerError(
            "ledger stream must be 1-64 characters of lowercase letters and '_' "
            f"(got a {type(stream).__name__} that does not match)"
        )
    if not isinstance(kind, str) or not KIND_RE.fullmatch(kind):
        raise LedgerError(
            "ledger kind must be 1-128 characters of lowercase letters, '_' and '.' "
            f"(got a {type(kind).__name__} that does not match)"
        )
    if subject is not None and (not isinstance(subject, str) or not SUBJECT_RE.fullmatch(subject)):
        raise LedgerError(
            f"ledger subject for a {kind!r} entry must be a pseudonym (1-128 lowercase hex "
            "characters) or None; pass the subject's pseudonym, never a raw id"
        )
    if not isinstance(data, Mapping):
        raise LedgerError(
            f"ledger data for a {kind!r} entry must be a mapping, not {type(data).__name__}"
        )
    # plain data (exact types, ASCII keys, no lone surrogates: nearly every entry) is checked and
    # written in one walk and one C encoding; the rest is copied by _plain, which names the key
    # path at fault
    data_bytes = fast_canonical_json(data, max_depth=MAX_DEPTH) if type(data) is dict else None
    if data_bytes is None:
        plain = _plain(data, "data", 0, kind)
        try:
            data_bytes = canonical_json(plain)
        except (rfc8785.CanonicalizationError, RecursionError) as exc:  # pragma: no cover
            raise LedgerError(f"ledger data for a {kind!r} entry is not canonical JSON") from exc
    parsed = loads(data_bytes)  # the entry's own copy, as every reader of the body sees it
    return PreparedItem(stream, kind, subject, data_bytes, parsed)


def _plain(value: Any, path: str, depth: int, kind: str) -> Any:
    """A copy of ``value`` as plain dicts and lists, checked to be canonical-JSON-able."""
    if depth > MAX_DEPTH:
        raise LedgerError(f"ledger data for a {kind!r} entry nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**53) < value < 2**53:
            raise LedgerError(
                f"{path} in a {kind!r} entry is an integer outside the JSON-safe range "
                "(±2**53-1); store it as a string"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LedgerError(f"{path} in a {kind!r} entry is NaN or infinite; only finite numbers")
        return value
    if isinstance(value, str):
        _check_str(value, path, kind)
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise LedgerError(
                    f"{path} in a {kind!r} entry has a key of type {type(key).__name__}; "
                    "keys must be strings"
                )
            sub = f"{path}[{_show_key(key)}]"
            _check_str(key, sub, kind)
            out[key] = _plain(item, sub, depth + 1, kind)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]", depth + 1, kind) for i, item in enumerate(value)]
    raise LedgerError(
        f"{path} in a {kind!r} entry is a {type(value).__name__}, which cannot be stored; "
        "use null, booleans, numbers, strings, lists and string-keyed mappings"
    )


def _check_str(value: str, path: str, kind: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LedgerError(
            f"{path} in a {kind!r} entry contains text that is not valid Unicode (a lone surrogate)"
        ) from None


def _show_key(key: str) -> str:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "<invalid key>"
    return repr(key if len(key) <= 40 else key[:37] + "...")


# -- body ---------------------------------------------------------------------------------------


def format_ts(ts: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a tz-aware datetime (converted to UTC)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    """The inverse of :func:`format_ts`; raises ValueError on another format."""
    if not TS_RE.fullmatch(text):
        raise ValueError("not a ledger timestamp")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def encode_body(
    *,
    seq: int,
    stream: str,
    kind: str,
    subject: str | None,
    ts: str,
    data_bytes: bytes,
    prev: str,
) -> bytes:
    """The canonical body bytes of an entry whose fields are already validated.

    Keys in RFC 8785 order: data, kind, prev, seq, stream, subject, ts, v. ``data_bytes`` must be
    the canonical JSON of a dict; the other strings need no escaping (their patterns exclude it).
    """
    return b"".join(
        (
            b'{"data":',
            data_bytes,
            tail_bytes(seq=seq, stream=stream, kind=kind, subject=subject, ts=ts, prev=prev),
        )
    )


def tail_bytes(
    *, seq: int, stream: str, kind: str, subject: str | None, ts: str, prev: str
) -> bytes:
    """Everything in a body after its data: ``,"kind":...,"v":1}``."""
    subj = "null" if subject is None else f'"{subject}"'
    return (
        f',"kind":"{kind}","prev":"{prev}","seq":{seq},"stream":"{stream}",'
        f'"subject":{subj},"ts":"{ts}","v":{BODY_VERSION}}}'
    ).encode()


def body_hash(body: bytes) -> bytes:
    """The raw SHA-256 digest of body bytes (stored in the ``hash`` column)."""
    return hashlib.sha256(body).digest()


def entry_from_body(body: bytes, digest_hex: str) -> LedgerEntry:
    """Parse body bytes into a :class:`LedgerEntry`; raises ValueError if they are malformed."""
    obj = loads(body)
    if not isinstance(obj, dict) or obj.keys() != _BODY_KEYS or obj["v"] != BODY_VERSION:
        raise ValueError("not a version-1 ledger body")
    seq, stream, kind, subject = obj["seq"], obj["stream"], obj["kind"], obj["subject"]
    data, prev, ts = obj["data"], obj["prev"], obj["ts"]
    if (
        type(seq) is not int
        or seq < 1
        or not isinstance(stream, str)
        or not isinstance(kind, str)
        or not (subject is None or isinstance(subject, str))
        or not isinstance(data, dict)
        or not isinstance(prev, str)
        or not isinstance(ts, str)
    ):
        raise ValueError("ledger body fields have the wrong types")
    return LedgerEntry(
        seq=seq,
        stream=stream,
        kind=kind,
        subject=subject,
        ts=parse_ts(ts),
        data=data,
        prev_hash=prev,
        hash=digest_hex,
    )


def hex_or_empty(value: object) -> str:
    """Hex of a bytes column, or "" if the column holds something else."""
    return value.hex() if isinstance(value, bytes) else ""


def entry_from_row(row: tuple[Any, ...]) -> LedgerEntry:
    """A checked entry from a ``(seq, stream, kind, subject, ts, body, hash)`` row.

    Raises :class:`LedgerIntegrityError` if the bytes do not match the hash, do not parse, or
    disagree with the columns.
    """
    seq, stream, kind, subject, ts, body, digest = row
    if not isinstance(body, bytes) or not isinstance(digest, bytes) or body_hash(body) != digest:
        raise LedgerIntegrityError(
            f"ledger entry {seq}: stored bytes do not match their hash (altered after it was "
            "written); run verify()"
        )
    try:
        entry = entry_from_body(body, digest.hex())
    except (ValueError, UnicodeDecodeError):
        raise LedgerIntegrityError(
            f"ledger entry {seq}: its body does not parse; run verify()"
        ) from None
    if (entry.seq, entry.stream, entry.kind, entry.subject) != (seq, stream, kind, subject) or (
        format_ts(entry.ts) != ts
    ):
        raise LedgerIntegrityError(
            f"ledger entry {seq}: its columns disagree with its hashed body; run verify()"
        )
    return entry
