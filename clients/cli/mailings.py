"""``satchel-field mailings``: letters to a segment's clients or an event's participants, drafted
offline; the server works out who gets them and queues them (``satchel mailing``, the web)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import FieldOpt, _created, _fields, opened
from .records import _record_commands

mailings_app = typer.Typer(
    help="Mailings: letters to a segment's clients or an event's participants, drafted offline "
    "(the server works out who gets them and queues them: satchel mailing, the web). / Рассылки.",
    no_args_is_help=True,
)
_record_commands("mailings", mailings_app)


@mailings_app.command("add")
def mailing_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The mailing's name, e.g. 'Приглашение на JUNWEX'.")],
    subject: Annotated[str, typer.Option(help="The letters' subject (merge fields allowed).")],
    body: Annotated[str, typer.Option(help="The letters' text (merge fields allowed).")],
    segment: Annotated[
        str | None, typer.Option(help="To this saved segment's clients (id).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="To this event's participants (id).")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            help="Of the event's participants only these (repeatable): invited, "
            "registered, attended, declined."
        ),
    ] = None,
    field: FieldOpt = None,
) -> None:
    """Draft a mailing (sent with the next sync; queued on the server). / Черновик рассылки."""
    with opened(ctx) as replica:
        _created(
            replica,
            "mailings",
            _fields(
                field,
                name=name,
                subject=subject,
                body=body,
                segment_id=segment,
                event_id=event,
                statuses=status or None,
            ),
        )
