"""The layout of an audit export folder, shared by its writer and its verifier."""

from __future__ import annotations

import json
from typing import Any

from .._canonical import canonical_json

__all__ = [
    "FORMATS",
    "LEDGER_FILE",
    "MANIFEST_FILE",
    "ZERO",
    "ledger_line",
    "manifest_bytes",
    "records_file",
    "signed_bytes",
]

FORMATS = ("jsonl", "csv", "parquet")
LEDGER_FILE = "ledger.jsonl"
MANIFEST_FILE = "manifest.json"
ZERO = "0" * 64
_DOMAIN = b"whylens.export.v1\x00"


def signed_bytes(manifest: dict[str, Any]) -> bytes:
    """What the manifest's signature covers: a domain tag and the RFC 8785 JSON of every other
    field."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return _DOMAIN + canonical_json(unsigned)


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes of ``manifest.json``: indented JSON and a final newline."""
    return (json.dumps(manifest, indent=2) + "\n").encode()


def records_file(format: str) -> str:
    """The records file name for ``format``."""
    return f"records.{format}"


def ledger_line(seq: int, digest: str, body: bytes) -> bytes:
    """One line of ``ledger.jsonl``: ``{"seq":N,"hash":"<hex>","body":<body bytes>}``."""
    return b'{"seq":%d,"hash":"%s","body":%s}\n' % (seq, digest.encode(), body)
