"""The ``satchel`` command: run the server, migrate, manage users and devices, import, demo, mail.

One module per topic, each with its own typer group; this module puts them together.
The modules import what a command needs inside the command, so that ``satchel --help``
and a listing start without loading the web app, the mail bridge or the migrations'
machinery they do not use. What every command shares lives in ``crm.console``
(consoles, errors as exit codes, listings, passwords) and ``server.commands.opening``
(configuration and database).
"""

from __future__ import annotations

import typer

from crm.console import err, use_columns

from . import devices, duplicates, feeds, imports, mail, reports, running, segments, users, vcards
from . import mailings as mailing_commands
from . import suppliers as supplier_commands

app = typer.Typer(
    help="Satchel: offline-first CRM server. / Satchel: сервер CRM для работы без сети.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _widths() -> None:
    """Satchel: offline-first CRM server."""
    use_columns()


running.register(app)
app.add_typer(running.db_app, name="db")
app.add_typer(users.user_app, name="user")
app.add_typer(devices.device_app, name="device")
app.add_typer(imports.import_app, name="import")
app.add_typer(feeds.feed_app, name="feed")
app.add_typer(devices.sync_app, name="sync")
app.add_typer(mail.mail_app, name="mail")
app.command("duplicates")(duplicates.duplicates_command)
app.command("merge")(duplicates.merge_command)
app.command("merges")(duplicates.merges_command)
app.add_typer(vcards.vcard_app, name="vcard")
app.add_typer(reports.report_app, name="report")
app.add_typer(segments.segment_app, name="segment")
app.add_typer(supplier_commands.supplier_app, name="suppliers")
app.add_typer(mailing_commands.mailing_app, name="mailing")


def main() -> None:
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - only the database's refusal is answered here
        reason = _database_refusal(exc)
        if reason is None:
            raise
        err.print(f"[red]error:[/red] {reason}", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None


def _database_refusal(exc: BaseException) -> str | None:
    """What a database that cannot be opened said, in one line (a wrong URL, a database that does
    not exist, a server that does not answer), or None for any other error: a traceback of 140 lines
    helps no administrator. The driver's words never carry the URL's password."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from crm.database import CannotOpen

    if isinstance(exc, CannotOpen):
        return str(exc)
    if isinstance(exc, OperationalError):
        text = str(getattr(exc, "orig", None) or exc).strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return (
            "cannot open the database: "
            + " ".join(lines[:2])[:500]
            + (
                " (check database_url / SATCHEL_DATABASE_URL, and that the database exists and its "
                "server runs)"
            )
        )
    if isinstance(exc, ArgumentError) and "URL" in str(exc):
        return "database_url is not a database URL (e.g. postgresql://satchel@127.0.0.1/satchel)"
    return None
