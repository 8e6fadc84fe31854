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

from crm.console import use_columns

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
    app()
