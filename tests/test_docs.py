"""Every code block in the docs runs.

Each page of ``docs/**/*.md`` (and ``README.md``) is run on its own, in a fresh temporary folder
holding a ``data`` link to the shared data sets: its ```python blocks in order, in one namespace,
and the ``whylens`` command lines of its ```console / ```sh blocks, interleaved as the page shows
them. A block that cannot run here is preceded by ``<!-- docs-test: skip REASON -->`` (the reason
is required); blocks in other languages (``text``, diagrams) are not code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from conftest import DATA

ROOT = Path(__file__).resolve().parents[1]
PYTHON = {"python", "py", "python3", "pycon"}
SHELL = {"console", "sh", "shell", "bash"}
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(?P<reason>[^>]*?)-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the block's first line of code, 1-based
    kind: str  # "python" or "shell"
    source: str
    skipped: str | None  # the reason given for not running it

    @property
    def commands(self) -> list[str]:
        """The ``whylens`` command lines of a shell block (``$ `` prompts or bare lines)."""
        lines = self.source.splitlines()
        prompted = any(line.startswith("$ ") for line in lines)
        commands, current = [], ""
        for line in lines:
            if prompted and not current:
                if not line.startswith("$ "):
                    continue  # output shown on the page
                line = line[2:]
            current += line.lstrip() if current else line
            if current.endswith("\\"):
                current = current[:-1]
                continue
            if current.split() and current.split()[0] == "whylens":
                commands.append(current)
            current = ""
        return commands


def docs_pages() -> list[Path]:
    pages = [p for p in sorted((ROOT / "docs").rglob("*.md")) if "hooks" not in p.parts]
    return [ROOT / "README.md", *pages]


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        words = match["info"].strip().strip("{}").lstrip(".").split()
        language = words[0].lower() if words else ""
        kind = "python" if language in PYTHON else "shell" if language in SHELL else None
        if kind is None:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        found.append(
            Block(
                page=page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else page.name,
                line=text.count("\n", 0, match.start()) + 2,
                kind=kind,
                source=body + "\n",
                skipped=skip["reason"].strip() if skip else None,
            )
        )
    return found


def runnable(page: Path) -> list[Block]:
    blocks = [b for b in blocks_of(page) if b.skipped is None]
    return [b for b in blocks if b.kind == "python" or b.commands]


PAGES = [page for page in docs_pages() if runnable(page)]

# Runs in the page's folder: python blocks in one module namespace (tracebacks name the page and its
# line), shell command lines through bash with the project's `whylens` first on PATH.
DRIVER = r"""
import json, subprocess, sys, types
page = types.ModuleType("__main__")  # a real module, so `ROOT_URLCONF=__name__` and pickling work
sys.modules["__main__"] = page
namespace = page.__dict__
for block in json.load(open(sys.argv[1])):
    if block["kind"] == "python":
        code = compile("\n" * (block["line"] - 1) + block["source"], block["page"], "exec")
        exec(code, namespace)
        continue
    for command in block["commands"]:
        done = subprocess.run(["bash", "-c", "set -o pipefail; " + command],
                              capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        if done.returncode != 0:
            sys.exit(f"{block['page']}:{block['line']}: `{command}` exited "
                     f"{done.returncode}\n{done.stderr}")
"""


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_code_runs(page: Path, tmp_path: Path) -> None:
    (tmp_path / "data").symlink_to(DATA, target_is_directory=True)
    plan = tmp_path / ".blocks.json"
    plan.write_text(json.dumps([{**asdict(b), "commands": b.commands} for b in runnable(page)]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHYLENS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["COLUMNS"] = "120"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(plan)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"{page.name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    )


def test_skipped_blocks_say_why_and_are_rare() -> None:
    skipped = [b for page in docs_pages() for b in blocks_of(page) if b.skipped is not None]
    assert all(b.skipped for b in skipped), [f"{b.page}:{b.line}" for b in skipped if not b.skipped]
    total = sum(len(blocks_of(page)) for page in docs_pages())
    assert len(skipped) * 10 <= total, "more than one block in ten is not run"


def test_the_collector_finds_blocks_and_commands(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n- item\n\n  ```py\n  y = x + 1\n  ```\n\n"
        "```console\n$ whylens --version\nwhylens 0.1.0\n$ make demo\n```\n\n"
        "```sh\nwhylens audit verify \\\n  --db shop.db\n```\n\n"
        "<!-- docs-test: skip needs a cluster -->\n```python\nboom()\n```\n\n"
        "```text\nnot code\n```\n"
    )
    found = blocks_of(page)
    assert [(b.kind, b.skipped) for b in found] == [
        ("python", None),
        ("python", None),
        ("shell", None),
        ("shell", None),
        ("python", "needs a cluster"),
    ]
    assert found[1].source == "y = x + 1\n" and found[1].line == 10
    assert found[2].commands == ["whylens --version"]
    assert found[3].commands == ["whylens audit verify --db shop.db"]


def test_every_page_with_code_is_collected() -> None:
    # guards against a collector that silently finds nothing
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"docs/index.md", "docs/getting-started.md", "docs/guides/backend.md"} <= names


def _hooks():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs/hooks/generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_error_code_table_lists_every_error_with_its_code() -> None:
    from sdk import errors

    rows = {name: code for name, code, _, _ in _hooks().error_rows()}
    classes = {
        name: cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type) and issubclass(cls, errors.WhylensError)
    }
    assert rows == {name: cls.code for name, cls in classes.items()}
    assert "<!-- whylens:error-codes -->" in (ROOT / "docs/reference/errors.md").read_text()


def test_every_public_subpackage_has_an_api_page() -> None:
    import sdk

    pages = {p.stem: p.read_text() for p in (ROOT / "docs/api").glob("*.md")}
    # the lazily exported subpackages, and the ones users import directly
    for name in sorted(sdk._SUBPACKAGES | {"keys"}):
        assert f"::: sdk.{name}" in pages.get(name, ""), f"docs/api/{name}.md missing"
    assert "<!-- whylens:sdk-names -->" in pages["sdk"]
    listed = [n for names in _hooks().sdk_names().values() for n in names]
    assert sorted(listed) == sorted(n for n in sdk.__all__ if not n.startswith("__"))
