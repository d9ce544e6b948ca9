"""``whylens subject``: subject rights, export and erasure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ._options import DbOption, SigningKeyOption, YesOption, confirm, console, open_store

__all__ = ["subject_app"]

subject_app = typer.Typer(help="Subject rights: export and erase.", no_args_is_help=True)


@subject_app.command("export")
def subject_export(
    subject: str, db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None
) -> None:
    """Everything held about a subject, as JSON (to stdout: it is their personal data)."""
    with open_store(db, signing_key) as p:
        data = p.subjects.export(subject)
    sys.stdout.write(json.dumps(data.model_dump(mode="json"), indent=2) + "\n")


@subject_app.command("erase")
def subject_erase(
    subject: str,
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    yes: YesOption = False,
) -> None:
    """Destroy a subject's key and profile (crypto-shredding). Irreversible: asks first.

    Everything encrypted under the subject's key becomes unreadable, in backups too; the ledger
    keeps its pseudonymous records, so proofs still verify. Prints the signed erasure receipt.
    """
    with open_store(db, signing_key) as p:
        confirm("erase this subject's data for good", yes)
        receipt = p.subjects.erase(subject)
    console.print_json(receipt.model_dump_json())
