"""The records-file part of verifying an audit export (see :mod:`sdk.audit.export_check`).

Every row of the records file must be the segment's entry of that seq (same hash, same bytes)
with every column re-derived from those bytes, and the rows must be exactly the records the
manifest's ``model`` filter selects from the segment. The audit bodies come from a segment whose
hashes and links were checked, but may still be attacker-made bytes (the key holder re-signed):
anything malformed gives a failing report, never an exception.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..types import VerifyReport
from .columns import COLUMNS, Selector, cell, record_row
from .export_format import LEDGER_FILE
from .records_io import read_records

__all__ = ["BAD_INPUT", "check_records", "fail"]

BAD_INPUT = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError)
"""What parsing attacker-made bytes can raise besides ValueError: nesting deeper than the JSON
decoder's recursion limit, a huge number turned into a float or an int, a value of a wrong
type."""
_BAD_INPUT = BAD_INPUT


def fail(problem: str, first_bad: int | None = None, checked: int = 0) -> VerifyReport:
    """A failing report."""
    return VerifyReport(ok=False, checked=checked, first_bad=first_bad, problem=problem)


_fail = fail


def _parse_audit(
    audit: dict[int, tuple[str, bytes]], checked: int
) -> dict[int, tuple[str, str, dict[str, Any]]] | VerifyReport:
    """Each audit entry's text and parsed body (a JSON object), or the first that is not."""
    parsed: dict[int, tuple[str, str, dict[str, Any]]] = {}
    for seq, (digest, body) in audit.items():
        try:
            text = body.decode("utf-8")
            obj = json.loads(text)
        except (ValueError, RecursionError):
            obj, text = None, ""
        if not isinstance(obj, dict) or not isinstance(obj.get("data") or {}, dict):
            return _fail(f"entry {seq}: its body is not a ledger entry object", seq, checked)
        parsed[seq] = (digest, text, obj)
    return parsed


def _derive(seq: int, entries: dict[int, tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    digest, text, obj = entries[seq]
    return record_row(seq, digest, text, obj)


def _expected(
    manifest: dict[str, Any], entries: dict[int, tuple[str, str, dict[str, Any]]]
) -> list[int]:
    if manifest["model"] is None:
        return list(entries)  # every audit record of the segment
    selector = Selector(manifest["model"])
    return [seq for seq, (_, _, obj) in entries.items() if selector.take(obj)]


def _jsonl_as_written(
    path: Path, expected: list[int], entries: dict[int, tuple[str, str, dict[str, Any]]]
) -> bool:
    """Fast path: each line is byte for byte the row the writer derives from its ledger entry.

    False on any difference; the row-by-row check then names the first bad record.
    """
    lines = path.read_bytes().split(b"\n")
    if lines[-1] != b"":
        return False
    lines.pop()
    if len(lines) != len(expected):
        return False
    for raw, seq in zip(lines, expected, strict=True):
        row = _derive(seq, entries)
        if raw != json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode():
            return False
    return True


def check_records(
    path: Path, manifest: dict[str, Any], audit: dict[int, tuple[str, bytes]]
) -> VerifyReport:
    """Check the records file at ``path`` against the segment's audit entries ``audit``."""
    checked = manifest["records"]
    entries = _parse_audit(audit, checked)
    if isinstance(entries, VerifyReport):
        return entries
    try:
        expected = _expected(manifest, entries)
        if (
            manifest["format"] == "jsonl"
            and len(expected) == manifest["selected"]
            and _jsonl_as_written(path, expected, entries)
        ):
            return VerifyReport(ok=True, checked=checked, head_hash=manifest["last_hash"])
    except OSError:
        return _fail(f"file {path.name}: missing", None, checked)
    except _BAD_INPUT as exc:
        return _fail(f"{LEDGER_FILE}: an audit entry's body is malformed ({type(exc).__name__})")
    try:
        rows = list(read_records(path, manifest["format"]))
    except ConfigurationError:
        raise
    except ValueError as exc:  # names the line
        return _fail(f"{path.name} {exc}", None, checked)
    except Exception as exc:  # pyarrow raises its own kinds on a damaged Parquet file
        return _fail(f"{path.name}: unreadable ({type(exc).__name__})", None, checked)
    return _check_rows(path.name, rows, expected, entries, manifest)


def _check_rows(
    name: str,
    rows: list[dict[str, Any]],
    expected: list[int],
    entries: dict[int, tuple[str, str, dict[str, Any]]],
    manifest: dict[str, Any],
) -> VerifyReport:
    checked = manifest["records"]
    count = 0
    for number, row in enumerate(rows, start=1):
        try:
            seq = int(row["seq"])
            body_text = str(row["body"])
        except _BAD_INPUT:
            return _fail(f"{name} row {number}: no seq or body", None, checked)
        if count >= len(expected) or expected[count] != seq:
            want = expected[count] if count < len(expected) else None
            return _fail(
                f"{name} row {number}: record {seq} is not the next selected record "
                f"(expected {want}); records were added, dropped or reordered",
                want if want is not None else seq,
                checked,
            )
        digest, text, _ = entries[seq]
        if body_text != text or str(row.get("hash")) != digest:
            return _fail(f"{name} record {seq}: differs from ledger entry {seq}", seq, checked)
        try:
            derived = _derive(seq, entries)
        except _BAD_INPUT:
            return _fail(f"entry {seq}: its body is not a ledger entry object", seq, checked)
        for column in COLUMNS:
            if row.get(column) == derived[column]:
                continue
            try:
                same = cell(column, row.get(column)) == cell(column, derived[column])
            except _BAD_INPUT:
                same = False
            if not same:
                return _fail(
                    f"{name} record {seq}: column {column} does not match its body", seq, checked
                )
        count += 1
    if count != len(expected) or count != manifest["selected"]:
        return _fail(f"{name}: selected records missing at the end", None, checked)
    return VerifyReport(ok=True, checked=checked, head_hash=manifest["last_hash"])
