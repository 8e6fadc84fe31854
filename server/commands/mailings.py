"""``satchel mailing …``: a mailing's plan, and queueing its letters (``crm.mailings``).

Mailings are drafted anywhere (the web screens, REST, a laptop); queueing is the server's, so it
is here and on the screens: as the user ``--as`` names, who must keep the mailing (its owner, the
owner's manager, the office, an admin). The plan lists the rows of the clients that user sees.
"""

from __future__ import annotations

from typing import Annotated

import typer

from server.commands.opening import ConfigOpt, reading, writing

mailing_app = typer.Typer(
    help="Mailings: who a mailing writes to, and queueing its letters. / Рассылки.",
    no_args_is_help=True,
)

MailingArg = Annotated[str, typer.Argument(help="The mailing's id.")]
AsUser = Annotated[str, typer.Option("--as", help="As this user (login).")]
ObjectJsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON object.")]

REASONS = {
    "opted_out": "отказался от рассылок / opted out",
    "no_address": "нет адреса / no email",
    "failing": "адрес не работает / address bounces",
    "no_people": "нет контактных лиц / no contact persons",
    "duplicate": "тот же адрес / same address",
}


ListJsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the rows as JSON (one array of objects).")
]


@mailing_app.command("list")
def mailing_list(login: AsUser, config: ConfigOpt = None, as_json: ListJsonOpt = False) -> None:
    """The mailings this user may see, newest first: their ids (for plan and queue), names,
    states and counts."""
    from rich.table import Table

    from crm import accounts, records
    from crm.console import ZONE_LABEL, listing, when

    rows = []
    with reading(config) as session:
        user = accounts.find_user(session, login)
        rt = records.record_type("mailings")
        offset = 0
        while True:
            page = records.list_records(
                session, user, rt, sort="-created_at", limit=500, offset=offset, count=False
            )
            rows += [
                {
                    "id": m.id,
                    "name": m.name,
                    "status": m.status,
                    "created_at": m.created_at,
                    "queued_at": m.queued_at,
                    "recipients": m.recipients,
                    "sent": m.sent,
                    "failed": m.failed,
                    "bounced": m.bounced,
                }
                for m in page.items
            ]
            if len(page.items) < 500:
                break
            offset += 500
    table = Table(
        "id",
        "Название / Name",
        "Состояние / Status",
        f"Создана / Created ({ZONE_LABEL})",
        "Писем / Letters",
        "Отправлено / Sent",
        "Ошибки / Failed",
    )
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["status"],
            when(r["created_at"]),
            str(r["recipients"]),
            str(r["sent"]),
            str(r["failed"] + r["bounced"]),
        )
    listing(table, rows, as_json=as_json)


@mailing_app.command("plan")
def mailing_plan(
    mailing: MailingArg, login: AsUser, config: ConfigOpt = None, as_json: ObjectJsonOpt = False
) -> None:
    """Who the mailing writes to and who it leaves out, and why (of a queued one: its letters)."""
    from rich.markup import escape
    from rich.table import Table

    from crm import accounts
    from crm.console import console, print_json, show
    from server.api.mailings import answer

    with reading(config) as session:
        body = answer(session, accounts.find_user(session, login), mailing)
    if as_json:
        print_json(body)
        return
    m = body["mailing"]
    console.print(f"{escape(m['name'])} ({m['id']}): {m['status']}", emoji=False)
    queued = m["status"] != "draft"
    table = Table("Контрагент / Counterparty", "Лицо / Person", "Email")
    if queued:
        table.add_column("Состояние / State")
    for item in body["items"]:
        cells = [item["counterparty_name"], item["person_name"], item["email"]]
        table.add_row(*cells, *([item["state"]] if queued else []))
    show(table)
    if body["left_out"]:
        left = Table("Контрагент / Counterparty", "Лицо / Person", "Почему / Why")
        for x in body["left_out"]:
            left.add_row(x["counterparty_name"], x["person_name"] or "", REASONS[x["reason"]])
        show(left)
    console.print(
        f"{body['recipients']} letters / писем; {body['opted_out']} opted out / отказались; "
        f"{body['unreachable']} unreachable / недоступны"
        + (f"; {body['hidden']} of clients you do not see" if body["hidden"] else "")
    )


@mailing_app.command("queue")
def mailing_queue(mailing: MailingArg, login: AsUser, config: ConfigOpt = None) -> None:
    """Queue the mailing's letters in the outbox, one per address (sent at the mailbox's pace);
    a mailing queued already is left as it is."""
    from crm import accounts, mailings
    from crm.console import console
    from mail.templates import FIELDS

    with writing(config) as session:
        done = mailings.queue(
            session, accounts.find_user(session, login), mailing, known_fields=FIELDS
        )
        name, letters, already = done.mailing.name, done.letters, done.already
        total = done.mailing.recipients
    if already:
        console.print(f"{name}: queued already ({total} letters); nothing written again")
    else:
        console.print(f"{name}: {letters} letters queued / писем в очереди")
