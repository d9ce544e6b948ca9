"""The example that ends every command's ``--help``, kept in one table by command path."""

from __future__ import annotations

import inspect

import typer

__all__ = ["EXAMPLES", "attach_examples"]

# The example at the end of each command's --help, by command path (a test checks that every
# command has one and that it parses). Kept in one table, so a command added in any module of
# sdk/cli gets its example here; entries for commands not in this build are unused.
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


def attach_examples(typer_app: typer.Typer, path: tuple[str, ...] = ()) -> None:
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
            attach_examples(group.typer_instance, (*path, group.name))
