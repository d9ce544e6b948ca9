"""MkDocs hook: tables generated from the code, so the docs cannot drift from it.

``<!-- whylens:error-codes -->`` becomes the table of every ``WhylensError`` subclass in
``sdk.errors`` (code, parent, meaning); ``<!-- whylens:cli-commands -->`` the list of every
``whylens`` command with its summary and the example from its ``--help``;
``<!-- whylens:purposes -->`` the built-in purposes catalog; ``<!-- whylens:sdk-names -->`` one
API entry per name of ``sdk.__all__``, grouped.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

ERRORS_MARK = "<!-- whylens:error-codes -->"
PURPOSES_MARK = "<!-- whylens:purposes -->"
SDK_NAMES_MARK = "<!-- whylens:sdk-names -->"

# the order a reader meets the top-level names in; names added to sdk.__all__ later and not
# listed here still appear, under "More"
SDK_GROUPS: dict[str, tuple[str, ...]] = {
    "The facade": ("Personalizer", "Durability"),
    "Features and models": (
        "Feature",
        "FeatureSchema",
        "Concept",
        "Model",
        "ModelCard",
        "ReviewPolicy",
        "RerankPolicy",
        "Rule",
    ),
    "Consent": ("Purpose", "Notice", "ConsentState", "ConsentEvent", "ConsentReceipt"),
    "Results": (
        "Recommendations",
        "RecommendedItem",
        "Decision",
        "Explanation",
        "Reason",
        "Counterfactual",
        "Comparison",
        "ReviewAction",
    ),
    "Audit and subject rights": (
        "verify_export",
        "ExportManifest",
        "VerifyReport",
        "SubjectExport",
        "ErasureReceipt",
        "Personal",
        "PersonalEvent",
    ),
    "Errors": ("WhylensError",),
}
CLI_MARK = "<!-- whylens:cli-commands -->"


def error_rows() -> list[tuple[str, str, str, str]]:
    """(class, code, parent class, first docstring line) for each error, in tree order."""
    from sdk import errors

    classes = [
        value
        for name in errors.__all__
        if inspect.isclass(value := getattr(errors, name))
        and issubclass(value, errors.WhylensError)
    ]

    def depth_first(parent: type, out: list[type]) -> list[type]:
        for cls in sorted(
            (c for c in classes if c.__bases__[0] is parent), key=lambda c: c.__name__
        ):
            out.append(cls)
            depth_first(cls, out)
        return out

    ordered = [errors.WhylensError, *depth_first(errors.WhylensError, [])]
    ordered += sorted(set(classes) - set(ordered), key=lambda c: c.__name__)  # multiple bases
    return [
        (
            cls.__name__,
            str(cls.code),
            "" if cls is errors.WhylensError else cls.__bases__[0].__name__,
            (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ").replace("|", "\\|"),
        )
        for cls in ordered
    ]


def error_table() -> str:
    lines = ["| error | `code` | subclass of | meaning |", "|---|---|---|---|"]
    for name, code, parent, doc in error_rows():
        anchor = f"[`{name}`][sdk.errors.{name}]"
        lines.append(f"| {anchor} | `{code}` | {f'`{parent}`' if parent else ''} | {doc} |")
    return "\n".join(lines)


def cli_commands() -> list[tuple[str, str, str]]:
    """(command line, summary, example) for every visible ``whylens`` command."""
    from sdk.cli import command_group

    found: list[tuple[str, str, str]] = []

    def walk(group: Any, path: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            if command.hidden:
                continue
            if hasattr(command, "commands"):
                walk(command, (*path, name))
                continue
            text = inspect.cleandoc(command.help or "")
            summary = text.split("\n\n")[0].replace("\n", " ")
            example = text.split("Example:", 1)[1] if "Example:" in text else ""
            example = textwrap.dedent(example).strip("\n")
            found.append((" ".join(("whylens", *path, name)), summary, example))

    walk(command_group(), ())
    return found


def cli_list() -> str:
    parts = []
    for command, summary, example in cli_commands():
        parts.append(f"### `{command}`\n\n{summary}\n\n```text\n{example}\n```\n")
    return "\n".join(parts)


def purposes_table() -> str:
    from sdk.consent import BUILTIN_PURPOSES

    lines = [
        "| id | name | legal basis | needs a grant | DPV concept | IAB TCF purposes |",
        "|---|---|---|---|---|---|",
    ]
    for p in BUILTIN_PURPOSES:
        tcf = ", ".join(str(n) for n in p.tcf_purposes) or "—"
        needs = (
            "yes" if p.needs_consent else ("no (the person may object)" if p.objectable else "no")
        )
        dpv = f"[`{p.dpv}`]({p.dpv_iri})"
        lines.append(f"| `{p.id}` | {p.name} | `{p.legal_basis}` | {needs} | {dpv} | {tcf} |")
    return "\n".join(lines)


def sdk_names() -> dict[str, list[str]]:
    """``sdk.__all__`` in reading order: every name exactly once."""
    import sdk

    public = [name for name in sdk.__all__ if not name.startswith("__")]
    groups = {title: [n for n in names if n in public] for title, names in SDK_GROUPS.items()}
    listed = {n for names in groups.values() for n in names}
    rest = sorted(n for n in public if n not in listed)
    if rest:
        groups["More"] = rest
    return groups


def sdk_reference() -> str:
    parts = []
    for title, names in sdk_names().items():
        parts.append(f"## {title}\n")
        parts += [f"::: sdk.{name}\n    options:\n      heading_level: 3\n" for name in names]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if ERRORS_MARK in markdown:
        markdown = markdown.replace(ERRORS_MARK, error_table())
    if SDK_NAMES_MARK in markdown:
        markdown = markdown.replace(SDK_NAMES_MARK, sdk_reference())
    if PURPOSES_MARK in markdown:
        markdown = markdown.replace(PURPOSES_MARK, purposes_table())
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_list())
    return markdown
