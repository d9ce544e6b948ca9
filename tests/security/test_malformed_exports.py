"""Malformed export files give a failing report naming the file and line, never a traceback.

The attacker here holds the signing key, so the files are mutated and the manifest re-signed and
the pinned verifier gets past the signature: the parsers themselves must hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from _exports import decide_some
from typer.testing import CliRunner

from sdk import Personalizer
from sdk.audit import verify_export
from sdk.audit.export import _signed_bytes
from sdk.audit.export_format import manifest_bytes
from sdk.cli import app


def _resign(folder: Path, p: Personalizer) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"] = {
        n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in manifest["files"]
    }
    manifest["signature"] = base64.b64encode(p.keyring.sign(_signed_bytes(manifest))).decode()
    path.write_bytes(manifest_bytes(manifest))


def _edit(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(change(path.read_bytes()))


def _line(data: bytes, index: int, change: Callable[[bytes], bytes]) -> bytes:
    lines = data.split(b"\n")
    lines[index] = change(lines[index])
    return b"\n".join(lines)


def _csv_row(data: bytes, index: int, change: Callable[[bytes], bytes]) -> bytes:
    lines = data.split(b"\r\n")
    lines[index] = change(lines[index])
    return b"\r\n".join(lines)


CASES: dict[str, tuple[str, str, Callable[[bytes], bytes], str]] = {
    # name: (format, file, mutation, what the problem must say)
    "csv extra column": (
        "csv",
        "records.csv",
        lambda d: _csv_row(d, 2, lambda r: r + b",x"),
        "records.csv line 3: more cells than columns",
    ),
    "csv missing column": (
        "csv",
        "records.csv",
        lambda d: _csv_row(d, 1, lambda r: r[r.find(b",") + 1 :]),
        "records.csv line 2: cells missing",
    ),
    "csv non-utf8": (
        "csv",
        "records.csv",
        lambda d: _csv_row(d, 3, lambda r: b"\xff\xfe" + r),
        "records.csv line ",
    ),
    "csv truncated": ("csv", "records.csv", lambda d: d[: len(d) // 2], "records.csv "),
    "csv header": (
        "csv",
        "records.csv",
        lambda d: d.replace(b"seq", b"sequence", 1),
        "records.csv line 1: unexpected CSV header",
    ),
    "jsonl garbage line": (
        "jsonl",
        "records.jsonl",
        lambda d: _line(d, 1, lambda r: b"{garbage"),
        "records.jsonl line 2: not a JSON line",
    ),
    "jsonl non-utf8": (
        "jsonl",
        "records.jsonl",
        lambda d: _line(d, 2, lambda r: r + b"\xff"),
        "records.jsonl line 3: not a JSON line",
    ),
    "jsonl truncated": (
        "jsonl",
        "records.jsonl",
        lambda d: d[: len(d) // 2],
        "records.jsonl line ",
    ),
    "jsonl not an object": (
        "jsonl",
        "records.jsonl",
        lambda d: _line(d, 0, lambda r: b"[1, 2]"),
        "records.jsonl line 1: not a JSON object",
    ),
    "ledger garbage line": (
        "jsonl",
        "ledger.jsonl",
        lambda d: _line(d, 3, lambda r: b"\xff garbage"),
        "ledger.jsonl line 4",
    ),
    "ledger truncated": ("jsonl", "ledger.jsonl", lambda d: d[: len(d) // 2], "ledger.jsonl line "),
}


@pytest.fixture
def decided(p: Personalizer) -> Personalizer:
    decide_some(p, 6)
    return p


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_file_fails_naming_file_and_line(
    decided: Personalizer, tmp_path: Path, case: str
) -> None:
    fmt, name, mutate, says = CASES[case]
    folder = tmp_path / "export"
    decided.audit.export(folder, format=fmt)
    key = decided.keyring.public_key_bytes()
    assert verify_export(folder, trust=key).ok
    _edit(folder / name, mutate)
    _resign(folder, decided)
    report = verify_export(folder, trust=key)
    assert not report.ok
    assert report.problem is not None and says in report.problem, report.problem


@pytest.mark.parametrize(
    "content",
    [b"not json {", b"\xff\xfe\x00", b"", b"[]", b'{"signature": 1}'],
    ids=["garbage", "non-utf8", "empty", "list", "wrong-types"],
)
def test_manifest_not_json_fails(decided: Personalizer, tmp_path: Path, content: bytes) -> None:
    folder = tmp_path / "export"
    decided.audit.export(folder, format="jsonl")
    (folder / "manifest.json").write_bytes(content)
    report = verify_export(folder, trust=decided.keyring.public_key_bytes())
    assert not report.ok and report.problem is not None
    assert report.problem.startswith("manifest")


def test_cli_verify_malformed_exits_nonzero_one_line(decided: Personalizer, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    decided.audit.export(folder, format="csv")
    _edit(folder / "records.csv", lambda d: _csv_row(d, 2, lambda r: r + b",x"))
    _resign(folder, decided)
    result = CliRunner().invoke(app, ["audit", "verify", str(folder)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "FAILED" in lines[0]
    assert "records.csv line 3" in lines[0]


FIELD_CASES: dict[str, dict[str, object]] = {
    "first_seq a string": {"first_seq": "1"},
    "first_seq a float": {"first_seq": 1.5},
    "records negative": {"records": -1},
    "records a bool": {"records": True},
    "files a list": {"files": ["ledger.jsonl"]},
    "file hash not hex": {"files": {"ledger.jsonl": "zz", "records.jsonl": "00"}},
    "first_prev a number": {"first_prev": 5},
    "last_hash null": {"last_hash": None},
    "ledger_size huge": {"ledger_size": 2**53 - 1},
    "checkpoint a dict": {"checkpoint": {"note": 1}},
    "last_proof a string": {"last_proof": "x"},
    "model a list": {"model": ["credit"]},
    "format unknown": {"format": "xml"},
    "count disagrees": {"records": 1},
}


@pytest.mark.parametrize("case", list(FIELD_CASES))
def test_resigned_manifest_with_wrong_field_types_fails_naming_the_field(
    decided: Personalizer, tmp_path: Path, case: str
) -> None:
    """The key holder signs a manifest whose fields have the wrong types: a failing report
    naming the manifest (these crashed _check_chain with a traceback)."""
    folder = tmp_path / "export"
    decided.audit.export(folder, format="jsonl")
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(FIELD_CASES[case])
    manifest.pop("signature")
    manifest["signature"] = base64.b64encode(decided.keyring.sign(_signed_bytes(manifest))).decode()
    path.write_bytes(manifest_bytes(manifest))
    report = verify_export(folder, trust=decided.keyring.public_key_bytes())
    assert not report.ok and report.problem is not None
    assert report.problem.startswith(("manifest", "checkpoint")), report.problem


@pytest.mark.parametrize(
    "content",
    [b"9" * 5000, b"[" * 100_000, b'{"signature": "!!!", "public_key": "AAAA"}'],
    ids=["huge-number", "deep-nesting", "bad-base64"],
)
def test_manifest_huge_deep_or_bad_base64_fails(
    decided: Personalizer, tmp_path: Path, content: bytes
) -> None:
    folder = tmp_path / "export"
    decided.audit.export(folder, format="jsonl")
    (folder / "manifest.json").write_bytes(content)
    report = verify_export(folder, trust=decided.keyring.public_key_bytes())
    assert not report.ok and report.problem is not None
    assert report.problem.startswith("manifest"), report.problem


@pytest.mark.parametrize(
    "content",
    [b"", b"not base64!\n", b"\xff\xfe", b"# only a comment\n", b"QUFB\n"],
    ids=["empty", "garbage", "non-utf8", "comment-only", "short-key"],
)
def test_bad_trust_file_fails_naming_it(
    decided: Personalizer, tmp_path: Path, content: bytes
) -> None:
    folder = tmp_path / "export"
    decided.audit.export(folder, format="jsonl")
    trust = tmp_path / "whylens.pub"
    trust.write_bytes(content)
    report = verify_export(folder, trust=trust)
    assert not report.ok and report.problem is not None
    assert "trust file whylens.pub" in report.problem, report.problem


def test_malformed_proofs_and_receipts_fail_without_a_traceback(decided: Personalizer) -> None:
    from sdk.audit import verify_proof
    from sdk.consent import verify_receipt
    from sdk.errors import ProofError
    from sdk.subjects import verify_erasure_receipt

    key = decided.keyring.public_key_bytes()
    decision = next(iter(decided.audit.decisions()))
    proof = json.loads(decided.audit.prove(decision).model_dump_json())
    bad_proofs: list[object] = [
        "[" * 100_000,
        "9" * 5000,
        b"\xff",
        {**proof, "decision": {**proof["decision"], "body": "[" * 5000}},
        {**proof, "decision": {**proof["decision"], "proof": {"seq": "x"}}},
        {**proof, "checkpoint": "garbage"},
        {**proof, "actions": 5},
    ]
    for bad in bad_proofs:
        report = verify_proof(bad, trust=key)  # type: ignore[arg-type]
        assert not report.ok and report.problem, bad
    receipt = decided.consent.grant("fuzzed", "personalization")
    text = receipt.model_dump_json()
    for bad_receipt in ["[" * 100_000, "9" * 5000, b"\xff", text[: len(text) // 2], "{}"]:
        with pytest.raises(ProofError):
            verify_receipt(bad_receipt, key)
    erased = decided.subjects.erase("fuzzed").model_dump(mode="json")
    for bad_erasure in [
        "[" * 100_000,
        b"\xff",
        {**erased, "signature": "!!"},
        {**erased, "ledger_seq": "x"},
        {**erased, "public_key": 5},
    ]:
        report = verify_erasure_receipt(bad_erasure, trust=key)  # type: ignore[arg-type]
        assert not report.ok and report.problem, bad_erasure
