"""``satchel-field absences`` (trips, vacations, sick leave, days off; who covers meanwhile) and
``whereabouts``: where everyone is this week."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from crm.console import JsonOpt, clip, err, listing

from .common import _created, _fields, opened
from .records import _record_commands

absences_app = typer.Typer(
    help="Absences: business trips, vacations, sick leave, days off, offline. / Отсутствия.",
    no_args_is_help=True,
)
_record_commands("absences", absences_app)


@absences_app.command("add")
def absence_add(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="trip, vacation, sick_leave or day_off.")],
    starts_on: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    ends_on: Annotated[str, typer.Option("--until", help="Last day, YYYY-MM-DD.")],
    city: Annotated[str | None, typer.Option(help="Where a trip goes.")] = None,
    user: Annotated[
        str | None, typer.Option(help="Whose (a user id; a manager's people, for the office).")
    ] = None,
    substitute: Annotated[
        str | None,
        typer.Option(
            help="Who covers meanwhile (a login or user id): sees and works the absent one's "
            "clients on these days only."
        ),
    ] = None,
) -> None:
    """Enter an absence (yours unless --user; refused when it overlaps another of theirs)."""
    with opened(ctx) as replica:
        fields = _fields(
            None, kind=kind, starts_on=starts_on, ends_on=ends_on, city=city, user_id=user
        )
        if substitute is not None:
            fields["substitute_id"] = _user_id(replica, substitute)
        _created(replica, "absences", fields)


def _user_id(replica: Any, login_or_id: str) -> str:
    """A colleague's id from their login (or their id as it is); an unknown one is an error."""
    from sqlmodel import col, or_, select

    from crm.models import User

    with replica.db.read() as session:
        found = session.execute(
            select(col(User.id)).where(
                or_(col(User.login) == login_or_id.strip().lower(), col(User.id) == login_or_id)
            )
        ).scalar_one_or_none()
    if found is None:
        err.print(f"[red]error:[/red] no colleague with login or id {login_or_id!r}")
        raise typer.Exit(3)
    return str(found)


def whereabouts_show(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="A day of the week to show (default: this week).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where is everyone this week (or the week of --from): office, at a client, trip, vacation…"""
    from datetime import date, timedelta

    try:
        day = date.fromisoformat(start) if start else datetime.now(UTC).date()
    except ValueError:
        err.print(f"[red]error:[/red] --from wants a date, YYYY-MM-DD, got {start!r}")
        raise typer.Exit(2) from None
    monday = day - timedelta(days=day.weekday())
    with opened(ctx) as replica:
        rows = replica.whereabouts(monday)
    days = [monday + timedelta(days=n) for n in range(7)]
    items = [
        {
            "user_id": r.user_id,
            "name": r.name,
            "days": [
                {
                    "day": d.isoformat(),
                    "kind": w.kind,
                    "detail": w.detail,
                    "substitute": w.substitute,
                }
                for d, w in zip(days, r.days, strict=True)
            ],
        }
        for r in rows
    ]
    table = Table("Сотрудник / Employee", *(d.strftime("%a %d.%m") for d in days))
    for r in rows:
        table.add_row(
            r.name,
            *(
                w.kind
                + (f" ({clip(w.detail, 30)})" if w.detail else "")
                + (f" → {clip(w.substitute, 30)}" if w.substitute else "")
                for w in r.days
            ),
        )
    listing(table, items, as_json=as_json)


def register(app: typer.Typer) -> None:
    """Put the commands on ``app``, in the order ``satchel-field --help`` lists them."""
    app.command("whereabouts")(whereabouts_show)
