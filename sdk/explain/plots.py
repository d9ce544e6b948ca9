"""Charts for reviewers: a waterfall from the base value to the score, and a bar chart.

Needs matplotlib, an optional extra: ``pip install 'whylens[plots]'``. No pyplot and no global
backend change: figures are drawn on their own canvas, so embedding apps keep their settings.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigurationError, ExplanationError

if TYPE_CHECKING:
    from ..types import Comparison, Explanation

__all__ = ["PIP_HINT", "bar_chart", "waterfall"]

PIP_HINT = "pip install 'whylens[plots]'"
Format = Literal["png", "svg"]
_UP, _DOWN = "#c0392b", "#2471a3"


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigurationError(f"plots need matplotlib; install it with: {PIP_HINT}") from None
    return Figure


def _rows(contributions: Mapping[str, float], top: int) -> list[tuple[str, float]]:
    ordered = sorted(contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    rows = ordered[:top]
    rest = ordered[top:]
    if rest:
        rows.append((f"{len(rest)} other features", sum(v for _, v in rest)))
    return rows


def _save(fig: Any, path: str | Path | None, fmt: Format) -> bytes:
    if fmt not in ("png", "svg"):
        raise ConfigurationError("plot format must be 'png' or 'svg'")
    import matplotlib

    buffer = io.BytesIO()
    # fixed salt and no date: the same explanation gives the same bytes
    with matplotlib.rc_context({"svg.hashsalt": "whylens"}):
        fig.savefig(
            buffer,
            format=fmt,
            bbox_inches="tight",
            metadata={"Date": None} if fmt == "svg" else {"Software": None},
        )
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def waterfall(
    explanation: Explanation,
    path: str | Path | None = None,
    *,
    format: Format = "png",
    top: int = 12,
) -> bytes:
    """From the base value through each feature's contribution to the score (PNG or SVG bytes;
    also written to ``path`` when given). Features beyond ``top`` are drawn as one bar."""
    if explanation.score is None:
        raise ExplanationError(
            "this explanation has no score to draw: it went with the person's key on erasure"
        )
    Figure = _figure()
    contributions = dict(explanation.contributions)
    hidden = explanation.score - explanation.base_value - sum(contributions.values())
    if abs(hidden) > 1e-12:  # an end-user view leaves held-back features out: show them as one
        contributions["other factors"] = hidden
    rows = _rows(contributions, top)
    fig = Figure(figsize=(8, 0.45 * len(rows) + 1.6))
    ax = fig.subplots()
    level = explanation.base_value
    labels = []
    for i, (name, value) in enumerate(rows):
        ax.barh(i, value, left=level, color=_UP if value > 0 else _DOWN)
        ax.text(level + value, i, f" {value:+.3f}", va="center", fontsize=8)
        labels.append(name)
        level += value
    ax.axvline(explanation.base_value, color="grey", linestyle=":", linewidth=1)
    ax.axvline(explanation.score, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(
        f"raw score: base {explanation.base_value:+.3f} -> score {explanation.score:+.3f}"
    )
    ax.set_title(f"{explanation.model} v{explanation.model_version}: {explanation.decision_id}")
    return _save(fig, path, format)


def bar_chart(
    explanation: Explanation | Comparison,
    path: str | Path | None = None,
    *,
    format: Format = "png",
    top: int = 12,
) -> bytes:
    """Contributions (or, for a comparison, differences) as horizontal bars, largest first."""
    Figure = _figure()
    rows = _rows(explanation.contributions, top)
    fig = Figure(figsize=(8, 0.45 * len(rows) + 1.4))
    ax = fig.subplots()
    values = [v for _, v in rows]
    ax.barh(range(len(rows)), values, color=[_UP if v > 0 else _DOWN for v in values])
    ax.set_yticks(range(len(rows)), [n for n, _ in rows])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("contribution to the raw score")
    ax.set_title(explanation.decision_id)
    return _save(fig, path, format)
