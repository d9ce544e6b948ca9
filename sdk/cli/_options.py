"""What the ``whylens`` commands share: the console they print to, the options that open a store
(``--db``, ``--signing-key``) with the checks made before opening it, and ``--yes`` with the
confirmation it skips.

A command that works on a store takes one parameter ``store: Store`` and is decorated with
:func:`store_options`; its command line shows ``--db`` and ``--signing-key`` in that parameter's
place::

    @review_app.command("list")
    @store_options
    def review_list(store: Store) -> None:
        with store.open() as p:
            ...
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from ..personalizer import Personalizer

__all__ = [
    "DEFAULT_DB",
    "DbOption",
    "SigningKeyOption",
    "Store",
    "YesOption",
    "confirm",
    "console",
    "existing_signing_key",
    "open_store",
    "sqlite_only",
    "store_options",
]

R = TypeVar("R")

console = Console()
DEFAULT_DB = Path("whylens.db")
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


@dataclass(frozen=True)
class Store:
    """The store a command works on, as its ``--db`` and ``--signing-key`` name it."""

    db: Path
    signing_key: Path | None = None

    def open(self) -> Personalizer:
        """The existing store (see :func:`open_store`)."""
        return open_store(self.db, self.signing_key)


# the command-line parameters a Store is made of, declared once for every command
_STORE_PARAMETERS = (
    inspect.Parameter(
        "db", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=DbOption, default=DEFAULT_DB
    ),
    inspect.Parameter(
        "signing_key",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=SigningKeyOption,
        default=None,
    ),
)


def store_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give ``command``'s parameter ``store: Store`` to the command line as ``--db`` and
    ``--signing-key``, in its place among the other parameters; the command is called with
    them made into one :class:`Store`.

    Put it below the ``@app.command()`` decorator. A ``store`` after a parameter with a default
    has to be keyword-only (``*, store: Store``); its options keep their place all the same.
    """
    signature = inspect.signature(command, eval_str=True)  # Typer reads evaluated annotations
    if "store" not in signature.parameters:
        raise TypeError(f"{command.__name__} has no parameter 'store' for @store_options")
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == "store":
            parameters += (p.replace(kind=parameter.kind) for p in _STORE_PARAMETERS)
        else:
            parameters.append(parameter)

    @functools.wraps(command)
    def with_store(**kwargs: Any) -> R:  # Typer passes every parameter by name
        store = Store(kwargs.pop("db"), kwargs.pop("signing_key"))
        return command(**kwargs, store=store)

    with_store.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_store.__annotations__ = {p.name: p.annotation for p in parameters}
    with_store.__annotations__["return"] = signature.return_annotation
    return with_store


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
