"""A small, real C2SP tlog-witness for the tests, built on whylens's own checkpoint code.

Run as ``python _witness_server.py STATE LOG_ORIGIN LOG_KEY_B64 WITNESS_NAME WITNESS_SEED_HEX``:
it listens on 127.0.0.1 (a free port, printed on the first line of stdout) and serves
``POST /add-checkpoint`` as the spec says: verifies the log's signature on the checkpoint (403),
knows one origin (404), checks ``old`` against the size it last cosigned (409 with
``text/x.tlog.size``), the consistency proof (422) or, at the same size, the root (409), persists
the new size and root to STATE (fsynced, atomically) before it answers 200 with a
``cosignature/v1`` line. The check and the update are one critical section (the spec's race).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sdk.errors import ProofError
from sdk.ledger.checkpoint import open_checkpoint
from sdk.ledger.cosignature import cosign
from sdk.ledger.merkle import verify_consistency

STATE, ORIGIN, LOG_KEY, NAME, SEED = sys.argv[1:6]
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED))
LOG_PUBLIC = base64.b64decode(LOG_KEY)
LOCK = threading.Lock()


def _load() -> tuple[int, bytes]:
    try:
        obj = json.loads(Path(STATE).read_text())
    except FileNotFoundError:
        return 0, b""
    return int(obj["size"]), base64.b64decode(obj["root"])


def _save(size: int, root: bytes) -> None:
    tmp = Path(STATE + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"size": size, "root": base64.b64encode(root).decode()}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, STATE)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, text: str = "", kind: str = "text/plain") -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            return self._answer(404, "not found\n")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        head, sep, note = body.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            return self._answer(400, "malformed\n")
        try:
            old = int(lines[0][4:])
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
        except (ValueError, binascii.Error):
            return self._answer(400, "malformed\n")
        if note.split("\n", 1)[0] != ORIGIN:
            return self._answer(404, "unknown log\n")
        try:
            cp = open_checkpoint(note, LOG_PUBLIC, origin=ORIGIN)
        except ProofError:
            return self._answer(403, "no trusted signature\n")
        if old > cp.size or len(proof) > 63:
            return self._answer(400, "old size larger than the checkpoint\n")
        with LOCK:
            size, root = _load()
            if old != size:
                return self._answer(409, f"{size}\n", "text/x.tlog.size")
            if old == 0 and proof:
                return self._answer(400, "a proof from size 0\n")
            if old == cp.size:
                if old and root != cp.root:
                    return self._answer(409, f"{size}\n", "text/x.tlog.size")
            elif old > 0 and not verify_consistency(old, cp.size, root, cp.root, proof):
                return self._answer(422, "the consistency proof does not verify\n")
            _save(cp.size, cp.root)
            line = cosign(note, NAME, KEY, int(time.time()))
        return self._answer(200, line)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
