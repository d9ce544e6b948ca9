"""Verifying an audit export offline: :func:`verify_export`.

The verifier needs the folder and trust material: the signer's public key the verifier pinned
(see :mod:`sdk.crypto.trust`), or a checkpoint it holds from elsewhere (a witness, an earlier
audit) that the export's key must have signed. Without either it still runs every check, but
reports not ok and says how to pin: a key found inside the export proves nothing about who made
it.

Every file is attacker-controlled input. Anything malformed (wrong field types in the
manifest, an extra CSV column, a garbage JSON line, a truncated file, bad base64, huge numbers)
gives a failing report naming the file and the line or entry; nothing raises.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..crypto.trust import TrustedKey, TrustMaterial, load_key, load_note, unpinned
from ..errors import ConfigurationError, ExportVerificationError, ProofError
from ..ledger import InclusionProof, leaf_hash, open_checkpoint, verify_inclusion_proof
from ..ledger.trusted import ConsistencyEvidence, EvidenceInput, compare_with_trusted, load_evidence
from ..types import VerifyReport
from .export_format import (
    FORMATS,
    LEDGER_FILE,
    MANIFEST_FILE,
    manifest_bytes,
    records_file,
    signed_bytes,
)
from .personal_export import PERSONAL_FILE
from .records_check import BAD_INPUT as _BAD_INPUT
from .records_check import check_records as _check_records
from .records_check import fail as _fail

__all__ = ["verify_export"]

_PREV = b',"prev":"'
_SEQ = b',"seq":'
_STREAM_AUDIT = b',"stream":"audit"'
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAX_MANIFEST = 16 * 1024 * 1024


def _is_int(value: object, low: int = 0) -> bool:
    return type(value) is int and value >= low


def _is_hex(value: object) -> bool:
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def _optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


_FIELDS: dict[str, Any] = {
    "format": lambda v: v in FORMATS,
    "records": _is_int,
    "selected": _is_int,
    "first_seq": lambda v: v is None or _is_int(v, 1),
    "last_seq": lambda v: v is None or _is_int(v, 1),
    "first_prev": _is_hex,
    "last_hash": _is_hex,
    "files": lambda v: (
        isinstance(v, dict) and all(isinstance(k, str) and _is_hex(h) for k, h in v.items())
    ),
    "ledger_size": _is_int,
    "ledger_head": _is_hex,
    "model": _optional_str,
    "checkpoint": _optional_str,
    "origin": _optional_str,
    "last_proof": lambda v: v is None or isinstance(v, dict),
}


def _shape_problem(manifest: dict[str, Any]) -> str | None:
    """The first manifest field that is missing or of the wrong type or range."""
    for name, valid in _FIELDS.items():
        if name not in manifest or not valid(manifest[name]):
            return f"manifest: field {name} is missing or malformed"
    records, first, last = manifest["records"], manifest["first_seq"], manifest["last_seq"]
    if (records == 0) != (first is None) or (first is None) != (last is None):
        return "manifest: the record count and the first and last seq disagree"
    if first is not None and last - first + 1 != records:
        return "manifest: the record count and the first and last seq disagree"
    return None


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` is not a plain file of an export (a named pipe would block the verifier for
    ever, a device or a link lead out of the folder), or None."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "missing"
    return None if stat.S_ISREG(mode) else "not a regular file"


def _read_manifest(folder: Path) -> tuple[dict[str, Any], bytes] | VerifyReport:
    path = folder / MANIFEST_FILE
    problem = _not_a_file(path)
    if problem is not None:
        return _fail(f"{MANIFEST_FILE}: {problem}")
    try:
        if path.stat().st_size > _MAX_MANIFEST:
            return _fail(f"{MANIFEST_FILE}: too large to be a manifest")
        raw = path.read_bytes()
        manifest = json.loads(raw.decode("utf-8"))
    except OSError:
        return _fail(f"{MANIFEST_FILE}: missing or unreadable")
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        where = f" line {line}" if line is not None else ""
        return _fail(f"{MANIFEST_FILE}{where}: not JSON ({type(exc).__name__})")
    if not isinstance(manifest, dict):
        return _fail(f"{MANIFEST_FILE}: not a JSON object")
    return manifest, raw


def _manifest(
    folder: Path, pinned: TrustedKey | None
) -> tuple[dict[str, Any], bytes] | VerifyReport:
    """The manifest, checked: its signature (by the pinned key, when one is given) and the shape
    of every field the checks below read. Returns it with the key that signed it."""
    read = _read_manifest(folder)
    if isinstance(read, VerifyReport):
        return read
    manifest, raw = read
    try:
        signature = base64.b64decode(manifest["signature"], validate=True)
        key_bytes = base64.b64decode(manifest["public_key"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(key_bytes)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return _fail("manifest: the signature or public key is missing or not base64")
    if pinned is not None and pinned.raw != key_bytes:
        return _fail(
            f"manifest: signed by a different key than the one pinned ({pinned.source}); the "
            "export was re-signed or is from another store"
        )
    try:
        key.verify(signature, signed_bytes(manifest))
    except (InvalidSignature, ValueError, TypeError, RecursionError):
        return _fail("manifest: signature does not verify (manifest altered or forged)")
    # The signature covers the parsed fields, not the bytes; the writer's exact layout is
    # required too, so that not even a whitespace change to the file goes unnoticed.
    if raw != manifest_bytes(manifest):
        return _fail(f"{MANIFEST_FILE}: not in the layout the writer uses (altered)")
    problem = _shape_problem(manifest)
    if problem is not None:
        return _fail(problem)
    return manifest, key_bytes


def _trust(
    trust: TrustMaterial | None, trusted_checkpoint: str | os.PathLike[str] | None
) -> tuple[TrustedKey | None, str | None] | VerifyReport:
    try:
        key = load_key(trust) if trust is not None else None
        note = load_note(trusted_checkpoint) if trusted_checkpoint is not None else None
    except ConfigurationError as exc:
        return _fail(f"trust: {exc}")
    return key, note


def verify_export(
    path: str | os.PathLike[str],
    *,
    trust: TrustMaterial | None = None,
    public_key: TrustMaterial | None = None,
    trusted_checkpoint: str | os.PathLike[str] | None = None,
    consistency: EvidenceInput | None = None,
) -> VerifyReport:
    """Check an audit export with nothing but its files and the key you pinned.

    ``trust`` (or its older name ``public_key``) is the signer's key: raw 32 bytes, base64 text,
    or a trust file written by ``whylens keys public``. ``trusted_checkpoint`` is a signed
    checkpoint note (text or a file) you hold from elsewhere: the export's key must have signed
    it, and the export's log must extend it or be a prefix of it (RFC 9162 consistency): the
    same root at the same size; for a smaller trusted checkpoint, the export's whole ledger
    (an export without ``since``/``until``) must have its root at that size; otherwise pass
    ``consistency``, the evidence between the two checkpoints from
    ``p.audit.prove_consistency``. A fork is named with the size at or before which the logs
    differ. Without a key or checkpoint the report is not ok, whatever else passed, and its
    problem says how to pin.

    Checks, in order: the manifest reads and is signed by the pinned key; every field has its
    type; every file's SHA-256 matches (a mismatch is located: the first bad line or entry is
    named); in the ledger segment every entry's bytes match its hash, sequence numbers run
    without gaps and each entry links to the one before; the count and last hash match the
    manifest; the checkpoint covers the last entry; every row of the records file is the
    segment's entry of that seq with columns derived from its bytes; and the rows are exactly
    the records the manifest's ``model`` filter selects. The report names the first failure.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ExportVerificationError(f"{str(folder)!r} is not an export folder")
    trusted = _trust(trust if trust is not None else public_key, trusted_checkpoint)
    if isinstance(trusted, VerifyReport):
        return trusted
    pinned, note = trusted
    try:
        evidence = load_evidence(consistency) if consistency is not None else None
    except ConfigurationError as exc:
        return _fail(f"trust: {exc}")
    read = _manifest(folder, pinned)
    if isinstance(read, VerifyReport):
        return read
    manifest, key = read
    leaves: list[bytes] | None = [] if note is not None else None
    report = _check_files(folder, manifest, key, leaves)
    if not report.ok:
        return report
    if note is not None:
        assert leaves is not None
        problem = _check_trusted_checkpoint(note, manifest, key, leaves, evidence)
        if problem is not None:
            return _fail(f"trusted checkpoint: {problem[1]}", problem[0], report.checked)
    elif pinned is None:
        return _fail(unpinned("the export"), None, report.checked)
    return report


def _check_trusted_checkpoint(
    note: str,
    manifest: dict[str, Any],
    key: bytes,
    leaves: list[bytes],
    evidence: ConsistencyEvidence | None,
) -> tuple[int | None, str] | None:
    """The export's key signed the checkpoint the verifier holds, and one log extends the other
    (see :mod:`sdk.ledger.trusted`): ``(first_bad, problem)`` or None."""
    try:
        trusted = open_checkpoint(note, key, origin=manifest["origin"])
    except ProofError as exc:
        return None, f"not signed by the export's key, so the export is not from that log ({exc})"
    if manifest["checkpoint"] is None:
        # nothing to compare: an insider would drop it to hand over a fork unchecked
        return None, "the export carries no checkpoint to compare with the trusted one"
    try:
        ours = open_checkpoint(manifest["checkpoint"], key, origin=manifest["origin"])
    except ProofError as exc:
        return None, str(exc)
    # the leaves are the whole ledger only when the segment runs from entry 1 to the size
    whole = manifest["first_seq"] in (None, 1) and manifest["records"] == ours.size
    return compare_with_trusted(
        trusted, ours, key, what="the export", leaves=leaves if whole else None, evidence=evidence
    )


def _hash_of(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def _check_files(
    folder: Path, manifest: dict[str, Any], key: bytes, leaves: list[bytes] | None
) -> VerifyReport:
    rec_name = records_file(manifest["format"])
    files: dict[str, str] = manifest["files"]
    if not {LEDGER_FILE, rec_name} <= set(files) <= {LEDGER_FILE, rec_name, PERSONAL_FILE}:
        return _fail("manifest: the file list is not the ledger, records and personal files")
    try:
        present = sorted(entry.name for entry in os.scandir(folder))
    except OSError:
        return _fail("the export folder cannot be listed")
    for name in present:
        if name != MANIFEST_FILE and name not in files:
            # nothing signs it: an auditor would read a planted personal.jsonl or records.csv
            return _fail(f"file {name}: not listed in the manifest (added after signing)")
    altered: list[str] = []
    for name, expected_hash in files.items():
        problem = _not_a_file(folder / name)
        if problem is not None:
            return _fail(f"file {name}: {problem}")
        actual = _hash_of(folder / name)
        if actual is None:
            return _fail(f"file {name}: missing")
        if actual != expected_hash:
            altered.append(name)

    def located(report: VerifyReport, name: str) -> VerifyReport:
        # a file that differs from its signed hash: name where it differs, when that shows
        if name not in altered:
            return report
        return report.model_copy(
            update={
                "problem": f"file {name}: SHA-256 does not match the manifest (altered); "
                f"first bad: {report.problem}"
            }
        )

    chain = _check_chain(folder / LEDGER_FILE, manifest, leaves)
    if isinstance(chain, VerifyReport):
        return located(chain, LEDGER_FILE)
    if LEDGER_FILE in altered:
        return _fail(f"file {LEDGER_FILE}: SHA-256 does not match the manifest (altered)")
    audit, last_body = chain
    problem = _check_checkpoint(manifest, last_body, key)
    if problem is not None:
        return _fail(f"checkpoint: {problem}", manifest["last_seq"], manifest["records"])
    records = _check_records(folder / rec_name, manifest, audit)
    if not records.ok:
        return located(records, rec_name)
    for name in altered:  # the records file, and personal.jsonl, which no check above reads
        return _fail(f"file {name}: SHA-256 does not match the manifest (altered)")
    return records


def _check_checkpoint(manifest: dict[str, Any], last_body: bytes | None, key: bytes) -> str | None:
    """The segment's last entry is in the tree the signed checkpoint commits to."""
    note = manifest["checkpoint"]
    if note is None:
        return None
    try:
        cp = open_checkpoint(note, key, origin=manifest["origin"])
        if cp.size != manifest["ledger_size"]:
            return "its size differs from the manifest's ledger size"
        if last_body is None:
            return None
        proof = InclusionProof.from_json(manifest["last_proof"])
        if proof.seq != manifest["last_seq"]:
            return "the proof is not for the last exported entry"
        verify_inclusion_proof(last_body, proof, cp, key, origin=manifest["origin"])
    except ProofError as exc:
        return str(exc)
    except _BAD_INPUT:
        return "malformed"
    return None


def _check_chain(
    path: Path, manifest: dict[str, Any], leaves: list[bytes] | None
) -> tuple[dict[int, tuple[str, bytes]], bytes | None] | VerifyReport:
    """Check the segment link by link; return seq -> (hash, body) of its audit entries and the
    last entry's body. Appends each entry's Merkle leaf hash to ``leaves`` when given."""
    prev = manifest["first_prev"].encode()
    first = manifest["first_seq"]
    expected_seq = first if first is not None else 1
    checked = 0
    audit: dict[int, tuple[str, bytes]] = {}
    body: bytes | None = None
    sha256 = hashlib.sha256
    # The fast path checks each line against the exact bytes it must have (written by
    # ledger_line: {"seq":N,"hash":"<64 hex>","body":<bytes>}\n, and a body whose last "prev"
    # key holds the previous hash, followed by this seq); any mismatch is then diagnosed.
    try:
        lines = open(path, "rb")  # noqa: SIM115
    except OSError:
        return _fail(f"file {LEDGER_FILE}: missing")
    with lines:
        for number, raw in enumerate(lines, start=1):
            if checked >= manifest["records"]:
                return _fail(
                    f"{LEDGER_FILE} line {number}: more entries than the manifest lists",
                    None,
                    checked,
                )
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
            if leaves is not None:
                leaves.append(leaf_hash(body))
            prev, expected_seq, checked = digest, expected_seq + 1, checked + 1
    if checked != manifest["records"] or (checked and prev.decode() != manifest["last_hash"]):
        return _fail(
            f"{LEDGER_FILE}: entries missing at the end (count or last hash differ)", None, checked
        )
    return audit, body


def _diagnose(
    raw: bytes, number: int, expected_seq: int, prev: bytes, checked: int
) -> VerifyReport:
    """Name what is wrong with a line the fast path of _check_chain refused."""
    head_end = raw.find(b',"body":')
    if not raw.startswith(b'{"seq":') or head_end < 0 or not raw.endswith(b"}\n"):
        return _fail(f"{LEDGER_FILE} line {number}: unreadable", expected_seq, checked)
    try:
        seq = int(raw[7 : raw.index(b",")])
    except ValueError:
        return _fail(f"{LEDGER_FILE} line {number}: unreadable", expected_seq, checked)
    if seq != expected_seq:
        return _fail(
            f"entry {expected_seq}: {LEDGER_FILE} line {number} holds seq {seq} instead",
            expected_seq,
            checked,
        )
    digest = raw[head_end - 65 : head_end - 1]
    body = raw[head_end + 8 : -2]
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return _fail(f"entry {seq}: bytes do not match their hash", seq, checked)
    at_seq, at_prev = body.rfind(_SEQ), body.rfind(_PREV)
    if at_seq < 0 or at_prev < 0 or body.find(b",", at_seq + 7) < 0:
        return _fail(f"entry {seq}: not a ledger entry body", seq, checked)
    body_seq = body[at_seq + 7 : body.index(b",", at_seq + 7)]
    if body_seq != b"%d" % seq:
        return _fail(f"entry {seq}: expected sequence number {expected_seq}", seq, checked)
    if body[at_prev + 9 : at_prev + 73] != prev:
        return _fail(f"entry {seq}: does not link to the entry before it", seq, checked)
    return _fail(f"{LEDGER_FILE} line {number}: not in the export layout", seq, checked)
