"""``whylens init`` and ``whylens demo``: a new empty store, and the shop story end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._options import DEFAULT_DB, DbOption, console, sqlite_only

__all__ = ["demo", "init"]


def init(
    db: DbOption = DEFAULT_DB,
    keyring: Annotated[
        Path | None,
        typer.Option(help="Where to put the keyring (default: <name>.keyring.json beside it)."),
    ] = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key",
            envvar="WHYLENS_SIGNING_KEY",
            help="Sign with a key apart from the keyring: this key file (created, mode 0600, "
            "if missing). Recommended: keep it on another machine or volume.",
        ),
    ] = None,
) -> None:
    """Create an empty store and its keyring (mode 0600), and say where they are.

    Keep the keyring out of the database's backups: together they decrypt everything. With
    ``--signing-key`` the keyring alone cannot re-sign the ledger's history.
    """
    from ..personalizer import Personalizer, default_keyring_path

    sqlite_only(db)
    if db.exists():
        raise typer.BadParameter(f"{db} already exists; nothing was changed", param_hint="--db")
    keyring_path = keyring if keyring is not None else default_keyring_path(db)
    if keyring_path.exists():
        raise typer.BadParameter(
            f"{keyring_path} already exists; nothing was changed", param_hint="--keyring"
        )
    with Personalizer.open(db, keyring=keyring_path, signing_key=signing_key) as p:
        fingerprint = p.signer.fingerprint
    console.print(f"store:   {db.resolve()}", highlight=False, markup=False)
    console.print(
        f"keyring: {keyring_path.resolve()} (mode 0600; back it up apart from the store)",
        highlight=False,
        markup=False,
    )
    if signing_key is not None:
        console.print(
            f"signing key: {signing_key.resolve()} (mode 0600; fingerprint {fingerprint[:16]}...;"
            " pass --signing-key or set WHYLENS_SIGNING_KEY on every command)",
            highlight=False,
            markup=False,
        )


def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo database (made if missing).")
    ] = Path("demo-output"),
) -> None:
    """Run the handmade-goods shop story end to end."""
    from ..demo.story import run_story

    run_story(folder, console)
