"""``whylens why``: the explanation of a decision or a recommended item, per audience."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

from ._options import Store, console, store_options

if TYPE_CHECKING:
    from ..types import Audience

__all__ = ["why"]


@store_options
def why(
    decision_id: str,
    store: Store,
    audience: Annotated[str, typer.Option(help="end_user, reviewer or auditor")] = "end_user",
    locale: Annotated[str, typer.Option(help="en or de")] = "en",
    item: Annotated[str | None, typer.Option(help="Item id, for a recommendation.")] = None,
    counterfactual: Annotated[
        bool, typer.Option(help="Add what would change a decision's outcome.")
    ] = False,
) -> None:
    """Explain a decision or a recommended item."""
    with store.open() as p:
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
