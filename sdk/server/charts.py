"""Server-side SVG charts (no script, no inline style: they pass a strict CSP).

Colours come from classes in ``static/whylens.css``; every chart has a text alternative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from ..types import Reason

__all__ = ["Bar", "bars", "rate_chart", "waterfall"]


class Bar:
    """One bar of a "what counted most" list: a label, its width in px, and its direction."""

    def __init__(self, label: str, width: int, positive: bool) -> None:
        self.label = label
        self.width = width
        self.positive = positive


def bars(reasons: Sequence[Reason], *, full: int = 160) -> list[Bar]:
    """The reasons as bars scaled to the largest (at least 4 px so each is visible)."""
    top = max((abs(r.contribution) for r in reasons), default=0.0) or 1.0
    return [
        Bar(r.label, max(4, round(full * abs(r.contribution) / top)), r.contribution >= 0)
        for r in reasons
    ]


def waterfall(
    contributions: Mapping[str, float],
    labels: Mapping[str, str],
    base: float,
    score: float,
    *,
    top: int = 10,
) -> Markup:
    """A SHAP waterfall: from the base value, each feature's exact contribution, to the score."""
    items = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
    shown = items[:top]
    rest = sum(v for _, v in items[top:])
    rows = [(_short(labels.get(k, k)), v) for k, v in shown]
    if len(items) > top:
        rows.append((f"{len(items) - top} other features", rest))
    points = [base]
    for _, v in rows:
        points.append(points[-1] + v)
    lo, hi = min([*points, score]), max([*points, score])
    span = (hi - lo) or 1.0
    left, width, row_h = 330, 360, 24
    height = row_h * (len(rows) + 2) + 10

    def x(v: float) -> float:
        return left + (v - lo) / span * width

    out = [
        f'<svg class="waterfall" viewBox="0 0 {left + width + 80} {height}" role="img" '
        f'aria-labelledby="wf-title"><title id="wf-title">SHAP waterfall: base value '
        f"{base:.3f}, score {score:.3f}</title>"
    ]
    y = 5
    out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="wf-label">'
               f"base value</text>")
    out.append(f'<text x="{x(base) + 4:.1f}" y="{y + 16}" class="wf-value">{base:+.3f}</text>')
    for i, (label, v) in enumerate(rows):
        y = 5 + row_h * (i + 1)
        a, b = x(points[i]), x(points[i + 1])
        cls = "wf-pos" if v >= 0 else "wf-neg"
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="wf-label">'
                   f"{escape(label)}</text>")
        out.append(f'<rect x="{min(a, b):.1f}" y="{y + 4}" width="{max(abs(b - a), 1.5):.1f}" '
                   f'height="{row_h - 8}" class="{cls}"/>')
        out.append(f'<text x="{max(a, b) + 4:.1f}" y="{y + 16}" class="wf-value">{v:+.3f}</text>')
    y = 5 + row_h * (len(rows) + 1)
    out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="wf-label">'
               f"score</text>")
    out.append(f'<line x1="{x(score):.1f}" y1="5" x2="{x(score):.1f}" y2="{y + 20}" '
               'class="wf-axis"/>')
    out.append(f'<text x="{x(score) + 4:.1f}" y="{y + 16}" class="wf-value">{score:+.3f}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def rate_chart(rates: Sequence[tuple[str, float, bool]], *, title: str) -> Markup:
    """Horizontal bars of rates in [0, 1] per group; flagged groups get their own class."""
    left, width, row_h = 330, 300, 24
    height = row_h * len(rates) + 10
    out = [
        f'<svg class="rates" viewBox="0 0 {left + width + 70} {height}" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    for i, (group, rate, flagged) in enumerate(rates):
        y = 5 + i * row_h
        cls = "rate-flag" if flagged else "rate"
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end" class="wf-label">'
                   f"{escape(_short(group))}</text>")
        out.append(f'<rect x="{left}" y="{y + 4}" width="{max(1.0, rate * width):.1f}" '
                   f'height="{row_h - 8}" class="{cls}"/>')
        out.append(f'<text x="{left + rate * width + 4:.1f}" y="{y + 16}" class="wf-value">'
                   f"{rate:.1%}</text>")
    out.append("</svg>")
    return Markup("".join(out))


def _short(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
