"""The ``satchel-field`` command: a salesperson's CRM on the laptop, synced when there is a network.

Record commands (counterparties, people, interactions, reminders) work on the
local replica only and never touch the network; ``sync`` and ``watch`` are the
only commands that talk to the server, and ``login`` to get a device token.

The replica, the sync agent and the screens are imported by the commands that use
them, so that ``--help`` starts at once.

One module per topic, each with its own typer groups; this module puts them together,
in the order ``satchel-field --help`` lists them:

- ``common``: what every command shares — opening the replica (its passphrase, errors as
  exit codes), the server's HTTP client, the ``--field``/``--json`` options, showing a record;
- ``syncing``: ``login``, ``sync``, ``watch``, ``status``;
- ``screens``: ``ui`` (Satchel in the browser) and ``shortcut``;
- ``conflicts``: ``conflicts``, ``resolve`` and ``quarantine …``;
- ``records``: what every record group has (``edit``, ``delete``, ``show``, ``list``);
- the record groups and their own commands: ``counterparties`` (counterparties, people,
  contracts), ``interactions`` (interactions and letters, reminders), ``complaints``,
  ``absences`` (absences and ``whereabouts``), ``claims`` (claims, contact rules),
  ``suppliers`` (supplier terms), ``events`` (events, their costs and participants),
  ``mailings``, ``segments``;
- ``reports``: ``report show``.

``opened`` and ``LaptopHome`` are looked up here by ``ui`` when it runs: tests replace them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from clients.profiles import ENV_HOME, Profiles, default_home
from crm import console as terminal

from . import (
    absences,
    claims,
    complaints,
    conflicts,
    counterparties,
    events,
    interactions,
    mailings,
    reports,
    screens,
    segments,
    suppliers,
    syncing,
)
from .common import opened

__all__ = ["app", "opened"]

app = typer.Typer(
    help="Satchel field client: your CRM on the laptop, with or without a network. / "
    "Полевой клиент Satchel: CRM на ноутбуке, с сетью и без.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def __getattr__(name: str) -> Any:
    """The screens' home, imported when ``ui`` first needs it (tests replace ``LaptopHome`` here)."""
    if name == "LaptopHome":
        from clients.web_home import LaptopHome

        return LaptopHome
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar=ENV_HOME,
            help="Where replicas live (default: your user data folder).",
        ),
    ] = None,
) -> None:
    """Satchel field client / Полевой клиент Satchel."""
    ctx.obj = Profiles(data_dir or default_home())
    terminal.use_columns()


syncing.register(app)
screens.register(app)
conflicts.register(app)
absences.register(app)
app.add_typer(conflicts.quarantine_app, name="quarantine")
app.add_typer(events.events_app, name="events")
app.add_typer(mailings.mailings_app, name="mailings")
app.add_typer(events.event_costs_app, name="event-costs")
app.add_typer(events.event_participants_app, name="event-participants")
app.add_typer(counterparties.counterparties_app, name="counterparties")
app.add_typer(counterparties.people_app, name="people")
app.add_typer(interactions.interactions_app, name="interactions")
app.add_typer(interactions.reminders_app, name="reminders")
app.add_typer(complaints.complaints_app, name="complaints")
app.add_typer(claims.claims_app, name="claims")
app.add_typer(absences.absences_app, name="absences")
app.add_typer(counterparties.contracts_app, name="contracts")
app.add_typer(claims.contact_rules_app, name="contact-rules")
app.add_typer(suppliers.supplier_terms_app, name="supplier-terms")
app.add_typer(segments.segments_app, name="segments")
app.add_typer(reports.report_app, name="report")
