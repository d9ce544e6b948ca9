"""Fuzzing the parsers that read attacker-made bytes (hypothesis, 100,000 inputs in all): the
export reader (files edited and the manifest re-signed by the key holder, and the records file
parser on its own), TC strings, and ledger entry decoding. Only a failing report or a typed
:class:`~sdk.errors.WhylensError` may come out, never another exception.

Derandomized (the same inputs every run) with no example database, so a failure reproduces.
Split: export reader 5,000 (each a full verification) + records parser 2 x 7,500 + TC strings
40,000 + ledger rows 40,000.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _exports import decide_some
from conftest import feature_row, german_credit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tcf_models import SEED, random_model

from sdk import Personalizer
from sdk.audit import verify_export
from sdk.audit.export import _signed_bytes
from sdk.audit.export_format import manifest_bytes
from sdk.audit.records_io import read_records
from sdk.consent.tcf import decode_tc_string, encode_tc_string
from sdk.errors import InvalidTCString, LedgerIntegrityError, WhylensError
from sdk.ledger.entry import entry_from_row
from sdk.types import VerifyReport


def _fuzz(n: int) -> Any:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- the export reader ------------------------------------------------------------------------


class Export:
    def __init__(self, folder: Path, key: bytes, sign: Any) -> None:
        self.folder, self.key, self.sign = folder, key, sign
        self.files = {f.name: f.read_bytes() for f in folder.iterdir()}
        self.manifest = json.loads(self.files["manifest.json"])


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    root = tmp_path_factory.mktemp("fuzz")
    with Personalizer.open(root / "shop.db", keyring=root / "shop.keyring.json") as p:
        decide_some(p, 0)
        since = datetime.now(UTC)
        frame, schema = german_credit()
        for i in range(4):
            p.decide(frame["subject"].iloc[i], feature_row(frame, schema, i), model="credit")
        p.audit.export(root / "jsonl", format="jsonl", since=since)
        keyring = p.keyring
        return Export(root / "jsonl", keyring.public_key_bytes(), keyring.sign)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def file_edit(draw: st.DrawFn, sizes: dict[str, int]) -> tuple[str, str, Any]:
    """(file, kind, argument): bytes replaced, inserted or cut, or a manifest field set."""
    name = draw(st.sampled_from(sorted(sizes)))
    kind = draw(st.sampled_from(["replace", "insert", "truncate", "field"]))
    if kind == "field":
        field = draw(st.sampled_from([*_FIELDS, "extra"]))
        return "manifest.json", kind, (field, draw(JSON))
    at = draw(st.integers(0, sizes[name]))
    if kind == "truncate":
        return name, kind, at
    blob = draw(
        st.binary(min_size=1, max_size=12)
        | st.sampled_from(
            [b"\n", b"\r\n", b",", b'"', b"\\", b"{", b"[" * 2000, b"\xff", b"9" * 30]
        )
    )
    return name, kind, (at, blob)


_FIELDS = [
    "format", "records", "selected", "first_seq", "last_seq", "first_prev", "last_hash",
    "files", "ledger_size", "ledger_head", "model", "checkpoint", "origin", "last_proof",
    "public_key", "signature", "since", "until",
]  # fmt: skip


def _apply(export: Export, edit: tuple[str, str, Any]) -> dict[str, bytes]:
    name, kind, arg = edit
    files = dict(export.files)
    manifest = dict(export.manifest)
    if kind == "field":
        field, value = arg
        manifest[field] = value
    else:
        data = files[name]
        if kind == "truncate":
            data = data[:arg]
        else:
            at, blob = arg
            data = data[:at] + blob + data[at + (len(blob) if kind == "replace" else 0) :]
        files[name] = data
        if name == "manifest.json":
            return files  # a raw edit of the manifest: not re-signed
        manifest["files"] = {
            n: hashlib.sha256(files[n]).hexdigest() for n in export.manifest["files"]
        }
    # the key holder re-signs, so the parsers behind the signature check are reached
    manifest.pop("signature", None)
    with contextlib.suppress(ValueError):  # not representable as RFC 8785 JSON: left unsigned
        manifest["signature"] = base64.b64encode(export.sign(_signed_bytes(manifest))).decode()
    files["manifest.json"] = manifest_bytes(manifest)
    return files


def _verify_quietly(folder: Path, key: bytes) -> VerifyReport | WhylensError:
    try:
        return verify_export(folder, trust=key)
    except WhylensError as exc:
        return exc


@pytest.mark.slow
def test_export_reader_fuzz(export: Export) -> None:
    sizes = {n: len(d) for n, d in export.files.items()}
    outcomes: dict[str, int] = {}

    @_fuzz(5_000)
    @given(edit=file_edit(sizes))
    def run(edit: tuple[str, str, Any]) -> None:
        files = _apply(export, edit)
        for name, data in files.items():
            (export.folder / name).write_bytes(data)
        try:
            out = _verify_quietly(export.folder, export.key)
        finally:
            for name, data in export.files.items():
                (export.folder / name).write_bytes(data)
        kind = "error" if isinstance(out, WhylensError) else "ok" if out.ok else "failed"
        outcomes[kind] = outcomes.get(kind, 0) + 1

    run()
    assert outcomes.get("failed", 0) > 2500, outcomes  # most edits are refused by a report
    assert verify_export(export.folder, trust=export.key).ok


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_records_parser_fuzz(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"records.{fmt}"

    @_fuzz(7_500)
    @given(data=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
    def run(data: bytes) -> None:
        if fmt == "csv" and data:
            from sdk.audit.columns import COLUMNS

            data = (",".join(COLUMNS) + "\r\n").encode() + data
        path.write_bytes(data)
        try:
            for row in read_records(path, fmt):
                assert isinstance(row, dict)
        except ValueError as exc:  # the documented failure, which verify_export reports
            assert str(exc).startswith("line "), exc

    run()


# -- TC strings -------------------------------------------------------------------------------

_rng = random.Random(SEED)
_VALID = [encode_tc_string(random_model(_rng)) for _ in range(50)]
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@st.composite
def tc_string(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet=_ALPHABET + ".", max_size=80) | st.text(max_size=40))
    text = draw(st.sampled_from(_VALID))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.integers(0, 3))
        piece = draw(st.text(alphabet=_ALPHABET + ".=+/", min_size=1, max_size=6))
        if op == 0:
            text = text[:i] + piece + text[i + len(piece) :]
        elif op == 1:
            text = text[:i] + piece + text[i:]
        elif op == 2:
            text = text[:i]
        else:
            text = text[:i] + text[i + 1 :]
    return text


@pytest.mark.slow
def test_tc_string_fuzz() -> None:
    @_fuzz(40_000)
    @given(text=tc_string(), validate=st.booleans())
    def run(text: str, validate: bool) -> None:
        with contextlib.suppress(InvalidTCString):
            decode_tc_string(text, validate=validate)

    run()


# -- ledger entry decoding --------------------------------------------------------------------

_BODY = (
    b'{"data":{"purposes":["personalization"],"subject_key":"ab"},"kind":"consent.grant",'
    b'"prev":"' + b"0" * 64 + b'","seq":1,"stream":"consent","subject":"ab12",'
    b'"ts":"2026-12-01T00:00:00.000000Z","v":1}'
)


@st.composite
def ledger_row(draw: st.DrawFn) -> tuple[Any, ...]:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        body = draw(st.binary(max_size=200))
    elif choice == 1:
        body = json.dumps(draw(JSON)).encode()
    else:  # a real body with bytes replaced, inserted or cut
        body = _BODY
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(body)))
            blob = draw(
                st.binary(min_size=1, max_size=6) | st.sampled_from([b"[" * 5000, b"9" * 400])
            )
            body = body[:i] + blob + body[i + (len(blob) if choice == 2 else 0) :]
    digest = hashlib.sha256(body).digest() if draw(st.integers(0, 9)) else b"\x00" * 32
    columns = (1, "consent", "consent.grant", "ab12", "2026-12-01T00:00:00.000000Z")
    return (*columns, body, digest)


@pytest.mark.slow
def test_ledger_entry_decoding_fuzz() -> None:
    @_fuzz(40_000)
    @given(row=ledger_row())
    def run(row: tuple[Any, ...]) -> None:
        with contextlib.suppress(LedgerIntegrityError):
            entry_from_row(row)

    run()
    assert entry_from_row((1, "consent", "consent.grant", "ab12",
                           "2026-12-01T00:00:00.000000Z", _BODY,
                           hashlib.sha256(_BODY).digest())).seq == 1  # fmt: skip
