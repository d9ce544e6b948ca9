"""The ``whylens keys`` commands: KEK rotation, rewrap and retirement, the separate signing key
and the public key verifiers pin.

Registered on the ``whylens`` command by :mod:`sdk.cli`.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..errors import KeyringError
from ._options import (
    DEFAULT_DB,
    DbOption,
    Store,
    YesOption,
    confirm,
    console,
    existing_signing_key,
    open_store,
    store_options,
)

__all__ = ["keys_app", "signing_key_app"]

keys_app = typer.Typer(
    help="Keys: KEK rotation, rewrap, retirement; the signing key and its public half.",
    no_args_is_help=True,
)

signing_key_app = typer.Typer(
    help="The signing key apart from the keyring (checkpoints, exports, receipts).",
    no_args_is_help=True,
)
keys_app.add_typer(signing_key_app, name="signing-key")


@signing_key_app.command("create")
def signing_key_create(path: Path) -> None:
    """Make a new Ed25519 signing key file at PATH (mode 0600; never replaces a file).

    Give it to a new store with ``whylens init --signing-key PATH`` and keep it off the machine
    or volume that holds the database and the keyring: then whoever holds those cannot re-sign
    a rewritten history. Prints the public key (base64) to pin.
    """
    from ..crypto.signing import FileSigner

    if path.exists() or path.is_symlink():
        raise typer.BadParameter(f"{path} already exists; nothing was changed", param_hint="PATH")
    signer = FileSigner.create(path)
    Console(stderr=True).print(
        f"signing key: {path.resolve()} (mode 0600; fingerprint {signer.fingerprint[:16]}...)",
        highlight=False,
        markup=False,
    )
    sys.stdout.write(base64.b64encode(signer.public_key_bytes()).decode() + "\n")


@keys_app.command("migrate-pseudonyms")
def keys_migrate_pseudonyms(
    ids: Annotated[
        Path,
        typer.Option(help="A file with every subject id the application knows, one a line."),
    ],
    db: DbOption = DEFAULT_DB,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Go on although some people's data is reached by none of the ids."
        ),
    ] = False,
    yes: YesOption = False,
) -> None:
    """Move a store made before schema 4 off HMAC pseudonyms: rebuild the subject index under a
    new key from the ids and destroy the old key in the keyring file, so an erased person's
    ledger entries can no longer be found from their id. Stop every other process first."""
    try:
        subjects = [line.strip() for line in ids.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {ids.name}: {exc.strerror}") from None
    with open_store(db) as p:
        confirm("replace the pseudonym key (the old one is destroyed)", yes)
        done = p.keys.migrate_pseudonyms([s for s in subjects if s], force=force)
    console.print(
        f"reindexed {done.reindexed} subjects, {done.erased} erased ids now lead nowhere, "
        f"{done.unknown} ids unknown, {done.unreachable} left unreachable; removed "
        f"{done.tokens_removed} index rows under the destroyed key"
    )


@keys_app.command("public")
@store_options
def keys_public(
    store: Store,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the trust file here instead of printing the key."),
    ] = None,
) -> None:
    """Print the public key that signs this store (base64), to pin when verifying offline.

    It signs ledger checkpoints, export manifests, consent and erasure receipts: the separate
    signing key's when the store has one (``--signing-key``), else the keyring's. With
    ``--signing-key`` and no database, the key file's own public key. Write it to a trust file
    (``--out whylens.pub``, or ``> whylens.pub``) and give that to the people who verify,
    through a channel other than the export itself; they pass it as ``--trust whylens.pub``.
    """
    if store.signing_key is not None and not store.db.exists():
        from ..crypto.signing import FileSigner

        public = FileSigner.load(existing_signing_key(store.signing_key) or store.signing_key)
        key, fingerprint = public.public_key_bytes(), public.fingerprint
    else:
        with store.open() as p:
            key, fingerprint = p.signer.public_key_bytes(), p.signer.fingerprint
    text = base64.b64encode(key).decode() + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    if out.exists():
        raise typer.BadParameter(f"{out} already exists; nothing was changed", param_hint="--out")
    body = f"# whylens signing key, fingerprint sha256:{fingerprint}\n{text}"
    try:
        with open(out, "x", encoding="ascii") as f:
            f.write(body)
    except OSError as exc:
        raise KeyringError(f"cannot write the trust file {out}: {exc.strerror}") from None
    console.print(
        f"trust file written to {out} (fingerprint {fingerprint[:16]}...)",
        highlight=False,
        markup=False,
    )


@keys_app.command("rotate")
@store_options
def keys_rotate(
    store: Store,
    rewrap: Annotated[
        bool, typer.Option(help="Rewrap every data key under the new KEK right away.")
    ] = True,
    if_due: Annotated[
        bool,
        typer.Option(
            "--if-due",
            help="Run the rotation schedule (`whylens keys schedule`): rotate only when due, "
            "destroy expired KEK versions. For cron or a systemd timer.",
        ),
    ] = False,
) -> None:
    """Make a new key-encryption key version current, rewrap the data keys under it, and
    destroy KEK versions the schedule's retention window has passed."""
    with store.open() as p:
        if if_due:
            report = p.keys.rotate_if_due()
            if report is None:
                console.print("KEK rotation not due; nothing to destroy")
                return
        elif not rewrap:
            version = p.keys.provider.rotate()
            console.print(f"KEK version {version} is now current")
            return
        else:
            report = p.keys.rotate()
        if report.rotated:
            console.print(f"KEK version {report.kek_version} is now current")
            console.print(
                f"rewrapped {report.rewrapped} data keys; {report.remaining} left under older KEKs"
            )
        if report.destroyed:
            console.print(f"destroyed KEK versions {list(report.destroyed)}")


@keys_app.command("schedule")
@store_options
def keys_schedule(
    every_days: Annotated[float, typer.Option(help="Rotate the KEK this often (days).")],
    retain_days: Annotated[
        float,
        typer.Option(
            help="Destroy a superseded KEK this long after (days): the backup retention window."
        ),
    ],
    store: Store,
) -> None:
    """Store the KEK rotation schedule in the database (applied by `keys rotate --if-due`)."""
    from datetime import timedelta

    with store.open() as p:
        p.keys.set_rotation_schedule(
            every=timedelta(days=every_days), retain=timedelta(days=retain_days)
        )
    console.print(
        f"KEKs rotate every {every_days:g} days; superseded ones are destroyed after "
        f"{retain_days:g} days"
    )


@keys_app.command("rewrap")
@store_options
def keys_rewrap(store: Store) -> None:
    """Rewrap data keys still under an older KEK (resumable, idempotent; data untouched)."""
    with store.open() as p:
        report = p.keys.rewrap_all()
    console.print(
        f"rewrapped {report.rewrapped} data keys under KEK version {report.kek_version}; "
        f"{report.remaining} left under older KEKs"
    )


@keys_app.command("retire")
@store_options
def keys_retire(
    below: Annotated[int, typer.Option(help="Retire versions below this one.")],
    store: Store,
    data_keys: Annotated[
        bool, typer.Option("--data-keys", help="Retire data-key versions instead of KEKs.")
    ] = False,
    yes: YesOption = False,
) -> None:
    """Retire old key versions: reading anything made under them raises KeyRetired. Asks first.

    Rewrap first (``whylens keys rewrap``) so nothing current is still under a retired KEK.
    """
    with store.open() as p:
        kind = "data-key" if data_keys else "KEK"
        confirm(f"retire {kind} versions below {below}", yes)
        if data_keys:
            p.keys.retire_data_keys(below)
        else:
            p.keys.retire_keks(below)
    console.print(f"{'data-key' if data_keys else 'KEK'} versions below {below} are retired")


@keys_app.command("status")
@store_options
def keys_status(store: Store) -> None:
    """The key provider, KEK versions and how many data keys are under older KEKs."""
    with store.open() as p:
        provider = p.keys.provider
        older = p.keys.count_below_kek(provider.current_version)
        console.print(
            f"provider {provider.name}: KEK versions {list(provider.versions)}, current "
            f"{provider.current_version}, minimum {provider.min_version}; {older} data keys "
            f"under older KEKs; minimum data-key version {p.keys.min_data_key_version}"
        )
        schedule = p.keys.rotation_schedule
        if schedule is not None:
            due = "due now" if p.keys.rotation_due() else "not due"
            console.print(
                f"schedule: rotate every {schedule.every.total_seconds() / 86400:g} days, "
                f"destroy after {schedule.retain.total_seconds() / 86400:g} days ({due})"
            )
