"""``satchel-field interactions`` (calls, meetings, letters written offline for the server to send)
and ``reminders``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm.console import console, err

from .common import FieldOpt, _created, _fields, opened
from .records import _record_commands

if TYPE_CHECKING:
    from clients.replica import Replica

interactions_app = typer.Typer(
    help="Calls, meetings, letters: history and plans, offline. / Взаимодействия.",
    no_args_is_help=True,
)
_record_commands("interactions", interactions_app)

reminders_app = typer.Typer(
    help="Reminders with a due time, offline. / Напоминания.", no_args_is_help=True
)
_record_commands("reminders", reminders_app)


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@interactions_app.command("add")
def interaction_add(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="What it was about.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    kind: Annotated[
        str, typer.Option(help="call, meeting, letter, purchase, complaint, other.")
    ] = "call",
    at: Annotated[
        str | None, typer.Option(help="When, ISO 8601 with offset (default: now).")
    ] = None,
    status: Annotated[str, typer.Option(help="done, planned or cancelled.")] = "done",
    person: Annotated[str | None, typer.Option(help="Contact person id.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    invite: Annotated[
        list[str] | None,
        typer.Option(
            help="Send a meeting invitation to this address after the "
            "next sync (repeatable; Outlook and phones accept it)."
        ),
    ] = None,
    field: FieldOpt = None,
) -> None:
    """Log a call or meeting, or plan one (with --invite: and invite the client's people)."""
    extra: dict[str, Any] = {}
    if invite:
        extra = {
            "participants": [{"role": "attendee", "address": a} for a in invite],
            "mail_status": "queued",
        }
    with opened(ctx) as replica:
        _created(
            replica,
            "interactions",
            _fields(
                field,
                subject=subject,
                counterparty_id=counterparty,
                kind=kind,
                starts_at=at or _now_iso(),
                status=status,
                contact_person_id=person,
                notes=notes,
                **extra,
            ),
        )
        _warn_claimed(replica, counterparty)


def _warn_claimed(replica: Replica, counterparty_id: str) -> None:
    """Say whose client it is when colleagues hold it for a group (a warning, not a refusal)."""
    warning = replica.claimed(counterparty_id)
    if warning:
        err.print(f"[yellow]{warning}[/yellow]")


@interactions_app.command("write")
def letter_write(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="The letter's subject.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    to: Annotated[list[str], typer.Option("--to", help="Recipient address (repeatable).")],
    body: Annotated[
        str | None,
        typer.Option(
            help="The text; merge fields such as {{contact.first_name}} "
            "are filled in when the server sends it."
        ),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Read the text from this UTF-8 file."),
    ] = None,
    cc: Annotated[list[str] | None, typer.Option("--cc", help="Copy to (repeatable).")] = None,
    person: Annotated[str | None, typer.Option(help="Contact person id.")] = None,
    reply_to: Annotated[
        str | None, typer.Option(help="Id of the letter (interaction) this one answers.")
    ] = None,
) -> None:
    """Write a letter, offline too: the server sends it after the next sync. / Написать письмо."""
    text = body_file.read_text(encoding="utf-8") if body_file else (body or "")
    participants = [{"role": "to", "address": a} for a in to] + [
        {"role": "cc", "address": a} for a in cc or []
    ]
    with opened(ctx) as replica:
        record = replica.create(
            "interactions",
            {
                "subject": subject,
                "counterparty_id": counterparty,
                "contact_person_id": person,
                "kind": "letter",
                "direction": "outgoing",
                "status": "planned",
                "starts_at": _now_iso(),
                "notes": text,
                "participants": participants,
                "reply_to_id": reply_to,
                "mail_status": "queued",
            },
        )
    console.print(
        f"letter {record['id']} queued: the server sends it after the next sync "
        "/ письмо будет отправлено после синхронизации"
    )


@reminders_app.command("add")
def reminder_add(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What to do.")],
    due: Annotated[
        str, typer.Option(help="Due time, ISO 8601 with offset, e.g. 2026-11-25T10:00:00+03:00.")
    ],
    about: Annotated[
        str | None,
        typer.Option(
            help="What it is about, as TYPE:ID (counterparty, contact_person, interaction, deal)."
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    field: FieldOpt = None,
) -> None:
    """Add a reminder for yourself."""
    subject_type, _, subject_id = (about or "").partition(":")
    with opened(ctx) as replica:
        _created(
            replica,
            "reminders",
            _fields(
                field,
                title=title,
                due_at=due,
                notes=notes,
                subject_type=subject_type or None,
                subject_id=subject_id or None,
            ),
        )
