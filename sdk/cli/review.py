"""``whylens review``: the decisions held for a person, approved or overridden."""

from __future__ import annotations

from typing import Annotated

import typer

from ._options import Store, console, store_options

__all__ = ["review_app"]

review_app = typer.Typer(help="Review held decisions.", no_args_is_help=True)


@review_app.command("list")
@store_options
def review_list(store: Store) -> None:
    """Decisions waiting for a person."""
    with store.open() as p:
        pending = p.reviews.pending()
    if not pending:
        console.print("No decisions are waiting for review.")
    for d in pending:
        console.print(
            f"{d.decision_id}  {d.model} v{d.model_version}  "
            f"p={'erased' if d.probability is None else format(d.probability, '.3f')}  "
            f"{'contested' if d.contested else d.review_trigger}"
        )


@review_app.command("approve")
@store_options
def review_approve(
    decision_id: str,
    reviewer: Annotated[str, typer.Option(help="Your staff id.")],
    store: Store,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Confirm a held decision."""
    with store.open() as p:
        decision = p.reviews.approve(decision_id, reviewer=reviewer, note=note)
    console.print(f"{decision.decision_id}: {decision.status}, outcome {decision.outcome}")


@review_app.command("override")
@store_options
def review_override(
    decision_id: str,
    outcome: Annotated[str, typer.Option(help="The outcome to apply.")],
    reviewer: Annotated[str, typer.Option(help="Your staff id.")],
    reason: Annotated[str, typer.Option(help="Why (required).")],
    store: Store,
) -> None:
    """Change a decision's outcome, with a reason."""
    with store.open() as p:
        decision = p.reviews.override(
            decision_id, outcome=outcome, reviewer=reviewer, reason=reason
        )
    console.print(f"{decision.decision_id}: {decision.status}, outcome {decision.outcome}")
