"""``satchel-field events``, ``event-costs`` and ``event-participants``: marketing events, what
they cost and whom they invite, offline."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import FieldOpt, _created, _fields, opened
from .records import _record_commands

events_app = typer.Typer(
    help="Marketing events: exhibitions, seminars, promotions, offline (their owner, the owner's "
    "manager, the office keep them; anyone invites their clients). / Мероприятия.",
    no_args_is_help=True,
)
_record_commands("events", events_app)

event_costs_app = typer.Typer(
    help="The cost lines of marketing events, offline. / Затраты на мероприятия.",
    no_args_is_help=True,
)
_record_commands("event-costs", event_costs_app)

event_participants_app = typer.Typer(
    help="Clients invited to marketing events and whether they came, offline. / Участники "
    "мероприятий.",
    no_args_is_help=True,
)
_record_commands("event-participants", event_participants_app)


@events_app.command("add")
def event_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The event's name, e.g. 'JUNWEX Москва'.")],
    kind: Annotated[
        str, typer.Option(help="exhibition, seminar, promotion, advertising or mailing.")
    ] = "exhibition",
    starts_on: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    ends_on: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    place: Annotated[str | None, typer.Option(help="Where.")] = None,
    budget: Annotated[str | None, typer.Option(help="Planned spending, roubles.")] = None,
    field: FieldOpt = None,
) -> None:
    """Add a marketing event of your own (sent with the next sync). / Добавить мероприятие."""
    with opened(ctx) as replica:
        _created(
            replica,
            "events",
            _fields(
                field,
                name=name,
                kind=kind,
                starts_on=starts_on,
                ends_on=ends_on,
                place=place,
                budget=budget,
            ),
        )


@events_app.command("invite")
def event_invite(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id (satchel-field events list).")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    person: Annotated[
        str | None, typer.Option("--person", help="One of its contact persons' id.")
    ] = None,
    status: Annotated[
        str, typer.Option(help="invited, registered, attended or declined.")
    ] = "invited",
) -> None:
    """Invite a client to an event (sent with the next sync). / Пригласить клиента."""
    with opened(ctx) as replica:
        _created(
            replica,
            "event-participants",
            _fields(
                None,
                event_id=event_id,
                counterparty_id=counterparty,
                contact_person_id=person,
                status=status,
            ),
        )


@event_costs_app.command("add")
def event_cost_add(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    item: Annotated[str, typer.Argument(help="What was paid for, e.g. 'Стенд'.")],
    amount: Annotated[str, typer.Argument(help="Roubles, e.g. 350000 or 1250.50.")],
    spent_on: Annotated[str | None, typer.Option(help="Day paid, YYYY-MM-DD.")] = None,
) -> None:
    """Add a cost line to an event you keep (sent with the next sync). / Добавить затраты."""
    with opened(ctx) as replica:
        _created(
            replica,
            "event-costs",
            _fields(None, event_id=event_id, item=item, amount=amount, spent_on=spent_on),
        )


@event_participants_app.command("add")
def event_participant_add(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    person: Annotated[
        str | None, typer.Option("--person", help="One of its contact persons' id.")
    ] = None,
    status: Annotated[
        str, typer.Option(help="invited, registered, attended or declined.")
    ] = "invited",
) -> None:
    """Add a participant to an event (as events invite). / Добавить участника."""
    event_invite(ctx, event_id, counterparty, person, status)
