"""The database, its WAL and shared memory, the keyring and audit exports are private to the
owner whatever the process umask (an attacker sharing the machine reads nothing)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _exports import decide_some

from sdk import Personalizer
from sdk.audit import verify_export


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_store_and_export_files_are_private(
    tmp_path: Path, permissive_umask: int, fmt: str
) -> None:
    db = tmp_path / "shop.db"
    keyring = tmp_path / "shop.keyring.json"
    with Personalizer.open(db, keyring=keyring) as p:
        decide_some(p, 4)
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()  # the connection is open, WAL mode
        for path in (db, wal, shm, keyring):
            assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"
        folder = tmp_path / "exports" / "audit-1"
        p.audit.export(folder, format=fmt)
        key = p.keyring.public_key_bytes()
    assert _mode(folder) == 0o700
    files = sorted(folder.iterdir())
    assert {f.name for f in files} == {"ledger.jsonl", f"records.{fmt}", "manifest.json"}
    for path in files:
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"
    assert verify_export(folder, trust=key).ok


def test_files_made_by_another_process_are_private(tmp_path: Path) -> None:
    """A second process with umask 000 opens the store first and writes; every file it leaves
    behind is 0600 (the guarantee is the code's, not this test process's umask)."""
    db = tmp_path / "other.db"
    keyring = tmp_path / "other.keyring.json"
    script = (
        "import os, sys\n"
        "os.umask(0)\n"
        "from sdk import Personalizer\n"
        "with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:\n"
        "    p.consent.grant('someone', 'profiling')\n"
        "    os.stat(sys.argv[1] + '-wal')\n"
        "    print(oct(os.stat(sys.argv[1] + '-wal').st_mode & 0o777),"
        " oct(os.stat(sys.argv[1] + '-shm').st_mode & 0o777))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(db), str(keyring)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.split() == ["0o600", "0o600"]
    assert _mode(db) == 0o600
    assert _mode(keyring) == 0o600
