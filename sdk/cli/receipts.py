"""``whylens consent verify-receipt``: a consent receipt checked offline, against a key the
verifier pinned or a checkpoint the verifier holds (registered on the ``consent`` group by
:mod:`sdk.cli.consent`; kept apart because it needs no store)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from ..errors import ProofError
from ._options import console

__all__ = ["consent_verify_receipt"]

_MAX_RECEIPT = 1 << 20  # a receipt is a few kilobytes


def consent_verify_receipt(
    receipt: Annotated[Path, typer.Argument(help="The receipt's JSON file.")],
    trust: Annotated[
        str | None,
        typer.Option(
            help="The signer's public key you pinned: a trust file written by "
            "`whylens keys public`, or its base64 text."
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="A signed checkpoint of the store you hold from elsewhere (a witness, an "
            "auditor); it vouches for the key the receipt names."
        ),
    ] = None,
    consistency: Annotated[
        Path | None,
        typer.Option(
            help="Consistency evidence between --checkpoint and the receipt's checkpoint when "
            "their sizes differ (the JSON of p.audit.prove_consistency(old, new))."
        ),
    ] = None,
) -> None:
    """Check a consent receipt offline: its signature, its ledger entry and inclusion proof.

    Needs ``--trust`` or ``--checkpoint`` (or both): a receipt's own key proves nothing. Exits
    1 with the first failed check, 0 when all pass.
    """
    from ..consent.receipts import verify_receipt

    try:
        if receipt.stat().st_size > _MAX_RECEIPT:
            raise ProofError(f"{receipt.name} is too large to be a consent receipt")
        text = receipt.read_bytes()
        verify_receipt(text, trust, trusted_checkpoint=checkpoint, consistency=consistency)
    except OSError as exc:
        _failed(f"{receipt.name}: cannot be read ({exc.strerror})")
    except ProofError as exc:
        _failed(f"{receipt.name}: {exc}")
    console.print(f"[green]OK[/green]: {escape(receipt.name)} verified", highlight=False)


def _failed(problem: str) -> NoReturn:
    console.print(f"[red]FAILED[/red]: {escape(problem)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
