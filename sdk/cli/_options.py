"""What the ``whylens`` commands share: the console they print to, the options that open a store
(``--db``, ``--signing-key``) with the checks made before opening it, and ``--yes`` with the
confirmation it skips."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ..personalizer import Personalizer

__all__ = [
    "DbOption",
    "SigningKeyOption",
    "YesOption",
    "confirm",
    "console",
    "existing_signing_key",
    "open_store",
    "sqlite_only",
]

console = Console()
DbOption = Annotated[
    Path,
    typer.Option("--db", envvar="WHYLENS_DB", help="The whylens database file."),
]


def sqlite_only(db: Path) -> None:
    # Path() has already folded "postgresql://" into "postgresql:/"
    if str(db).split(":", 1)[0] in ("postgresql", "postgres") and ":" in str(db):
        raise typer.BadParameter(
            "the whylens command works on SQLite files so far; open a PostgreSQL store from "
            "Python: Personalizer.open(url, keyring=PATH)",
            param_hint="--db",
        )


SigningKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--signing-key",
        envvar="WHYLENS_SIGNING_KEY",
        help="The store's separate signing key file, if it has one "
        "(made by `whylens keys signing-key create`).",
    ),
]


def existing_signing_key(signing_key: Path | None) -> Path | None:
    # Personalizer.open would create a missing key file; for a store that exists, a missing
    # file is a typo or a lost key, never a reason to make a new one
    if signing_key is not None and not signing_key.exists():
        raise typer.BadParameter(
            f"no signing key at {signing_key} (create one with: whylens keys signing-key "
            f"create {signing_key})",
            param_hint="--signing-key",
        )
    return signing_key


def open_store(db: Path, signing_key: Path | None = None) -> Personalizer:
    """Open the existing SQLite store ``db``; never creates a store or a signing key."""
    from ..personalizer import Personalizer

    sqlite_only(db)
    if not db.exists():
        raise typer.BadParameter(
            f"no database at {db} (create one with: whylens init --db {db})", param_hint="--db"
        )
    return Personalizer.open(db, signing_key=existing_signing_key(signing_key))


YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")
]


def confirm(action: str, yes: bool) -> None:
    """Ask before an irreversible ``action``; without a terminal, refuse unless ``--yes``."""
    if yes:
        return
    if not sys.stdin.isatty():
        Console(stderr=True).print(
            f"refusing to {action} without confirmation: no terminal to ask on. "
            "Pass --yes to confirm.",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(1)
    if not typer.confirm(f"This cannot be undone. {action[0].upper()}{action[1:]}?"):
        Console(stderr=True).print("Nothing was changed.", highlight=False)
        raise typer.Exit(1)
