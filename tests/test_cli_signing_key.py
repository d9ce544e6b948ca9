"""The separate signing key through the real ``whylens`` command in subprocesses: create it,
give it to a new store, pass it (flag or ``WHYLENS_SIGNING_KEY``) to the commands that open
the store, pin its public half, and serve with it."""

from __future__ import annotations

import base64
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sdk.crypto.keyring import Keyring
from sdk.crypto.signing import FileSigner

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "PYTHONPATH": str(ROOT)}
for name in ("WHYLENS_DB", "WHYLENS_SIGNING_KEY", "WHYLENS_KEYRING"):
    ENV.pop(name, None)


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdk.cli", *args], cwd=cwd, env={**ENV, **env},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
    )


def _store(tmp_path: Path) -> tuple[Path, Path]:
    vault = tmp_path / "vault"
    vault.mkdir()
    key = vault / "shop.signing.key"
    made = run("keys", "signing-key", "create", str(key), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert base64.b64decode(made.stdout.strip()) == FileSigner.load(key).public_key_bytes()
    db = tmp_path / "shop.db"
    init = run("init", "--db", str(db), "--signing-key", str(key), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "signing key:" in init.stdout
    return db, key


def test_create_never_replaces_a_key(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert run("keys", "signing-key", "create", str(key), cwd=tmp_path).returncode == 0
    before = key.read_bytes()
    again = run("keys", "signing-key", "create", str(key), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert key.read_bytes() == before


def test_commands_need_the_key_the_store_was_made_with(tmp_path: Path) -> None:
    db, key = _store(tmp_path)
    without = run("consent", "grant", "cust-1", "personalization", "--db", str(db), cwd=tmp_path)
    assert without.returncode == 2
    assert "--signing-key" in without.stderr and "Traceback" not in without.stderr
    flag = run("consent", "grant", "cust-1", "personalization", "--db", str(db),
               "--signing-key", str(key), cwd=tmp_path)
    assert flag.returncode == 0, flag.stderr
    env = run("consent", "withdraw", "cust-1", "personalization", "--db", str(db), cwd=tmp_path,
              WHYLENS_SIGNING_KEY=str(key))
    assert env.returncode == 0, env.stderr
    verify = run("audit", "verify", "--db", str(db), cwd=tmp_path, WHYLENS_SIGNING_KEY=str(key))
    assert verify.returncode == 0 and "OK" in verify.stdout
    # a typo in the path is refused, and no new key file is made there
    typo = tmp_path / "vault" / "shop.signing.kee"
    wrong = run("tokens", "list", "--db", str(db), "--signing-key", str(typo), cwd=tmp_path)
    assert wrong.returncode == 2 and "no signing key" in wrong.stderr
    assert not typo.exists()


def test_pin_the_separate_key_and_verify_an_export(tmp_path: Path) -> None:
    db, key = _store(tmp_path)
    sk = ("--signing-key", str(key))
    assert run("consent", "grant", "cust-1", "personalization", "--db", str(db), *sk,
               cwd=tmp_path).returncode == 0
    trust = tmp_path / "whylens.pub"
    wrote = run("keys", "public", "--db", str(db), *sk, "--out", str(trust), cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    printed = run("keys", "public", "--db", str(db), *sk, cwd=tmp_path).stdout.strip()
    key_only = run("keys", "public", "--db", str(tmp_path / "none.db"), *sk, cwd=tmp_path)
    assert key_only.stdout.strip() == printed  # the key file alone, no store needed
    public = FileSigner.load(key).public_key_bytes()
    assert base64.b64decode(printed) == public
    assert printed in trust.read_text().splitlines()
    ring = Keyring.load(db.with_name("shop.keyring.json")).public_key_bytes()
    assert ring != public
    export = tmp_path / "export"
    made = run("audit", "export", str(export), "--db", str(db), *sk, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    ok = run("audit", "verify", str(export), "--trust", str(trust), cwd=tmp_path)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout
    keyring_pinned = run("audit", "verify", str(export), "--trust",
                         base64.b64encode(ring).decode(), cwd=tmp_path)
    assert keyring_pinned.returncode == 1
    again = run("keys", "public", "--db", str(db), *sk, "--out", str(trust), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_the_signing_key(tmp_path: Path) -> None:
    db, key = _store(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sdk.cli", "serve", "--db", str(db), "--port", str(port),
         "--signing-key", str(key)],
        cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # without the key the workers refuse the store (no silent fallback to the keyring's key)
    refused = subprocess.run(
        [sys.executable, "-c",
         "import sys; from sdk.server.app import build_app; from sdk.server.settings import "
         "ServerSettings; from sdk.errors import SigningKeyMismatch\n"
         "try:\n build_app(ServerSettings(db=sys.argv[1]))\n"
         "except SigningKeyMismatch:\n sys.exit(3)", str(db)],
        env=ENV, capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 3, refused.stderr
