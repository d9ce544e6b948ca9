"""Figures the server tests measured, for the closing note of the test run.

Tests (in any xdist worker) write one line each under ``.pytest_cache/whylens-server/``; the
root conftest's ``pytest_terminal_summary`` prints those written during this run.
"""

from __future__ import annotations

import time
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[2] / ".pytest_cache" / "whylens-server"


def note(key: str, line: str) -> None:
    """Record one figure (the latest per key wins)."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / f"{key}.txt").write_text(line)


def lines_since(started: float) -> list[str]:
    """The figures written since ``started`` (POSIX time), by key."""
    if not FOLDER.is_dir():
        return []
    return [p.read_text() for p in sorted(FOLDER.glob("*.txt")) if p.stat().st_mtime >= started]


def now() -> float:
    return time.time()
