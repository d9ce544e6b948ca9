"""``whylens tokens``: the bearer tokens of the HTTP API, made, listed and revoked."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from ._options import Store, console, store_options

__all__ = ["tokens_app"]

tokens_app = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)


@tokens_app.command("create")
@store_options
def tokens_create(
    role: Annotated[str, typer.Option(help="service, reviewer or compliance")],
    name: Annotated[str, typer.Option(help="Who or what uses it (a staff id or an app name).")],
    store: Store,
) -> None:
    """Make a token and print it once (only its SHA-256 is kept, on the ledger)."""
    with store.open() as p:
        token, info = p.tokens.create(role, name)
    Console(stderr=True).print(
        f"token {info.token_id} for {info.name} ({info.role}); shown once, keep it secret:",
        highlight=False,
    )
    sys.stdout.write(token + "\n")


@tokens_app.command("list")
@store_options
def tokens_list(store: Store) -> None:
    """Every token: id, role, name, when made, and whether revoked (never the token)."""
    with store.open() as p:
        for t in p.tokens.list():
            console.print(
                f"{t.token_id}  {t.role:<10} {t.name:<24} {t.created_at:%Y-%m-%d %H:%M}  "
                + ("revoked" if t.revoked else "live"),
                highlight=False,
            )


@tokens_app.command("revoke")
@store_options
def tokens_revoke(token_id: str, store: Store) -> None:
    """Revoke a token by id; every worker refuses it from its next request on."""
    with store.open() as p:
        t = p.tokens.revoke(token_id)
    console.print(f"{t.token_id} ({t.name}, {t.role}) revoked", highlight=False)
