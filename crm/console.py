"""The terminal of Satchel's commands (``satchel`` on the server, ``satchel-field`` on the laptop).

One place for what both commands do the same way: the two consoles, domain errors
turned into a message and an exit code (``docs/commands.md``), listings printed
whole or as JSON, and passwords read from a prompt, standard input or a file.
Kept free of the database and of everything heavier than rich and typer, so that
``--help`` starts fast.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from crm import errors

console = Console()
err = Console(stderr=True)

# The one place where domain errors become exit codes; a command adds its own errors
# (the laptop's sync errors) through ``reporting(extra)``.
EXIT_CODES: dict[type[Exception], int] = {
    errors.ValidationFailed: 3,
    errors.ImportFailed: 3,
    errors.NotFound: 4,
    errors.AlreadyExists: 5,
    errors.PermissionDenied: 6,
    errors.Unauthenticated: 6,
}


def use_columns() -> None:
    """Apply a width given for this run (``COLUMNS``): the consoles were made at import."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isascii() and columns.isdigit():
        console.width = err.width = int(columns)


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` and stop with ``code``."""
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


ExitCodes = Mapping[type[Exception], int]


@contextmanager
def reporting(extra: ExitCodes | Callable[[], ExitCodes] | None = None) -> Iterator[None]:
    """Turn domain errors (and those of ``extra``, which carry a ``message``) into a clear message
    and a distinct exit code; an error of a type not listed exits with 1.

    ``extra`` may be a function, called only when something was raised: a command need not
    import the modules that define its errors before it runs.
    """
    try:
        yield
    except Exception as exc:
        codes = {**EXIT_CODES, **((extra() if callable(extra) else extra) or {})}
        if not isinstance(exc, (errors.SatchelError, *codes)):
            raise
        err.print(f"[red]error:[/red] {getattr(exc, 'message', str(exc))}")
        details = getattr(exc, "details", None)
        if isinstance(details, dict):
            for key, value in details.items():
                err.print(f"  {key}: {value}")
        elif isinstance(details, list):
            for line in details:
                err.print(f"  {line}")
        raise typer.Exit(codes.get(type(exc), 1)) from None


# -- listings ------------------------------------------------------------------------------

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the rows as JSON (one array of objects).")
]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def print_json(value: Any) -> None:
    """``value`` as JSON on standard output: UTF-8 as is, times in ISO 8601."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=_plain) + "\n")
    sys.stdout.flush()


def listing(table: Table, rows: Sequence[Mapping[str, Any]], *, as_json: bool = False) -> None:
    """Print a listing: ``rows`` as a JSON array with ``--json``, else ``table``.

    On a terminal the table fits the window; piped into a file or another program
    (``grep``, ``less -S``) every value is printed whole, however wide the table grows.
    """
    if as_json:
        print_json(list(rows))
        return
    if console.is_terminal or os.environ.get("COLUMNS"):
        console.print(table)
        return
    needed = Measurement.get(console, console.options.update_width(1_000_000), table).maximum
    chosen = console._width  # noqa: SLF001 - None: the detected width
    console.width = max(console.width, needed)
    try:
        console.print(table)
    finally:
        console._width = chosen  # noqa: SLF001


# -- passwords -----------------------------------------------------------------------------

PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (for scripts).",
    ),
]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        dir_okay=False,
        help="Read the password from the first line of this file.",
    ),
]


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def read_password(
    given: str | None = None,
    *,
    stdin: bool = False,
    file: Path | None = None,
    confirm: bool = True,
    prompt: str = "Password / Пароль: ",
) -> str:
    """The password given on the command line, on standard input or in a file, else asked for
    (twice when ``confirm``). Two sources at once, or an empty password read, exit with 2;
    typed passwords that differ exit with 3."""
    sources = [
        name
        for name, used in (
            ("--password", given is not None),
            ("--password-stdin", stdin),
            ("--password-file", file is not None),
        )
        if used
    ]
    if len(sources) > 1:
        fail(f"give the password one way, not with {' and '.join(sources)}", 2)
    if given is not None:
        return given
    if stdin or file is not None:
        try:
            secret = _first_line(sys.stdin.read() if stdin else file.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        except (OSError, UnicodeDecodeError) as exc:
            fail(
                f"cannot read the password from {file}: {getattr(exc, 'strerror', None) or exc}", 2
            )
        if not secret:
            fail(f"no password in {'standard input' if stdin else file}", 2)
        return secret
    first = getpass.getpass(prompt)
    if confirm and first != getpass.getpass("Again / Ещё раз: "):
        err.print("[red]passwords differ[/red]")
        raise typer.Exit(3)
    return first
