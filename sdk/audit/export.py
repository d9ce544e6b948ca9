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

:func:`verify_export` (in :mod:`sdk.audit.export_check`) needs nothing but the folder and the
signer's key the verifier pinned: no database, no keyring. It names the first check that fails.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..crypto.signing import Signer
from ..errors import ConfigurationError, ExportVerificationError
from ..ledger import Ledger
from ..types import ExportManifest
from .columns import Selector, record_row
from .export_check import verify_export
from .export_format import (
    FORMATS,
    LEDGER_FILE,
    MANIFEST_FILE,
    ZERO,
    ledger_line,
    manifest_bytes,
    records_file,
    signed_bytes,
)
from .personal_export import PERSONAL_FILE, PersonalFields
from .records_io import RecordsWriter

__all__ = ["FORMATS", "records_file", "verify_export", "write_export"]

# the shared layout, re-exported under the names earlier code and tests import
_signed_bytes = signed_bytes
_line = ledger_line
_ZERO = ZERO


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
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"export folder {str(folder)!r} is a file; choose a new folder")
    if folder.exists() and any(folder.iterdir()):
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
    (folder / MANIFEST_FILE).write_bytes(manifest_bytes(manifest))
    for name in (LEDGER_FILE, rec_name, MANIFEST_FILE, *extra):
        os.chmod(folder / name, 0o600)
    return ExportManifest.model_validate(manifest, strict=False)
