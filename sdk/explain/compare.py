"""Why item A is ranked above item B: the difference of their exact attributions.

Within one request both items are scored by the same model version, so their base values are equal
and ``sum(phi_a - phi_b) == score_a - score_b`` exactly (up to float rounding, which is recorded as
the additivity residual). Concepts group the differences like any other attribution, and the
end-user text follows the same privacy rules as a single item's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DecisionNotFound, ExplanationError
from ..types import Audience, Comparison
from .concepts import end_user_reasons, reviewer_reasons
from .narrative import pair_text

if TYPE_CHECKING:
    from ..models.registry import Model

__all__ = ["compare_items"]


def compare_items(
    data: Mapping[str, Any],
    model: Model,
    item_a: str,
    item_b: str,
    *,
    audience: Audience = "end_user",
    locale: str = "en",
) -> Comparison:
    """Compare two served items of one recommendation record (``data``) for ``audience``."""
    if item_a == item_b:
        raise ExplanationError("compare two different items")
    a, b = _find(data["items"], item_a), _find(data["items"], item_b)
    names = model.schema.names
    if len(a["contributions"]) != len(names) or len(b["contributions"]) != len(names):
        raise ExplanationError("record's attribution vectors do not match the model's features")
    diff = {
        n: float(x) - float(y)
        for n, x, y in zip(names, a["contributions"], b["contributions"], strict=True)
    }
    score_a, score_b = float(a["score"]), float(b["score"])
    residual = abs(sum(diff.values()) + float(a["base_value"]) - float(b["base_value"]) - (
        score_a - score_b
    ))
    masked = data["consent"]["masked"]
    shown = end_user_reasons(model.schema, diff, masked=masked, limit=3, locale=locale)
    common: dict[str, Any] = {
        "decision_id": data["decision_id"],
        "item_a": item_a,
        "item_b": item_b,
        "audience": audience,
        "locale": locale,
        "score_a": score_a,
        "score_b": score_b,
    }
    if audience == "end_user":
        return Comparison(
            **common,
            text=pair_text(shown, locale=locale),
            reasons=shown.reasons,
            contributions={n: v for n, v in diff.items() if n not in shown.suppressed},
            other_share=1.0 - shown.shown_share,
        )
    if audience not in ("reviewer", "auditor"):
        raise ExplanationError(f"unknown audience {audience!r}; use end_user, reviewer or auditor")
    reasons = reviewer_reasons(model.schema, diff)
    lines = [f"score {item_a} {score_a:+.4f} - score {item_b} {score_b:+.4f} = "
             f"{score_a - score_b:+.4f} = sum of differences (residual {residual:.3g})"]
    for r in reasons:
        flag = "  [hidden from the person]" if r.features[0] in shown.suppressed else ""
        lines.append(f"  {r.contribution:+.4f}  {r.features[0]}  ({r.label}){flag}")
    return Comparison(
        **common,
        text="\n".join(lines),
        reasons=reasons,
        contributions=diff,
        other_share=0.0,
        suppressed=shown.suppressed,
        additivity_residual=residual,
    )


def _find(items: Sequence[Mapping[str, Any]], item_id: str) -> Mapping[str, Any]:
    for item in items:
        if item["item_id"] == item_id:
            return item
    raise DecisionNotFound("that item was not served in this recommendation")
