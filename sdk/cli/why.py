"""``whylens why``: the explanation of a decision or a recommended item, per audience."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from ._options import DbOption, SigningKeyOption, console, open_store

if TYPE_CHECKING:
    from ..types import Audience

__all__ = ["why"]


def why(
    decision_id: str,
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    audience: Annotated[str, typer.Option(help="end_user, reviewer or auditor")] = "end_user",
    locale: Annotated[str, typer.Option(help="en or de")] = "en",
    item: Annotated[str | None, typer.Option(help="Item id, for a recommendation.")] = None,
    counterfactual: Annotated[
        bool, typer.Option(help="Add what would change a decision's outcome.")
    ] = False,
) -> None:
    """Explain a decision or a recommended item."""
    with open_store(db, signing_key) as p:
        if audience not in ("end_user", "reviewer", "auditor"):
            raise typer.BadParameter("use end_user, reviewer or auditor", param_hint="--audience")
        explanation = p.explain(
            decision_id,
            audience=cast("Audience", audience),
            locale=locale,
            item_id=item,
            counterfactual=counterfactual,
        )
    console.print(explanation.text, markup=False)
    if explanation.disclosure is not None:  # who made it, and how to reach a person
        console.print(explanation.disclosure.text, markup=False)
        console.print(explanation.disclosure.contact, markup=False)
