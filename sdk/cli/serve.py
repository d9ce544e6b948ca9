"""``whylens serve``: the HTTP API, the why page and the review console (extra ``[server]``).

Unlike the other commands it takes a PostgreSQL URL too, and opens no store itself: each worker
opens it from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import WhylensError
from ._options import SigningKeyOption, existing_signing_key

__all__ = ["serve"]


def serve(
    db: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="WHYLENS_DB",
            help="The store: a SQLite file or a postgresql:// URL (then --keyring).",
        ),
    ] = "whylens.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each opens the store).")] = 1,
    keyring: Annotated[
        Path | None, typer.Option(help="Keyring file (default: beside --db).")
    ] = None,
    signing_key: SigningKeyOption = None,
) -> None:
    """Serve the HTTP API, the why page and the review console (needs whylens\\[server])."""
    import os

    try:
        import uvicorn  # noqa: F401

        from ..server.run import serve as run_server
    except ImportError:
        raise WhylensError("whylens serve needs its extra: pip install 'whylens[server]'") from None
    if db.startswith(("postgresql://", "postgres://")):
        if keyring is None:
            raise typer.BadParameter("a PostgreSQL store needs --keyring", param_hint="--keyring")
    elif not Path(db).exists():
        raise typer.BadParameter(
            f"no database at {db} (create one with: whylens init --db {db})", param_hint="--db"
        )
    # the workers read their settings from the environment (WHYLENS_*), so each opens the store
    os.environ["WHYLENS_DB"] = str(db)
    if keyring is not None:
        os.environ["WHYLENS_KEYRING"] = str(keyring)
    if existing_signing_key(signing_key) is not None:
        os.environ["WHYLENS_SIGNING_KEY"] = str(signing_key)
    run_server(host, port, workers)
