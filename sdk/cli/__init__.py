"""The ``whylens`` command: the demo, consent, explanations, review, audit and subject rights.

Every command takes ``--db`` (default: ``$WHYLENS_DB`` or ``whylens.db``). Errors are whylens's own
messages (never personal data) and exit with status 2. Destructive commands ask for confirmation
and refuse without a terminal unless given ``--yes``. Every command's ``--help`` ends with an
example.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.markup import escape

from .._version import __version__
from ..errors import SigningKeyMismatch, WhylensError

if TYPE_CHECKING:
    from ..personalizer import Personalizer
    from ..types import Audience

app = typer.Typer(
    name="whylens",
    help="Privacy-first personalization: consent, explanations and an audit trail.",
    no_args_is_help=True,
    add_completion=False,
    # rich tracebacks with locals could print personal data held in variables
    pretty_exceptions_enable=False,
)
consent_app = typer.Typer(help="Record and read consent.", no_args_is_help=True)
review_app = typer.Typer(help="Review held decisions.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify and export the audit trail.", no_args_is_help=True)
subject_app = typer.Typer(help="Subject rights: export and erase.", no_args_is_help=True)
app.add_typer(consent_app, name="consent")
app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")
app.add_typer(subject_app, name="subject")
keys_app = typer.Typer(
    help="Keys: KEK rotation, rewrap, retirement; the signing key and its public half.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
models_app = typer.Typer(help="Model versions: list, sign off, shadow.", no_args_is_help=True)
app.add_typer(models_app, name="models")
tokens_app = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

console = Console()
DbOption = Annotated[
    Path,
    typer.Option("--db", envvar="WHYLENS_DB", help="The whylens database file."),
]


def _sqlite_only(db: Path) -> None:
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


def _existing_signing_key(signing_key: Path | None) -> Path | None:
    # Personalizer.open would create a missing key file; for a store that exists, a missing
    # file is a typo or a lost key, never a reason to make a new one
    if signing_key is not None and not signing_key.exists():
        raise typer.BadParameter(
            f"no signing key at {signing_key} (create one with: whylens keys signing-key "
            f"create {signing_key})",
            param_hint="--signing-key",
        )
    return signing_key


def _open(db: Path, signing_key: Path | None = None) -> Personalizer:
    from ..personalizer import Personalizer

    _sqlite_only(db)
    if not db.exists():
        raise typer.BadParameter(
            f"no database at {db} (create one with: whylens init --db {db})", param_hint="--db"
        )
    return Personalizer.open(db, signing_key=_existing_signing_key(signing_key))


YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")
]


def _confirm(action: str, yes: bool) -> None:
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


# The example at the end of each command's --help, by command path (a test checks that every
# command has one and that it parses). Kept in one table, so a command added anywhere in this
# module gets its example here; entries for commands not in this build are unused.
EXAMPLES: dict[str, str] = {
    "": "whylens init --db shop.db\nwhylens consent state cust-1 --db shop.db",
    "consent": "whylens consent grant cust-1 personalization --db shop.db",
    "review": "whylens review list --db shop.db",
    "audit": "whylens audit verify --db shop.db",
    "subject": "whylens subject export cust-1 --db shop.db > cust-1.json",
    "keys": "whylens keys status --db shop.db",
    "models": "whylens models list --db shop.db",
    "tokens": "whylens tokens list --db shop.db",
    "init": "whylens init --db shop.db --signing-key /vault/shop.signing.key",
    "demo": "whylens demo --dir demo-output",
    "why": "whylens why dec_0190... --db shop.db --audience reviewer",
    "consent grant": "whylens consent grant cust-1 personalization --db shop.db",
    "consent withdraw": "whylens consent withdraw cust-1 personalization --db shop.db",
    "consent state": "whylens consent state cust-1 --db shop.db",
    "consent history": "whylens consent history cust-1 --db shop.db",
    "consent verify-receipt": (
        "whylens consent verify-receipt receipt.json --trust whylens.pub\n"
        "whylens consent verify-receipt receipt.json --checkpoint held.checkpoint"
    ),
    "review list": "whylens review list --db shop.db",
    "review approve": "whylens review approve dec_0190... --reviewer anna --db shop.db",
    "review override": (
        "whylens review override dec_0190... --outcome approved --reviewer anna \\\n"
        '    --reason "income was misread" --db shop.db'
    ),
    "audit verify": (
        "whylens audit verify --db shop.db\nwhylens audit verify audit-2026-11 --trust whylens.pub"
    ),
    "audit export": "whylens audit export audit-2026-11 --db shop.db --format csv",
    "subject export": "whylens subject export cust-1 --db shop.db > cust-1.json",
    "subject erase": "whylens subject erase cust-1 --db shop.db --yes",
    "keys rotate": "whylens keys rotate --db shop.db",
    "keys schedule": "whylens keys schedule --every-days 30 --retain-days 35 --db shop.db",
    "keys rewrap": "whylens keys rewrap --db shop.db",
    "keys retire": "whylens keys retire --below 2 --db shop.db --yes",
    "keys public": (
        "whylens keys public --db shop.db > whylens.pub\n"
        "whylens keys public --db shop.db --signing-key /vault/shop.signing.key --out whylens.pub"
    ),
    "keys signing-key": "whylens keys signing-key create /vault/shop.signing.key",
    "keys signing-key create": "whylens keys signing-key create /vault/shop.signing.key",
    "keys migrate-pseudonyms": "whylens keys migrate-pseudonyms --ids ids.txt --db shop.db --yes",
    "keys status": "whylens keys status --db shop.db",
    "models list": "whylens models list --db shop.db",
    "models sign-off": "whylens models sign-off ranker 1 --reviewer anna --db shop.db",
    "models shadow": "whylens models shadow ranker 2 --db shop.db",
    "serve": "whylens serve --db shop.db --host 127.0.0.1 --port 8000 --workers 2",
    "tokens create": "whylens tokens create --db shop.db --role service --name shop-backend",
    "tokens list": "whylens tokens list --db shop.db",
    "tokens revoke": "whylens tokens revoke TOKEN_ID --db shop.db",
}


def _with_example(text: str, path: tuple[str, ...]) -> str:
    example = EXAMPLES.get(" ".join(path))
    if example is None or "\nExample:\n" in text:
        return text
    lines = "\n".join("    " + line for line in example.splitlines())
    return f"{text}\n\nExample:\n\n{lines}"


def _attach_examples(typer_app: typer.Typer, path: tuple[str, ...] = ()) -> None:
    """End the help of every command of ``typer_app`` with its example from EXAMPLES."""
    if isinstance(typer_app.info.help, str):
        typer_app.info.help = _with_example(typer_app.info.help, path)
    for info in typer_app.registered_commands:
        if info.callback is not None:
            name = info.name or info.callback.__name__.replace("_", "-")
            text = info.help or inspect.getdoc(info.callback) or ""
            info.help = _with_example(text, (*path, name))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None and group.name is not None:
            _attach_examples(group.typer_instance, (*path, group.name))


def command_group() -> typer.core.TyperGroup:
    """The ``whylens`` command as a click group, every command's help with its example."""
    _attach_examples(app)
    return typer.main.get_group(app)


@app.command()
def init(
    db: DbOption = Path("whylens.db"),
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

    _sqlite_only(db)
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


@app.command()
def demo(
    folder: Annotated[
        Path, typer.Option("--dir", help="Folder for the demo database (made if missing).")
    ] = Path("demo-output"),
) -> None:
    """Run the handmade-goods shop story end to end."""
    from ..demo.story import run_story

    run_story(folder, console)


@consent_app.command("grant")
def consent_grant(
    subject: str,
    purposes: list[str],
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    notice: Annotated[str | None, typer.Option(help="Id of the notice shown.")] = None,
    source: Annotated[str | None, typer.Option(help="Where consent was given.")] = None,
) -> None:
    """Record a grant of one or more purposes."""
    with _open(db, signing_key) as p:
        receipt = p.consent.grant(subject, purposes, notice=notice, source=source)
    console.print_json(receipt.model_dump_json())


@consent_app.command("withdraw")
def consent_withdraw(
    subject: str,
    purposes: list[str],
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    source: Annotated[str | None, typer.Option(help="Where consent was withdrawn.")] = None,
) -> None:
    """Record a withdrawal of one or more purposes."""
    with _open(db, signing_key) as p:
        receipt = p.consent.withdraw(subject, purposes, source=source)
    console.print_json(receipt.model_dump_json())


@consent_app.command("state")
def consent_state(
    subject: str, db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None
) -> None:
    """A subject's consent to each purpose now."""
    with _open(db, signing_key) as p:
        state = p.consent.state(subject)
    for purpose, status in state.purposes.items():
        console.print(f"{purpose:<16} {status}")


@consent_app.command("history")
def consent_history(
    subject: str, db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None
) -> None:
    """Every grant and withdrawal of a subject."""
    with _open(db, signing_key) as p:
        for event in p.consent.history(subject):
            console.print(
                f"#{event.seq:<6} {event.at:%Y-%m-%d %H:%M:%S} {event.action:<9} {event.purpose}"
            )


@app.command()
def why(
    decision_id: str,
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    audience: Annotated[str, typer.Option(help="end_user, reviewer or auditor")] = "end_user",
    locale: Annotated[str, typer.Option(help="en or de")] = "en",
    item: Annotated[str | None, typer.Option(help="Item id, for a recommendation.")] = None,
    counterfactual: Annotated[
        bool, typer.Option(help="Add what would change a decision's outcome.")
    ] = False,
) -> None:
    """Explain a decision or a recommended item."""
    with _open(db, signing_key) as p:
        if audience not in ("end_user", "reviewer", "auditor"):
            raise typer.BadParameter("use end_user, reviewer or auditor", param_hint="--audience")
        explanation = p.explain(
            decision_id,
            audience=cast("Audience", audience),
            locale=locale,
            item_id=item,
            counterfactual=counterfactual,
        )
    console.print(explanation.text, markup=False)
    if explanation.disclosure is not None:  # who made it, and how to reach a person
        console.print(explanation.disclosure.text, markup=False)
        console.print(explanation.disclosure.contact, markup=False)


@review_app.command("list")
def review_list(db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None) -> None:
    """Decisions waiting for a person."""
    with _open(db, signing_key) as p:
        pending = p.reviews.pending()
    if not pending:
        console.print("No decisions are waiting for review.")
    for d in pending:
        console.print(
            f"{d.decision_id}  {d.model} v{d.model_version}  "
            f"p={'erased' if d.probability is None else format(d.probability, '.3f')}  "
            f"{'contested' if d.contested else d.review_trigger}"
        )


@review_app.command("approve")
def review_approve(
    decision_id: str,
    reviewer: Annotated[str, typer.Option(help="Your staff id.")],
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Confirm a held decision."""
    with _open(db, signing_key) as p:
        decision = p.reviews.approve(decision_id, reviewer=reviewer, note=note)
    console.print(f"{decision.decision_id}: {decision.status}, outcome {decision.outcome}")


@review_app.command("override")
def review_override(
    decision_id: str,
    outcome: Annotated[str, typer.Option(help="The outcome to apply.")],
    reviewer: Annotated[str, typer.Option(help="Your staff id.")],
    reason: Annotated[str, typer.Option(help="Why (required).")],
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
) -> None:
    """Change a decision's outcome, with a reason."""
    with _open(db, signing_key) as p:
        decision = p.reviews.override(
            decision_id, outcome=outcome, reviewer=reviewer, reason=reason
        )
    console.print(f"{decision.decision_id}: {decision.status}, outcome {decision.outcome}")


@audit_app.command("verify")
def audit_verify(
    export: Annotated[
        Path | None, typer.Argument(help="An export folder; omit to verify the database.")
    ] = None,
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
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
        with _open(db, signing_key) as p:
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
def audit_export(
    path: Path,
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
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
    with _open(db, signing_key) as p:
        manifest = p.audit.export(
            path, format=format, since=start, until=end, model=model, personal=personal
        )
    console.print(
        f"{manifest.records} ledger entries and {manifest.selected} audit records written to "
        f"{path} (signed by key {manifest.key_fingerprint[:16]}...)"
    )


@subject_app.command("export")
def subject_export(
    subject: str, db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None
) -> None:
    """Everything held about a subject, as JSON (to stdout: it is their personal data)."""
    with _open(db, signing_key) as p:
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
    with _open(db, signing_key) as p:
        _confirm("erase this subject's data for good", yes)
        receipt = p.subjects.erase(subject)
    console.print_json(receipt.model_dump_json())


@models_app.command("list")
def models_list(db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None) -> None:
    """Every model version with its hash, metrics, rows left out and sign-off."""
    with _open(db, signing_key) as p:
        for card in p.models.list():
            signed = p.models.sign_off_of(card.name, card.version)
            metrics = ", ".join(f"{k} {v:.4f}" for k, v in card.metrics.items())
            console.print(
                f"{card.name} v{card.version} ({card.kind}) sha256:{card.content_hash[:16]}... "
                f"{metrics}; rows used {card.rows_used}, left out {card.left_out_by_purpose}; "
                + (f"signed off by {signed.reviewer}" if signed else "NOT signed off"),
                highlight=False,
            )


@models_app.command("sign-off")
def models_sign_off(
    name: str,
    version: int,
    reviewer: Annotated[str, typer.Option(help="Your staff id.")],
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
    note: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Approve a model version for serving (recorded on the ledger)."""
    with _open(db, signing_key) as p:
        record = p.models.sign_off(name, version, reviewer=reviewer, note=note)
    console.print(f"{name} v{version} signed off by {record.reviewer} (ledger #{record.seq})")


@models_app.command("shadow")
def models_shadow(
    name: str,
    version: Annotated[int | None, typer.Argument(help="Candidate version; omit to stop.")] = None,
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
) -> None:
    """Score a candidate version beside the serving one; only agreement is logged."""
    with _open(db, signing_key) as p:
        p.models.shadow(name, version)
    console.print(f"{name}: shadow {'off' if version is None else f'v{version}'}")


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(help="service, reviewer or compliance")],
    name: Annotated[str, typer.Option(help="Who or what uses it (a staff id or an app name).")],
    db: DbOption = Path("whylens.db"),
    signing_key: SigningKeyOption = None,
) -> None:
    """Make a token and print it once (only its SHA-256 is kept, on the ledger)."""
    with _open(db, signing_key) as p:
        token, info = p.tokens.create(role, name)
    Console(stderr=True).print(
        f"token {info.token_id} for {info.name} ({info.role}); shown once, keep it secret:",
        highlight=False,
    )
    sys.stdout.write(token + "\n")


@tokens_app.command("list")
def tokens_list(db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None) -> None:
    """Every token: id, role, name, when made, and whether revoked (never the token)."""
    with _open(db, signing_key) as p:
        for t in p.tokens.list():
            console.print(
                f"{t.token_id}  {t.role:<10} {t.name:<24} {t.created_at:%Y-%m-%d %H:%M}  "
                + ("revoked" if t.revoked else "live"),
                highlight=False,
            )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str, db: DbOption = Path("whylens.db"), signing_key: SigningKeyOption = None
) -> None:
    """Revoke a token by id; every worker refuses it from its next request on."""
    with _open(db, signing_key) as p:
        t = p.tokens.revoke(token_id)
    console.print(f"{t.token_id} ({t.name}, {t.role}) revoked", highlight=False)


@app.command()
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
    if _existing_signing_key(signing_key) is not None:
        os.environ["WHYLENS_SIGNING_KEY"] = str(signing_key)
    run_server(host, port, workers)


def main() -> None:
    """Entry point of the ``whylens`` console script."""
    try:
        _attach_examples(app)
        app()
    except WhylensError as exc:
        err = Console(stderr=True)
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        if isinstance(exc, SigningKeyMismatch):
            err.print("pass --signing-key PATH (or set WHYLENS_SIGNING_KEY)", highlight=False)
        sys.exit(2)


# commands kept in modules of their own (sdk/cli/keys.py, receipts.py); importing them
# registers them on their groups
from . import keys, receipts  # noqa: E402, F401
