"""``whylens audit``: the audit trail verified (the database, or an export offline) and
exported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..errors import WhylensError
from ._options import Store, console, store_options

__all__ = ["audit_app"]

audit_app = typer.Typer(help="Verify and export the audit trail.", no_args_is_help=True)


@audit_app.command("verify")
@store_options
def audit_verify(
    export: Annotated[
        Path | None, typer.Argument(help="An export folder; omit to verify the database.")
    ] = None,
    *,
    store: Store,
    trust: Annotated[
        str | None,
        typer.Option(
            help="The signer's public key you pinned, for exports: a trust file written by "
            "`whylens keys public`, or its base64 text.",
        ),
    ] = None,
    pubkey: Annotated[
        str | None, typer.Option(help="Older name of --trust (base64 key or trust file).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A signed checkpoint you hold from elsewhere; pins the export's key."),
    ] = None,
    consistency: Annotated[
        Path | None,
        typer.Option(
            help="The consistency evidence (JSON of p.audit.prove_consistency) between the "
            "--checkpoint and the export's, when the export is not of the whole ledger.",
        ),
    ] = None,
) -> None:
    """Check the hash chain of the database, or an export offline against a pinned key."""
    if export is not None:
        from ..audit.export_check import verify_export

        try:
            report = verify_export(
                export,
                trust=trust if trust is not None else pubkey,
                trusted_checkpoint=checkpoint,
                consistency=consistency,
            )
        except WhylensError as exc:
            console.print(f"[red]FAILED[/red]: {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
    else:
        with store.open() as p:
            report = p.audit.verify()
    if report.ok:
        console.print(f"[green]OK[/green]: {report.checked} records verified")
    else:
        console.print(
            f"[red]FAILED[/red] after {report.checked} records: {escape(report.problem or '')}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@audit_app.command("export")
@store_options
def audit_export(
    path: Path,
    store: Store,
    format: Annotated[str, typer.Option(help="jsonl, csv or parquet")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="ISO time with zone, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time with zone, inclusive")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model's records")] = None,
    personal: Annotated[
        bool,
        typer.Option(help="Add personal.jsonl: personal fields decrypted (erased: marked)"),
    ] = False,
) -> None:
    """Export the ledger and audit records with a signed manifest."""
    from datetime import datetime

    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise typer.BadParameter("use ISO 8601 times such as 2026-11-01T00:00:00+00:00") from None
    with store.open() as p:
        manifest = p.audit.export(
            path, format=format, since=start, until=end, model=model, personal=personal
        )
    console.print(
        f"{manifest.records} ledger entries and {manifest.selected} audit records written to "
        f"{path} (signed by key {manifest.key_fingerprint[:16]}...)"
    )
