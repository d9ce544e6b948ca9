"""The public surface: names, typing marker, fast import, CLI, examples that run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sdk
from sdk import Personalizer
from sdk.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_importable() -> None:
    assert sdk.__all__ == sorted(sdk.__all__)
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None
        if name != "__version__":
            assert getattr(sdk, name).__doc__, f"{name} has no docstring"
    assert (ROOT / "sdk" / "py.typed").exists()


def test_import_is_fast_and_lazy() -> None:
    code = (
        "import sys, sdk; heavy = [m for m in ('lightgbm', 'shap', 'pandas') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_boundary_models_are_strict_frozen_and_closed() -> None:
    from pydantic import ValidationError

    from sdk.types import Frozen, Notice

    notice = Notice(notice_id="n1")
    with pytest.raises(ValidationError):
        notice.notice_id = "n2"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Notice(notice_id="n1", colour="red")  # type: ignore[call-arg]
    assert Frozen.model_config["strict"] is True
    assert "properties" in sdk.Decision.model_json_schema()


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_run(example: Path) -> None:
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "True" in out.stdout


# the CLI takes a database file (--db); no --keyring for server URLs yet
@pytest.mark.sqlite_only
def test_cli_consent_why_review_audit(credit, db_path: Path, tmp_path: Path) -> None:
    p, frame, schema = credit
    from conftest import feature_row

    decision = p.decide(frame["subject"].iloc[0], feature_row(frame, schema, 0), model="credit")
    runner = CliRunner()
    db = ["--db", str(db_path)]
    result = runner.invoke(app, ["consent", "grant", "cli-user", "analytics", *db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["consent", "state", "cli-user", *db])
    assert "analytics" in result.output and "given" in result.output
    result = runner.invoke(app, ["why", decision.decision_id, *db])
    assert result.exit_code == 0 and decision.why[:30] in " ".join(result.output.split())
    assert decision.disclosure and decision.disclosure.text in " ".join(result.output.split())
    result = runner.invoke(app, ["why", decision.decision_id, "--audience", "auditor", *db])
    assert "sha256:" in result.output
    result = runner.invoke(app, ["review", "override", decision.decision_id, "--outcome",
                                 "approved", "--reviewer", "rev.cli", "--reason", "checked", *db])
    assert result.exit_code == 0 and "overridden" in result.output
    result = runner.invoke(app, ["audit", "verify", *db])
    assert result.exit_code == 0 and "OK" in result.output
    result = runner.invoke(app, ["audit", "export", str(tmp_path / "exp"), *db])
    assert result.exit_code == 0
    result = runner.invoke(app, ["audit", "verify", str(tmp_path / "exp")])
    assert result.exit_code == 1 and "whylens keys public" in result.output  # nothing pinned
    result = runner.invoke(app, ["keys", "public", *db])
    (tmp_path / "whylens.pub").write_text(result.output)
    trust = ["--trust", str(tmp_path / "whylens.pub")]
    result = runner.invoke(app, ["audit", "verify", str(tmp_path / "exp"), *trust])
    assert result.exit_code == 0 and "OK" in result.output


def test_cli_errors_are_clear_and_exit_2(tmp_path: Path) -> None:
    with Personalizer.open(tmp_path / "w.db"):
        pass
    out = subprocess.run(
        [sys.executable, "-m", "sdk.cli", "consent", "grant", "someone", "telepathy", "--db",
         str(tmp_path / "w.db")],
        capture_output=True, text=True,
    )
    assert out.returncode == 2
    assert "unknown purpose 'telepathy'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "module",
    ["sdk.audit", "sdk.consent", "sdk.consent.tcf", "sdk.crypto", "sdk.explain", "sdk.ledger",
     "sdk.models", "sdk.subjects", "sdk.cli", "sdk.telemetry"],
)
def test_each_package_imports_on_its_own(module: str) -> None:
    """Experts use the parts on their own: no import cycle may depend on import order."""
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-1500:]
