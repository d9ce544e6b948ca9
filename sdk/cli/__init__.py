"""The ``whylens`` command: the demo, consent, explanations, review, audit and subject rights.

Every command takes ``--db`` (default: ``$WHYLENS_DB`` or ``whylens.db``). Errors are whylens's own
messages (never personal data) and exit with status 2. Destructive commands ask for confirmation
and refuse without a terminal unless given ``--yes``. Every command's ``--help`` ends with an
example.

This module holds the top-level app and its entry point; the commands live in a module per
group (``consent.py``, ``review.py``, ``audit.py``, ``subject.py``, ``keys.py``, ``models.py``,
``tokens.py``) or per command (``start.py``: init and demo, ``why.py``, ``serve.py``), the
options they share in ``_options.py`` and the examples of their help in ``_examples.py``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from .._version import __version__
from ..errors import SigningKeyMismatch, WhylensError
from . import serve, start, why
from ._examples import EXAMPLES, attach_examples
from ._options import console
from .audit import audit_app
from .consent import consent_app
from .keys import keys_app
from .models import models_app
from .review import review_app
from .subject import subject_app
from .tokens import tokens_app

__all__ = ["EXAMPLES", "app", "command_group", "main"]

app = typer.Typer(
    name="whylens",
    help="Privacy-first personalization: consent, explanations and an audit trail.",
    no_args_is_help=True,
    add_completion=False,
    # rich tracebacks with locals could print personal data held in variables
    pretty_exceptions_enable=False,
)
app.command()(start.init)
app.command()(start.demo)
app.command()(why.why)
app.command()(serve.serve)
app.add_typer(consent_app, name="consent")
app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")
app.add_typer(subject_app, name="subject")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(tokens_app, name="tokens")


def _print_version(value: bool) -> None:
    if value:
        console.print(f"whylens {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Privacy-first personalization: consent, explanations and an audit trail."""


def command_group() -> typer.core.TyperGroup:
    """The ``whylens`` command as a click group, every command's help with its example."""
    attach_examples(app)
    return typer.main.get_group(app)


def main() -> None:
    """Entry point of the ``whylens`` console script."""
    try:
        attach_examples(app)
        app()
    except WhylensError as exc:
        err = Console(stderr=True)
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        if isinstance(exc, SigningKeyMismatch):
            err.print("pass --signing-key PATH (or set WHYLENS_SIGNING_KEY)", highlight=False)
        sys.exit(2)
