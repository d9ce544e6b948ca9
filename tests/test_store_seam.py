"""The storage seam holds: SQL text, database drivers and SQLAlchemy live only in sdk/_store/."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SDK = Path(__file__).resolve().parents[1] / "sdk"
STORE = SDK / "_store"
_SQL = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|WITH)\b",
    re.IGNORECASE,
)
_DRIVERS = ("sqlite3", "sqlalchemy", "alembic", "psycopg", "psycopg_pool")


def _outside_store() -> list[Path]:
    return [p for p in SDK.rglob("*.py") if STORE not in p.parents]


def _sql_strings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(
                    v.value, str
                )
            )
        else:
            continue
        # a statement, not prose: the keyword then an SQL shape (e.g. "SELECT x FROM")
        if _SQL.match(text) and re.search(
            r"\b(FROM|INTO|SET|TABLE|INDEX|WHERE|VALUES|TRANSACTION|IMMEDIATE|journal_mode|"
            r"synchronous|wal_checkpoint)\b",
            text,
        ):
            found.append((getattr(node, "lineno", 0), text[:60]))
    return found


def test_no_sql_text_outside_the_store_backends() -> None:
    offenders = []
    for path in _outside_store():
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, text in _sql_strings(tree):
            offenders.append(f"{path.relative_to(SDK.parent)}:{line}: {text!r}")
    assert offenders == []


def test_the_checker_finds_sql() -> None:
    """The scan above would catch a statement (it is not vacuous)."""
    tree = ast.parse('q = "SELECT value FROM whylens_meta WHERE key = ?"\nf"UPDATE t SET {x}"')
    assert {line for line, _ in _sql_strings(tree)} == {1, 2}
    assert _sql_strings(ast.parse('"Select a model first"\n"update the card"')) == []


def test_no_driver_imports_outside_the_store() -> None:
    offenders = []
    for path in _outside_store():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in _DRIVERS:
                    offenders.append(f"{path.relative_to(SDK.parent)}:{node.lineno}: {name}")
    assert offenders == []


def test_import_sdk_and_opening_an_existing_store_load_no_sqlalchemy(tmp_path: Path) -> None:
    """SQLAlchemy and Alembic are for creating and migrating; an up-to-date store opens without
    them (a fresh process, so nothing else imported them first)."""
    from sdk import Personalizer

    Personalizer.open(tmp_path / "w.db").close()
    code = (
        "import sys\n"
        "from sdk import Personalizer\n"
        f"Personalizer.open({str(tmp_path / 'w.db')!r}).close()\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
