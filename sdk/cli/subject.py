"""``whylens subject``: subject rights, export and erasure."""

from __future__ import annotations

import json
import sys

import typer

from ._options import Store, YesOption, confirm, console, store_options

__all__ = ["subject_app"]

subject_app = typer.Typer(help="Subject rights: export and erase.", no_args_is_help=True)


@subject_app.command("export")
@store_options
def subject_export(subject: str, store: Store) -> None:
    """Everything held about a subject, as JSON (to stdout: it is their personal data)."""
    with store.open() as p:
        data = p.subjects.export(subject)
    sys.stdout.write(json.dumps(data.model_dump(mode="json"), indent=2) + "\n")


@subject_app.command("erase")
@store_options
def subject_erase(
    subject: str,
    store: Store,
    yes: YesOption = False,
) -> None:
    """Destroy a subject's key and profile (crypto-shredding). Irreversible: asks first.

    Everything encrypted under the subject's key becomes unreadable, in backups too; the ledger
    keeps its pseudonymous records, so proofs still verify. Prints the signed erasure receipt.
    """
    with store.open() as p:
        confirm("erase this subject's data for good", yes)
        receipt = p.subjects.erase(subject)
    console.print_json(receipt.model_dump_json())
