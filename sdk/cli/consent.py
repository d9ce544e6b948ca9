"""``whylens consent``: record and read consent (and ``verify-receipt``, from
:mod:`sdk.cli.receipts`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ._options import Store, console, store_options
from .receipts import consent_verify_receipt

__all__ = ["consent_app"]

consent_app = typer.Typer(help="Record and read consent.", no_args_is_help=True)


@consent_app.command("grant")
@store_options
def consent_grant(
    subject: str,
    purposes: list[str],
    store: Store,
    notice: Annotated[str | None, typer.Option(help="Id of the notice shown.")] = None,
    source: Annotated[str | None, typer.Option(help="Where consent was given.")] = None,
) -> None:
    """Record a grant of one or more purposes."""
    with store.open() as p:
        receipt = p.consent.grant(subject, purposes, notice=notice, source=source)
    console.print_json(receipt.model_dump_json())


@consent_app.command("withdraw")
@store_options
def consent_withdraw(
    subject: str,
    purposes: list[str],
    store: Store,
    source: Annotated[str | None, typer.Option(help="Where consent was withdrawn.")] = None,
) -> None:
    """Record a withdrawal of one or more purposes."""
    with store.open() as p:
        receipt = p.consent.withdraw(subject, purposes, source=source)
    console.print_json(receipt.model_dump_json())


@consent_app.command("state")
@store_options
def consent_state(subject: str, store: Store) -> None:
    """A subject's consent to each purpose now."""
    with store.open() as p:
        state = p.consent.state(subject)
    for purpose, status in state.purposes.items():
        console.print(f"{purpose:<16} {status}")


@consent_app.command("history")
@store_options
def consent_history(subject: str, store: Store) -> None:
    """Every grant and withdrawal of a subject."""
    with store.open() as p:
        for event in p.consent.history(subject):
            console.print(
                f"#{event.seq:<6} {event.at:%Y-%m-%d %H:%M:%S} {event.action:<9} {event.purpose}"
            )


consent_app.command("verify-receipt")(consent_verify_receipt)
