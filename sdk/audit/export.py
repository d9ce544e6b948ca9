"""Audit exports: a stretch of the ledger, the selected audit records, and a signed manifest.

Layout of an export folder::

    ledger.jsonl      the contiguous chain segment [since, until], every stream, one entry a line:
                      {"seq":N,"hash":"<sha256 hex>","body":<the stored canonical JSON, verbatim>}
    records.<ext>     the selected audit records (``model`` filter), one row each: flat columns
                      (see sdk.audit.columns) plus the record's seq, hash and exact body;
                      ext is jsonl, csv or parquet
    manifest.json     counts, SHA-256 per file, chain endpoints, the ledger checkpoint,
                      Ed25519 signature, public key and key fingerprint

Why the whole segment when filtering by model: a filtered selection is not a contiguous chain,
so on its own nothing would show a record left out. The segment is the chain (checked link by
link); the records file marks the selection. The verifier recomputes the selection from the
segment, so it catches a record dropped from, added to or altered in the records file. Every
entry is stored pseudonymized with personal inputs encrypted, so the segment adds no plaintext.

:func:`verify_export` needs nothing but the folder (and, to pin the signer, the expected public
key): no database, no keyring. It names the first check that fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._canonical import canonical_json
from ..crypto.signing import Signer
from ..errors import ConfigurationError, ExportVerificationError, ProofError
from ..ledger import InclusionProof, Ledger, open_checkpoint, verify_inclusion_proof
from ..types import ExportManifest, VerifyReport
from .columns import COLUMNS, Selector, cell, record_row
from .personal_export import PERSONAL_FILE, PersonalFields
from .records_io import RecordsWriter, read_records

__all__ = ["FORMATS", "verify_export", "write_export"]

FORMATS = ("jsonl", "csv", "parquet")
LEDGER_FILE = "ledger.jsonl"
MANIFEST_FILE = "manifest.json"
_DOMAIN = b"whylens.export.v1\x00"
_ZERO = "0" * 64
_PREV = b',"prev":"'
_SEQ = b',"seq":'
_STREAM_AUDIT = b',"stream":"audit"'


def _signed_bytes(manifest: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return _DOMAIN + canonical_json(unsigned)


def records_file(format: str) -> str:
    """The records file name for ``format``."""
    return f"records.{format}"


def _line(seq: int, digest: str, body: bytes) -> bytes:
    return b'{"seq":%d,"hash":"%s","body":%s}\n' % (seq, digest.encode(), body)


def write_export(
    ledger: Ledger,
    keyring: Signer,
    folder: Path,
    format: str,
    since: datetime | None,
    until: datetime | None,
    *,
    model: str | None = None,
    personal: PersonalFields | None = None,
) -> ExportManifest:
    """Write the segment with ``since <= ts <= until``, its selected records and the manifest.

    ``personal`` (writing ``personal.jsonl`` in ``folder``) gets every selected audit record,
    to add its decrypted personal fields; the file is listed in the manifest."""
    if format not in FORMATS:
        raise ConfigurationError(
            f"unknown export format {format!r}; supported: {', '.join(FORMATS)}"
        )
    for bound in (since, until):
        if bound is not None and (not isinstance(bound, datetime) or bound.tzinfo is None):
            raise ConfigurationError("since and until must be timezone-aware datetimes")
    if model is not None and not isinstance(model, str):
        raise ConfigurationError("model must be a model name")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigurationError(f"export folder {str(folder)!r} is not empty; choose a new one")
    writer = RecordsWriter(folder / records_file(format), format)  # fails early without pyarrow
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # before any file lands in it: nobody else may list or read them
    digest = hashlib.sha256()
    selector = Selector(model)
    count, first_seq, last_seq, first_prev, last_hash = 0, None, None, _ZERO, _ZERO
    checkpoint = ledger.checkpoint() if ledger.public_key is not None else None
    size = checkpoint.size if checkpoint is not None else ledger.size
    try:
        with open(folder / LEDGER_FILE, "wb") as out:
            for entry in ledger.raw_entries():
                if entry.seq > size:
                    break
                if entry.ts is None:
                    raise ExportVerificationError(f"entry {entry.seq} has an unreadable timestamp")
                if (since is not None and entry.ts < since) or (
                    until is not None and entry.ts > until
                ):
                    continue
                if first_seq is None:
                    first_seq, first_prev = entry.seq, entry.prev_hash
                line = _line(entry.seq, entry.hash, entry.body)
                out.write(line)
                digest.update(line)
                count, last_seq, last_hash = count + 1, entry.seq, entry.hash
                if entry.stream == "audit":
                    parsed = json.loads(entry.body)
                    if selector.take(parsed):
                        writer.add(record_row(entry.seq, entry.hash, entry.body.decode(), parsed))
                        if personal is not None:
                            personal.add(entry.seq, parsed)
    finally:
        selected = writer.close()
        if personal is not None:
            personal.close()
    rec_name = records_file(format)
    extra = [PERSONAL_FILE] if personal is not None else []
    manifest: dict[str, Any] = {
        "format": format,
        "created_at": datetime.now(UTC).isoformat(),
        "records": count,
        "selected": selected,
        "model": model,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "first_prev": first_prev,
        "last_hash": last_hash,
        "files": {
            LEDGER_FILE: digest.hexdigest(),
            rec_name: hashlib.sha256((folder / rec_name).read_bytes()).hexdigest(),
            **{n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in extra},
        },
        "ledger_size": size,
        "ledger_head": ledger.get(size).hash if size else _ZERO,
        "checkpoint": checkpoint.note if checkpoint is not None else None,
        "origin": checkpoint.origin if checkpoint is not None else None,
        "last_proof": ledger.prove(last_seq, size=size).to_json()
        if checkpoint is not None and last_seq is not None
        else None,
        "public_key": base64.b64encode(keyring.public_key_bytes()).decode(),
        "key_fingerprint": keyring.fingerprint,
    }
    manifest["signature"] = base64.b64encode(keyring.sign(_signed_bytes(manifest))).decode()
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    for name in (LEDGER_FILE, rec_name, MANIFEST_FILE, *extra):
        os.chmod(folder / name, 0o600)
    return ExportManifest.model_validate(manifest, strict=False)


def _fail(problem: str, first_bad: int | None = None, checked: int = 0) -> VerifyReport:
    return VerifyReport(ok=False, checked=checked, first_bad=first_bad, problem=problem)


def _manifest(folder: Path, public_key: bytes | str | None) -> dict[str, Any] | VerifyReport:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text())
        signature = base64.b64decode(manifest["signature"], validate=True)
        key_bytes = base64.b64decode(manifest["public_key"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(key_bytes)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _fail(f"manifest: missing or unreadable ({type(exc).__name__})")
    if public_key is not None:
        try:
            expected = public_key if isinstance(public_key, bytes) else base64.b64decode(public_key)
        except ValueError:
            return _fail("manifest: the expected public key is not base64")
        if expected != key_bytes:
            return _fail("manifest: signed by a different key than the one expected")
    try:
        key.verify(signature, _signed_bytes(manifest))
    except InvalidSignature:
        return _fail("manifest: signature does not verify (manifest altered or forged)")
    if manifest.get("format") not in FORMATS or not isinstance(manifest.get("files"), dict):
        return _fail("manifest: unknown format or no file list")
    return manifest


def verify_export(path: str | Path, *, public_key: bytes | str | None = None) -> VerifyReport:
    """Check an audit export with nothing but its files.

    Checks, in order: the manifest reads; it is signed by ``public_key`` when one is given (raw
    32 bytes or base64); the signature is valid; every file's SHA-256 matches; in the ledger
    segment every entry's bytes match its hash, sequence numbers run without gaps and each entry
    links to the one before; the count and last hash match the manifest; every row of the
    records file is the segment's entry of that seq (same hash, same bytes) with columns derived
    from those bytes; and the rows are exactly the records the manifest's ``model`` filter
    selects from the segment. The report names the first check that failed.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ExportVerificationError(f"{str(folder)!r} is not an export folder")
    manifest = _manifest(folder, public_key)
    if isinstance(manifest, VerifyReport):
        return manifest
    for name, expected_hash in manifest["files"].items():
        if "/" in name or "\\" in name or name.startswith("."):
            return _fail(f"manifest: file name {name!r} is not a plain file name")
        try:
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except OSError:
            return _fail(f"file {name}: missing")
        if actual != expected_hash:
            return _fail(f"file {name}: SHA-256 does not match the manifest (altered)")
    rec_name = records_file(manifest["format"])
    if LEDGER_FILE not in manifest["files"] or rec_name not in manifest["files"]:
        return _fail("manifest: the ledger or records file is not listed")
    chain = _check_chain(folder / LEDGER_FILE, manifest)
    if isinstance(chain, VerifyReport):
        return chain
    audit, last_body = chain
    problem = _check_checkpoint(manifest, last_body)
    if problem is not None:
        return _fail(f"checkpoint: {problem}", manifest.get("last_seq"), manifest["records"])
    return _check_records(folder / rec_name, manifest, audit)


def _check_checkpoint(manifest: dict[str, Any], last_body: bytes | None) -> str | None:
    """The segment's last entry is in the tree the signed checkpoint commits to."""
    note = manifest.get("checkpoint")
    if note is None:
        return None
    try:
        key = base64.b64decode(manifest["public_key"])
        cp = open_checkpoint(note, key, origin=manifest.get("origin"))
        if cp.size != manifest["ledger_size"]:
            return "its size differs from the manifest's ledger size"
        if last_body is None:
            return None
        proof = InclusionProof.from_json(manifest.get("last_proof"))
        if proof.seq != manifest["last_seq"]:
            return "the proof is not for the last exported entry"
        verify_inclusion_proof(last_body, proof, cp, key, origin=manifest.get("origin"))
    except ProofError as exc:
        return str(exc)
    except (KeyError, TypeError, ValueError):
        return "malformed"
    return None


def _check_chain(
    path: Path, manifest: dict[str, Any]
) -> tuple[dict[int, tuple[str, bytes]], bytes | None] | VerifyReport:
    """Check the segment link by link; return seq -> (hash, body) of its audit entries and the
    last entry's body."""
    prev = str(manifest["first_prev"]).encode()
    expected_seq = manifest["first_seq"]
    checked = 0
    audit: dict[int, tuple[str, bytes]] = {}
    body: bytes | None = None
    sha256 = hashlib.sha256
    # The fast path checks each line against the exact bytes it must have (written by _line:
    # {"seq":N,"hash":"<64 hex>","body":<bytes>}\n, and a body whose last "prev" key holds the
    # previous hash, followed by this seq); any mismatch is then diagnosed by _diagnose.
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            head = b'{"seq":%d,"hash":"' % expected_seq
            at = len(head)
            digest = raw[at : at + 64]
            body = raw[at + 73 : -2]
            tail = b'%s%s","seq":%d,' % (_PREV, prev, expected_seq)
            where = body.rfind(_PREV)
            if not (
                raw.startswith(head)
                and raw.startswith(b'","body":', at + 64)
                and raw.endswith(b"}\n")
                and sha256(body).hexdigest().encode() == digest
                and body.startswith(tail, where)
            ):
                return _diagnose(raw, number, expected_seq, prev, checked)
            if body.startswith(_STREAM_AUDIT, where + len(tail) - 1):
                audit[expected_seq] = (digest.decode(), body)
            prev, expected_seq, checked = digest, expected_seq + 1, checked + 1
    if checked != manifest["records"] or (checked and prev.decode() != manifest["last_hash"]):
        return _fail(
            "export: entries missing at the end (count or last hash differ)", None, checked
        )
    return audit, body


def _diagnose(
    raw: bytes, number: int, expected_seq: int, prev: bytes, checked: int
) -> VerifyReport:
    """Name what is wrong with a line the fast path of _check_chain refused."""
    head_end = raw.find(b',"body":')
    if not raw.startswith(b'{"seq":') or head_end < 0 or not raw.endswith(b"}\n"):
        return _fail(f"{LEDGER_FILE} line {number}: unreadable", None, checked)
    try:
        seq = int(raw[7 : raw.index(b",")])
    except ValueError:
        return _fail(f"{LEDGER_FILE} line {number}: unreadable", None, checked)
    digest = raw[head_end - 65 : head_end - 1]
    body = raw[head_end + 8 : -2]
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return _fail(f"entry {seq}: bytes do not match their hash", seq, checked)
    at_seq, at_prev = body.rfind(_SEQ), body.rfind(_PREV)
    if at_seq < 0 or at_prev < 0 or body.find(b",", at_seq + 7) < 0:
        return _fail(f"entry {seq}: not a ledger entry body", seq, checked)
    body_seq = body[at_seq + 7 : body.index(b",", at_seq + 7)]
    if seq != expected_seq or body_seq != b"%d" % seq:
        return _fail(f"entry {seq}: expected sequence number {expected_seq}", seq, checked)
    if body[at_prev + 9 : at_prev + 73] != prev:
        return _fail(f"entry {seq}: does not link to the entry before it", seq, checked)
    return _fail(f"{LEDGER_FILE} line {number}: not in the export layout", seq, checked)


def _jsonl_as_written(
    path: Path, expected: list[int], audit: dict[int, tuple[str, bytes]]
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
        digest, body = audit[seq]
        row = record_row(seq, digest, body.decode())
        if raw != json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode():
            return False
    return True


def _check_records(
    path: Path, manifest: dict[str, Any], audit: dict[int, tuple[str, bytes]]
) -> VerifyReport:
    if manifest.get("model") is None:
        expected = list(audit)  # every audit record of the segment
    else:
        selector = Selector(manifest.get("model"))
        expected = [seq for seq, (_, body) in audit.items() if selector.take(json.loads(body))]
    checked = manifest["records"]
    if (
        manifest["format"] == "jsonl"
        and len(expected) == manifest.get("selected")
        and _jsonl_as_written(path, expected, audit)
    ):
        return VerifyReport(ok=True, checked=checked, head_hash=manifest["last_hash"])
    try:
        rows = list(read_records(path, manifest["format"]))
    except ConfigurationError:
        raise
    except ValueError as exc:  # names the line
        return _fail(f"{path.name} {exc}", None, checked)
    except Exception as exc:
        return _fail(f"{path.name}: unreadable ({type(exc).__name__})", None, checked)
    count = 0
    for number, row in enumerate(rows, start=1):
        try:
            seq = int(row["seq"])
            body_text = str(row["body"])
        except (KeyError, TypeError, ValueError):
            return _fail(f"{path.name} row {number}: no seq or body", None, checked)
        if count >= len(expected) or expected[count] != seq:
            want = expected[count] if count < len(expected) else None
            return _fail(
                f"{path.name} row {number}: record {seq} is not the next selected record "
                f"(expected {want}); records were added, dropped or reordered",
                seq,
                checked,
            )
        digest, body = audit[seq]
        if body_text.encode() != body or str(row.get("hash")) != digest:
            return _fail(f"{path.name} record {seq}: differs from ledger entry {seq}", seq, checked)
        derived = record_row(seq, digest, body_text)
        for column in COLUMNS:
            if row.get(column) == derived[column]:
                continue
            try:
                same = cell(column, row.get(column)) == cell(column, derived[column])
            except (TypeError, ValueError):
                same = False
            if not same:
                return _fail(
                    f"{path.name} record {seq}: column {column} does not match its body",
                    seq,
                    checked,
                )
        count += 1
    if count != len(expected) or count != manifest.get("selected"):
        return _fail(f"{path.name}: selected records missing at the end", None, checked)
    return VerifyReport(ok=True, checked=checked, head_hash=manifest["last_hash"])
