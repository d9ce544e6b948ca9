"""``whylens models``: model versions listed, signed off and shadowed."""

from __future__ import annotations

from typing import Annotated

import typer

from ._options import Store, console, store_options

__all__ = ["models_app"]

models_app = typer.Typer(help="Model versions: list, sign off, shadow.", no_args_is_help=True)


@models_app.command("list")
@store_options
def models_list(store: Store) -> None:
    """Every model version with its hash, metrics, rows left out and sign-off."""
    with store.open() as p:
        for card in p.models.list():
            signed = p.models.sign_off_of(card.name, card.version)
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in card.metrics.items())
            console.print(
                f"{card.name} v{card.version} ({card.kind}) sha256:{card.content_hash[:16]}... "
                f"{metrics}; rows used {card.rows_used}, left out {card.left_out_by_purpose}; "
                + (f"signed off by {signed.reviewer}" if signed else "NOT signed off"),
                highlight=False,
            )


@models_app.command("sign-off")
@store_options
def models_sign_off(
    name: str,
    version: int,
    reviewer: Annotated[str, typer.Option(help="Your staff id.")],
    store: Store,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Approve a model version for serving (recorded on the ledger)."""
    with store.open() as p:
        record = p.models.sign_off(name, version, reviewer=reviewer, note=note)
    console.print(f"{name} v{version} signed off by {record.reviewer} (ledger #{record.seq})")


@models_app.command("shadow")
@store_options
def models_shadow(
    name: str,
    version: Annotated[int | None, typer.Argument(help="Candidate version; omit to stop.")] = None,
    *,
    store: Store,
) -> None:
    """Score a candidate version beside the serving one; only agreement is logged."""
    with store.open() as p:
        p.models.shadow(name, version)
    console.print(f"{name}: shadow {'off' if version is None else f'v{version}'}")
