"""The terminal of Satchel's commands (``satchel`` on the server, ``satchel-field`` on the laptop).

One place for what both commands do the same way: the two consoles, domain errors
turned into a message and an exit code (``docs/commands.md``), listings printed
whole or as JSON, and passwords read from a prompt, standard input or a file.
Kept free of the database and of everything heavier than rich and typer, so that
``--help`` starts fast.
"""

from __future__ import annotations

import errno
import getpass
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from crm import clock, errors


def _flags_without_a_type() -> None:
    """typer 0.29 writes ``<bool>`` beside every flag in ``--help`` (``--json <bool>``, ``--help
    <bool>``), as if it took a value; a flag takes none, so nothing is written there. The one
    method that says it is replaced for flags (tests/server/test_cli.py holds the help to it)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "satchel_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.satchel_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_a_type()


def _console(stream: Any, *, stderr: bool = False) -> Console:
    """A console that wraps lines on a terminal only: piped into a file or another command, a
    message stays one line (a command to copy from it is not cut in two at column 80)."""
    try:
        piped = not stream.isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one
        piped = True
    return Console(stderr=stderr, soft_wrap=piped)


console = _console(sys.stdout)
err = _console(sys.stderr, stderr=True)


class PortTaken(Exception):
    """A server (``satchel serve``, ``satchel demo``, ``satchel-field ui``) cannot listen on its port."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# The one place where domain errors become exit codes; a command adds its own errors
# (the laptop's sync errors) through ``reporting(extra)``.
EXIT_CODES: dict[type[Exception], int] = {
    errors.ValidationFailed: 3,
    errors.ImportFailed: 3,
    errors.NotFound: 4,
    errors.AlreadyExists: 5,
    errors.PermissionDenied: 6,
    errors.Unauthenticated: 6,
    PortTaken: 11,
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
        # A subclass exits as its nearest listed class does (crm.commerceml's error is an ImportFailed).
        code = next((codes[t] for t in type(exc).__mro__ if t in codes), 1)
        raise typer.Exit(code) from None


# -- listening -----------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port), for uvicorn to serve on.

    Bound before anything says the server is listening, so that a port in use is a clear
    ``PortTaken`` (exit 11) instead of "listening on …" followed by uvicorn's own error.
    IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say they are TCP.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":  # as uvicorn does; on Windows it would let two servers share a port
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise PortTaken(
                f"port {port} is taken ({where} is in use by another program, another Satchel?): "
                f"stop it or choose another port with --port / порт {port} занят другой "
                "программой: остановите её или выберите другой порт (--port)"
            ) from None
        raise PortTaken(
            f"cannot listen on {where}: {exc.strerror or exc} / "
            f"не удаётся открыть порт {port} на {host}"
        ) from None
    listener.set_inheritable(True)
    return listener


# -- listings ------------------------------------------------------------------------------

# The zone the office's screens show times in (server/web_home.py's TIMEZONE; a test checks they
# agree): listings of the ``satchel`` command show times there too, the zone said in the header.
SERVER_ZONE = clock.HOME_ZONE
ZONE_LABEL = "MSK"


def when(moment: datetime | str | None) -> str:
    """A moment as ``2026-12-02 04:07`` in the server's zone (Moscow time); "" for none.

    A moment without an offset (SQLite gives some back so) is taken as UTC, as Satchel stores it.
    """
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(SERVER_ZONE)).strftime("%Y-%m-%d %H:%M")


def whole_values() -> bool:
    """Whether listings print every value whole: standard output is no terminal and no
    ``COLUMNS`` chose a width."""
    return not console.is_terminal and not os.environ.get("COLUMNS")


def clip(value: Any, width: int = 40) -> str:
    """``value`` as text (lists and objects as JSON) for a table's cell: cut to ``width`` with
    "…" where the table must fit a window, whole when printed into a file or another program."""
    if value is None:
        return ""
    text = (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=_plain)
    )
    if len(text) <= width or whole_values():
        return text
    return text[: width - 1] + "…"


ReportJsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the report as one JSON object: columns, rows, about."),
]
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


def _plain_console() -> Console:
    """A console for what users wrote (a mailing named «Акция [/bold]», a name with «[link=…]»):
    printed as it is, never read as markup (an unbalanced tag stopped the command) or emoji codes."""
    return Console(markup=False, emoji=False)


def show(table: Table) -> None:
    """Print a table of users' words (see ``_plain_console``)."""
    _plain_console().print(table)


def listing(table: Table, rows: Sequence[Mapping[str, Any]], *, as_json: bool = False) -> None:
    """Print a listing: ``rows`` as a JSON array with ``--json``, else ``table``.

    On a terminal the table fits the window; piped into a file or another program
    (``grep``, ``less -S``) every value is printed whole, however wide the table grows.
    """
    if as_json:
        print_json(list(rows))
        return
    plain = _plain_console()
    if not whole_values():
        plain.print(table)
        return
    needed = Measurement.get(plain, plain.options.update_width(1_000_000), table).maximum
    plain.width = max(plain.width, needed)
    plain.print(table)


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
    """The text up to its first line break (``\\n`` or ``\\r\\n``): a form feed or a Unicode line
    separator inside a password is part of it, as when it is typed."""
    return text.split("\n", 1)[0].removesuffix("\r")


def _text(secret: str) -> str:
    """``secret`` if it is text; bytes that are not UTF-8 (read through surrogate escapes) exit 2."""
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        fail("the password is not UTF-8 text", 2)
    return secret


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
        return _text(given)
    if stdin or file is not None:
        try:
            secret = _first_line(sys.stdin.read() if stdin else file.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        except (OSError, UnicodeDecodeError) as exc:
            fail(
                f"cannot read the password from {file}: {getattr(exc, 'strerror', None) or exc}", 2
            )
        if not secret:
            fail(f"no password in {'standard input' if stdin else file}", 2)
        if file is not None and file.stat().st_mode & 0o077:
            err.print(
                f"[yellow]warning:[/yellow] {file} can be read by others than you: "
                f"chmod 600 {file} (or delete it now that the password is stored)"
            )
        return _text(secret)
    first = _text(_typed(prompt))
    if confirm and first != _typed("Again / Ещё раз: "):
        err.print("[red]passwords differ[/red]")
        raise typer.Exit(3)
    return first


def _typed(prompt: str) -> str:
    """A password typed at the terminal, not shown; piped in (standard input not a terminal), the
    next line of it, without the warning ``getpass`` prints then, and a clear refusal at its end."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    err.print(prompt, end="")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        err.print()
        fail("no password on standard input (give it with --password-stdin or --password-file)", 2)
    return line.rstrip("\r\n")


# -- reports (crm.reports) -----------------------------------------------------------------


def show_report(report: Any, *, as_json: bool = False, export: Path | None = None) -> None:
    """Print a ``crm.reports.Report`` (or its JSON), and with ``export`` write it to XLSX or CSV."""
    from rich.table import Column, Table

    from crm import exports

    if export is not None:
        try:
            exports.write(export, report.title, report.columns, report.rows, charts=report.charts)
        except (ValueError, OSError) as exc:
            fail(f"cannot export to {export}: {exc}", 2)
    if as_json:
        print_json(report.as_json())
        return
    right = {"int", "money", "price", "percent"}
    table = Table(
        *(Column(c.title, justify="right" if c.kind in right else "left") for c in report.columns),
        title=report.title if report.name == "matrix" else f"{report.title}: {len(report.rows)}",
    )
    for row in report.rows:
        table.add_row(*(_cell(row.get(c.key), c.kind) for c in report.columns))
    listing(table, report.rows)
    about = ", ".join(f"{k}: {_cell(v, '')}" for k, v in report.about.items() if v is not None)
    if about:
        console.print(about)
    if export is not None:
        console.print(f"written to {export}")


def _cell(value: Any, kind: str) -> str:
    from datetime import date
    from decimal import Decimal

    if value is None:
        return ""
    if kind == "price" and isinstance(value, Decimal | int | float):
        # A price as stored: up to four decimals, two at least ("1 234.5678", "12.50").
        amount = Decimal(str(value))
        exponent = amount.normalize().as_tuple().exponent
        places = min(4, max(2, -exponent if isinstance(exponent, int) else 2))
        return f"{amount:,.{places}f}".replace(",", " ")
    if (kind == "money" and isinstance(value, Decimal | int | float)) or isinstance(value, Decimal):
        return f"{value:,.2f}".replace(",", " ")
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return clip(value)
