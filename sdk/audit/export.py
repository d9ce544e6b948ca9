"""Audit exports: a stretch of the ledger plus a signed manifest, verifiable offline.

Layout of an export folder::

    ledger.jsonl    one line per entry: {"seq", "hash", "body"} — body is the stored canonical JSON
    manifest.json   counts, SHA-256 per file, chain endpoints, Ed25519 signature and public key

:func:`verify_export` needs nothing but the folder (and, to pin the signer, the expected public
key): no database, no keyring.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._canonical import canonical_json
from ..crypto.keyring import Keyring
from ..errors import ConfigurationError, ExportVerificationError
from ..ledger import Ledger
from ..types import ExportManifest, VerifyReport

__all__ = ["verify_export", "write_export"]

LEDGER_FILE = "ledger.jsonl"
MANIFEST_FILE = "manifest.json"
_DOMAIN = b"whylens.export.v1\x00"
_ZERO = "0" * 64


def _signed_bytes(manifest: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return _DOMAIN + canonical_json(unsigned)


def write_export(
    ledger: Ledger,
    keyring: Keyring,
    folder: Path,
    format: str,
    since: datetime | None,
    until: datetime | None,
) -> ExportManifest:
    """Write entries with ``since <= ts <= until`` and the signed manifest into ``folder``."""
    if format != "jsonl":
        raise ConfigurationError(f"unknown export format {format!r}; supported: jsonl")
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise ConfigurationError("since and until must be timezone-aware datetimes")
    if folder.exists() and any(folder.iterdir()):
        raise ConfigurationError(f"export folder {str(folder)!r} is not empty; choose a new one")
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    count, first_seq, last_seq, first_prev, last_hash = 0, None, None, _ZERO, _ZERO
    size, head = ledger.size, ledger.head_hash
    with open(folder / LEDGER_FILE, "wb") as out:
        for entry in ledger.raw_entries():
            if entry.seq > size:
                break
            if (since is not None and entry.ts < since) or (until is not None and entry.ts > until):
                continue
            if first_seq is None:
                first_seq, first_prev = entry.seq, entry.prev_hash
            line = (
                json.dumps(
                    {"seq": entry.seq, "hash": entry.hash, "body": entry.body.decode()},
                    ensure_ascii=False,
                    separators=(",", ":"),
                ).encode()
                + b"\n"
            )
            out.write(line)
            digest.update(line)
            count, last_seq, last_hash = count + 1, entry.seq, entry.hash
    manifest: dict[str, Any] = {
        "format": format,
        "created_at": datetime.now(UTC).isoformat(),
        "records": count,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "first_prev": first_prev,
        "last_hash": last_hash,
        "files": {LEDGER_FILE: digest.hexdigest()},
        "ledger_size": size,
        "ledger_head": head,
        "public_key": base64.b64encode(keyring.public_key_bytes()).decode(),
        "key_fingerprint": keyring.fingerprint,
    }
    manifest["signature"] = base64.b64encode(keyring.sign(_signed_bytes(manifest))).decode()
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return ExportManifest.model_validate(manifest, strict=False)


def verify_export(path: str | Path, *, public_key: bytes | str | None = None) -> VerifyReport:
    """Check an audit export with nothing but its files.

    Checks, in order: the manifest reads; it is signed by ``public_key`` when one is given (raw
    32 bytes or base64); the signature is valid; every file's SHA-256 matches; every entry's bytes
    match its hash, sequence numbers run without gaps and each entry links to the one before; the
    count and the last hash match the manifest. The report names the first check that failed.
    """
    folder = Path(path)

    def fail(problem: str, first_bad: int | None = None, checked: int = 0) -> VerifyReport:
        return VerifyReport(ok=False, checked=checked, first_bad=first_bad, problem=problem)

    if not folder.is_dir():
        raise ExportVerificationError(f"{str(folder)!r} is not an export folder")
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        signature = base64.b64decode(manifest["signature"], validate=True)
        key_bytes = base64.b64decode(manifest["public_key"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(key_bytes)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return fail(f"manifest: missing or unreadable ({type(exc).__name__})")
    if public_key is not None:
        expected = public_key if isinstance(public_key, bytes) else base64.b64decode(public_key)
        if expected != key_bytes:
            return fail("manifest: signed by a different key than the one expected")
    try:
        key.verify(signature, _signed_bytes(manifest))
    except InvalidSignature:
        return fail("manifest: signature does not verify (manifest altered or forged)")
    for name, expected_hash in manifest["files"].items():
        try:
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except OSError:
            return fail(f"file {name}: missing")
        if actual != expected_hash:
            return fail(f"file {name}: SHA-256 does not match the manifest (altered)")
    prev, expected_seq, checked = manifest["first_prev"], manifest["first_seq"], 0
    with open(folder / LEDGER_FILE, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = json.loads(raw)
                body = line["body"].encode()
                parsed = json.loads(body)
            except (ValueError, KeyError, AttributeError):
                return fail(f"{LEDGER_FILE} line {number}: unreadable", None, checked)
            seq = line.get("seq")
            if hashlib.sha256(body).hexdigest() != line.get("hash"):
                return fail(f"entry {seq}: bytes do not match their hash", seq, checked)
            if parsed.get("seq") != expected_seq or seq != expected_seq:
                return fail(f"entry {seq}: expected sequence number {expected_seq}", seq, checked)
            if parsed.get("prev") != prev:
                return fail(f"entry {seq}: does not link to the entry before it", seq, checked)
            prev, expected_seq, checked = line["hash"], expected_seq + 1, checked + 1
    if checked != manifest["records"] or (checked and prev != manifest["last_hash"]):
        return fail("export: entries missing at the end (count or last hash differ)", None, checked)
    return VerifyReport(ok=True, checked=checked, head_hash=manifest["last_hash"])
