"""The CLI as a newcomer meets it, through the real ``whylens`` executable in a subprocess:
``--version``, ``init``, confirmation of irreversible commands, and an example in every --help."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import sdk
from sdk import Personalizer
from sdk.cli import command_group

WHYLENS = str(Path(sys.executable).parent / "whylens")
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
ENV.pop("WHYLENS_DB", None)


def run(
    *args: str, cwd: Path, stdin: int | None = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WHYLENS, *args],
        cwd=cwd,
        env=ENV,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"whylens {sdk.__version__}"


def test_init_creates_a_store_and_a_private_keyring_and_says_where(tmp_path: Path) -> None:
    result = run("init", "--db", "shop.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    db, keyring = tmp_path / "shop.db", tmp_path / "shop.keyring.json"
    assert str(db) in result.stdout and str(keyring) in result.stdout
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    with Personalizer.open(db) as p:  # a real store that opens with the keyring made beside it
        assert p.audit.verify().ok

    before = (db.read_bytes(), keyring.read_bytes())
    again = run("init", "--db", "shop.db", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert (db.read_bytes(), keyring.read_bytes()) == before


def test_init_with_a_keyring_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    result = run("init", "--db", "shop.db", "--keyring", "keys/shop.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "keys" / "shop.json").stat().st_mode) == 0o600
    assert not (tmp_path / "shop.keyring.json").exists()
    with Personalizer.open(tmp_path / "shop.db", keyring=tmp_path / "keys" / "shop.json") as p:
        assert p.audit.verify().ok


def test_commands_on_a_missing_store_point_to_init(tmp_path: Path) -> None:
    result = run("consent", "state", "cust-1", "--db", "nowhere.db", cwd=tmp_path)
    assert result.returncode == 2
    assert "whylens init --db nowhere.db" in " ".join(result.stderr.split())
    assert not (tmp_path / "nowhere.db").exists()


def _store_with_profile(tmp_path: Path) -> Path:
    db = tmp_path / "shop.db"
    with Personalizer.open(db) as p:
        p.profiles.put("cust-1", {"city": "Leipzig"})
    return db


def _profile(db: Path) -> dict[str, object]:
    with Personalizer.open(db) as p:
        return dict(p.profiles.get("cust-1"))


def test_erase_without_a_terminal_refuses_unless_yes(tmp_path: Path) -> None:
    db = _store_with_profile(tmp_path)
    refused = run("subject", "erase", "cust-1", "--db", str(db), cwd=tmp_path)
    assert refused.returncode == 1
    assert "--yes" in refused.stderr and "refusing" in refused.stderr
    assert _profile(db) == {"city": "Leipzig"}  # nothing was erased

    done = run("subject", "erase", "cust-1", "--db", str(db), "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"ledger_seq"' in done.stdout
    with pytest.raises(sdk.errors.SubjectErased):
        _profile(db)


def _run_on_terminal(args: list[str], answer: str, cwd: Path) -> tuple[int, str]:
    """Run ``whylens`` with a pseudo-terminal as stdin/stdout and type ``answer`` at the prompt."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [WHYLENS, *args], cwd=cwd, env=ENV, stdin=follower, stdout=follower, stderr=follower
    )
    os.close(follower)
    seen, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(leader, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=60), seen.decode(errors="replace")


def test_erase_asks_on_a_terminal_and_no_changes_nothing(tmp_path: Path) -> None:
    db = _store_with_profile(tmp_path)
    code, out = _run_on_terminal(["subject", "erase", "cust-1", "--db", str(db)], "n", tmp_path)
    assert code == 1, out
    assert "cannot be undone" in out and "Nothing was changed" in out
    assert _profile(db) == {"city": "Leipzig"}

    code, out = _run_on_terminal(["subject", "erase", "cust-1", "--db", str(db)], "y", tmp_path)
    assert code == 0, out
    with pytest.raises(sdk.errors.SubjectErased):
        _profile(db)


def test_key_retirement_asks_too(tmp_path: Path) -> None:
    db = _store_with_profile(tmp_path)
    assert run("keys", "rotate", "--db", str(db), cwd=tmp_path).returncode == 0
    refused = run("keys", "retire", "--below", "2", "--db", str(db), cwd=tmp_path)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    with Personalizer.open(db) as p:
        assert p.keys.provider.min_version == 1
    done = run("keys", "retire", "--below", "2", "--db", str(db), "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Personalizer.open(db) as p:
        assert p.keys.provider.min_version == 2
        assert _profile_readable(p)


def _profile_readable(p: Personalizer) -> bool:
    return dict(p.profiles.get("cust-1")) == {"city": "Leipzig"}  # rewrapped before retirement


def _leaf_commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        if hasattr(command, "commands"):  # a group (typer ships its own copy of click)
            found += _leaf_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


LEAVES = _leaf_commands(command_group())
# the root and every group
GROUPS = [(), *sorted({leaf[:i] for leaf in LEAVES for i in range(1, len(leaf))})]


def test_the_walk_finds_the_commands() -> None:
    # a guard that the walk below is not vacuous; other branches add more commands
    assert {("init",), ("subject", "erase"), ("keys", "retire"), ("demo",)} <= set(LEAVES)


def test_every_command_help_ends_with_an_example(tmp_path: Path) -> None:
    # all at once: each is a short, separate `whylens CMD --help` process
    procs = {
        path: subprocess.Popen(
            [WHYLENS, *path, "--help"],
            cwd=tmp_path,
            env=ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in [*LEAVES, *GROUPS]
    }
    missing = []
    for path, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (path, err)
        lines = [line.strip(" │") for line in out.splitlines()]
        command = " ".join(("whylens", *path))
        has_example = any(line == "Example:" for line in lines) and any(
            line.startswith(command + " ") or line == command for line in lines
        )
        if not has_example:
            missing.append(" ".join(path))
    assert not missing, f"--help without an 'Example:' calling the command: {missing}"


def test_keys_public_is_the_key_that_verifies_exports(tmp_path: Path) -> None:
    db = _store_with_profile(tmp_path)
    with Personalizer.open(db) as p:
        p.audit.export(tmp_path / "export")
    key = run("keys", "public", "--db", str(db), cwd=tmp_path)
    assert key.returncode == 0, key.stderr
    pinned = key.stdout.strip()
    ok = run("audit", "verify", "export", "--pubkey", pinned, cwd=tmp_path)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    other = tmp_path / "other"
    other.mkdir()
    _store_with_profile(other)
    foreign = run("keys", "public", "--db", str(other / "shop.db"), cwd=tmp_path).stdout.strip()
    assert foreign != pinned
    refused = run("audit", "verify", "export", "--pubkey", foreign, cwd=tmp_path)
    assert refused.returncode != 0


def test_every_help_example_parses_with_the_command_it_documents() -> None:
    # the examples name real options and the right number of arguments (placeholders such as
    # dec_0190... are plain strings); a renamed option fails here, not in a reader's terminal
    import shlex

    group = command_group()
    checked = 0
    for path in LEAVES:
        command = group
        for name in path:
            command = command.commands[name]
        text = command.help or ""
        assert "Example:" in text, path
        example = text.split("Example:", 1)[1]
        for line in example.replace("\\\n", " ").splitlines():
            words = shlex.split(line.split(">")[0])
            if words[: len(path) + 1] != ["whylens", *path]:
                continue
            command.make_context(" ".join(path), words[len(path) + 1 :])
            checked += 1
    assert checked >= len(LEAVES)


def test_a_postgresql_url_is_refused_with_the_way_to_open_it(tmp_path: Path) -> None:
    for args in (["init"], ["consent", "state", "cust-1"]):
        result = run(*args, "--db", "postgresql://postgres@127.0.0.1:5432/x", cwd=tmp_path)
        assert result.returncode == 2
        assert "Personalizer.open(url, keyring=PATH)" in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []  # no file named after the URL
