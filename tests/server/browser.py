"""Playwright on Debian's Chromium, with axe-core (npm, from this folder's lock file)."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .notes import note

AXE = Path(__file__).parent / "axe"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def axe_script() -> Path:
    """axe.min.js, installed with ``npm ci`` from the lock file on first use."""
    script = AXE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is needed for the accessibility checks (apt-get install npm)")
        lock_path = Path(tempfile.gettempdir()) / "whylens-axe-npm.lock"
        with lock_path.open("w") as lock:  # two xdist workers: one npm ci
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not script.exists():
                subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                               cwd=AXE, check=True, capture_output=True, timeout=300)
    return script


def check_axe(page: Any) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.0-2.2 A and AA rules) on the page; the serious and critical
    violations (there must be none)."""
    page.add_script_tag(path=str(axe_script()))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    _PAGES.append((page.url.split("?")[0].split("/why/")[0], len(bad)))
    note("axe", f"axe-core: {len(_PAGES)} page checks, "
         f"{sum(n for _, n in _PAGES)} serious or critical violations")
    return bad


def shoot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    _SHOTS.append(path)
    note("screenshots", "screenshots: " + ", ".join(
        str(p.relative_to(SCREENSHOTS.parents[1])) for p in _SHOTS))
    return path


_PAGES: list[tuple[str, int]] = []
_SHOTS: list[Path] = []
