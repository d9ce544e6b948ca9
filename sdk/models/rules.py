"""Include / exclude / promote rules, evaluated on the candidates before anything is scored.

A rule compares one candidate column with a value::

    Rule(action="exclude", column="category", op="in", value=["jewellery"], name="no-jewellery")
    Rule(action="include", column="item_price_eur", op="<=", value=100)
    Rule(action="promote", column="item_id", op="in", value=["item-017"], name="winter-sale")

``exclude`` drops matching candidates; ``include`` keeps only matching ones (several include
rules must all match); ``promote`` pins the matching candidates (best scored first) to the top
``slots`` places, tagged ``promoted`` and disclosed in their why. Every rule's effect (how many
candidates it matched) goes on the decision record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from ..errors import FeatureError
from ..types import Frozen

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Rule", "RuleOutcome", "apply_rules"]

Op = Literal["==", "!=", "in", "not_in", "<", "<=", ">", ">="]


class Rule(Frozen):
    """One include, exclude or promote rule over a candidate column."""

    action: Literal["include", "exclude", "promote"]
    column: str = Field(min_length=1, max_length=128)
    op: Op = "=="
    value: str | int | float | bool | tuple[str | int | float | bool, ...]
    name: str = Field(default="", max_length=64)
    slots: int = Field(default=1, ge=1, le=100)
    """For ``promote``: how many top places the promoted items may take."""

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value"), list | set | frozenset):
            data = {**data, "value": tuple(data["value"])}
        return data

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.op in ("in", "not_in") and not isinstance(self.value, tuple):
            raise ValueError(f"op {self.op!r} needs a list of values")
        if self.op not in ("in", "not_in") and isinstance(self.value, tuple):
            raise ValueError(f"op {self.op!r} needs one value, not a list")
        return self

    def matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the candidates this rule matches."""
        if self.column not in frame.columns:
            raise FeatureError(f"rule {self.label!r} names a column the candidates lack")
        col = frame[self.column]
        try:
            if self.op == "in":
                out = col.isin(list(self.value))  # type: ignore[arg-type]
            elif self.op == "not_in":
                out = ~col.isin(list(self.value))  # type: ignore[arg-type]
            elif self.op == "==":
                out = col == self.value
            elif self.op == "!=":
                out = col != self.value
            elif self.op == "<":
                out = col < self.value
            elif self.op == "<=":
                out = col <= self.value
            elif self.op == ">":
                out = col > self.value
            else:
                out = col >= self.value
        except TypeError:
            raise FeatureError(
                f"rule {self.label!r} compares column {self.column!r} with a value of another type"
            ) from None
        return np.asarray(out, dtype=bool)

    @property
    def label(self) -> str:
        """The rule's name, or a description of it."""
        return self.name or f"{self.action} {self.column} {self.op}"

    def record(self, matched: int) -> dict[str, Any]:
        """What the decision record keeps about this rule (never the candidate values)."""
        return {
            "name": self.name,
            "action": self.action,
            "column": self.column,
            "op": self.op,
            "matched": matched,
        }


@dataclass(frozen=True)
class RuleOutcome:
    """Which candidates survive, which are promoted (with their slots), and the record."""

    keep: np.ndarray
    promoted: np.ndarray
    slots: int
    records: list[dict[str, Any]]


def apply_rules(frame: pd.DataFrame, rules: Sequence[Rule]) -> RuleOutcome:
    """Evaluate ``rules`` on the candidates; ``keep`` and ``promoted`` are masks over rows."""
    n = len(frame)
    keep = np.ones(n, dtype=bool)
    promoted = np.zeros(n, dtype=bool)
    slots = 0
    records = []
    for rule in rules:
        if not isinstance(rule, Rule):
            raise FeatureError("rules must be sdk.models.rules.Rule objects")
        hit = rule.matches(frame)
        if rule.action == "exclude":
            keep &= ~hit
        elif rule.action == "include":
            keep &= hit
        else:
            promoted |= hit
            slots = max(slots, rule.slots)
        records.append(rule.record(int(hit.sum())))
    return RuleOutcome(keep=keep, promoted=promoted & keep, slots=slots, records=records)
