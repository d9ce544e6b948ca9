"""No import cycles between sdk's packages: a lower layer never imports a higher one.

The graph is built from the source (AST), every import counted: module level, inside functions,
and under ``TYPE_CHECKING`` (a type-only import is still a dependency a reader must follow).
Nodes are sdk's top-level packages and modules (``audit``, ``consent``, ``personalizer``...).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SDK = Path(__file__).resolve().parents[1] / "sdk"

# Edges that are known and owned elsewhere, each with why; remove an entry once it is gone.
KNOWN: dict[tuple[str, str], str] = {
}


def _imports(path: Path) -> set[str]:
    """Absolute names of the sdk modules and packages one file imports."""
    parts = list(path.relative_to(SDK.parent).with_suffix("").parts)
    package = parts[:-1]  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            if node.module is None:  # from . import x: x may be a subpackage
                found.update(f"{name}.{a.name}" for a in node.names)
    return {n for n in found if n == "sdk" or n.startswith("sdk.")}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1].removesuffix(".py") if len(parts) > 1 else None


def package_graph() -> dict[str, set[str]]:
    """Top-level package -> the top-level packages its files import (known edges left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SDK.rglob("*.py")):
        rel = path.relative_to(SDK).as_posix()
        source = rel.split("/")[0].removesuffix(".py")
        if source == "__init__":
            continue  # the facade re-exports every layer by design (lazily)
        for target in map(_layer, _imports(path)):
            if target is None or target == source or (rel, target) in KNOWN:
                continue
            graph[source].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle through the smallest node of it (tiny graph: plain DFS)."""
    found: list[list[str]] = []
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt > start and nxt not in path:
                walk(start, nxt, [*path, nxt])

    for start in nodes:
        walk(start, start, [start])
    return found


def test_the_graph_sees_imports_of_every_kind() -> None:
    graph = package_graph()
    assert "ledger" in graph["consent"]  # module level
    assert "keys" in graph["consent"]
    assert {"audit", "serving", "subjects"} <= graph["personalizer"]


def test_no_package_level_import_cycles() -> None:
    cycles = _cycles(package_graph())
    assert cycles == [], "import cycles between sdk packages: " + "; ".join(
        " -> ".join(c) for c in cycles
    )


def test_known_exceptions_still_exist() -> None:
    """An exception whose edge disappeared must be removed from KNOWN (a file that is gone
    makes its entry inert; remove it then too)."""
    for (rel, target), why in KNOWN.items():
        path = SDK / rel
        if not path.exists():
            continue
        assert target in {_layer(m) for m in _imports(path)}, f"drop KNOWN entry {rel}: {why}"


def test_the_cycle_check_fails_on_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
