"""``satchel mail review …``: letters the bridge could not file with certainty."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm.console import ZONE_LABEL, JsonOpt, console, listing, reporting
from server.commands.opening import ConfigOpt, load_config, mail_bridge, open_db, peeking

review_app = typer.Typer(
    help="Letters the bridge could not file with certainty: list and settle them.",
    no_args_is_help=True,
)


def _candidate(found: dict[str, Any], counterparty_id: str) -> dict[str, Any]:
    cp = found.get(counterparty_id)
    return {
        "id": counterparty_id,
        "name": (cp.short_name or cp.legal_name) if cp else None,
        "inn": cp.inn if cp else None,
    }


def _shown(candidate: dict[str, Any]) -> str:
    """``ООО Ромашка, ИНН 7707083893 (id)``: whom a person would recognise, and the id to settle with."""
    if candidate["name"] is None:
        return candidate["id"]
    inn = f", ИНН {candidate['inn']}" if candidate["inn"] else ""
    return f"{candidate['name']}{inn} ({candidate['id']})"


@review_app.command("list")
def review_list(
    all_: Annotated[bool, typer.Option("--all", help="Settled ones too.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Letters waiting for a person to say whose they are; candidates with their name and INN."""
    from rich.table import Column, Table
    from sqlalchemy import select

    from server.commands.listings import COUNTERPARTY, MAIL_REVIEW
    from server.commands.mail import when

    # The table itself rather than mail.bridge (as mail.bridge.list_reviews reads it), through
    # Core (server.commands.listings): a listing need not load IMAP, decoding, matching or models.
    with peeking(config) as connection:
        query = select(MAIL_REVIEW).order_by(MAIL_REVIEW.c.received_at).limit(500)
        if not all_:
            query = query.where(MAIL_REVIEW.c.status == "open")
        items = list(connection.execute(query))
        wanted = {c for r in items for c in r.candidates}
        found = (
            {
                cp.id: cp
                for cp in connection.execute(
                    select(COUNTERPARTY).where(COUNTERPARTY.c.id.in_(wanted))
                )
            }
            if wanted
            else {}
        )
        rows = [
            {
                "id": r.id,
                "received": r.received_at,
                "from": r.sender,
                "subject": r.subject,
                "reason": r.reason,
                "detail": r.detail,
                "candidates": [_candidate(found, c) for c in r.candidates],
                "status": r.status,
            }
            for r in items
        ]
    table = Table(
        Column("id", no_wrap=True, min_width=36),
        f"received ({ZONE_LABEL})",
        "from",
        "subject",
        "why",
        "candidates",
        "status",
    )
    for r in rows:
        table.add_row(
            r["id"],
            when(r["received"]),
            r["from"],
            r["subject"],
            f"{r['reason']}: {r['detail']}",
            "\n".join(_shown(c) for c in r["candidates"]),
            r["status"],
        )
    listing(table, rows, as_json=as_json)


@review_app.command("settle")
def review_settle(
    review_id: str,
    as_login: Annotated[
        str, typer.Option("--as", help="Settle as this user: they must see the counterparty.")
    ],
    counterparty: Annotated[
        str | None, typer.Option(help="File under this counterparty (id).")
    ] = None,
    contact_person: Annotated[
        str | None, typer.Option(help="And this contact person (id).")
    ] = None,
    dismiss: Annotated[
        bool, typer.Option(help="Not a letter for any client: never file it.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """File a waiting letter under a counterparty, or dismiss it."""
    from crm import accounts

    bridge = mail_bridge()
    cfg = load_config(config)
    with reporting():
        database = open_db(cfg)
        with database.read() as session:
            actor = accounts.find_user(session, as_login)
        review = bridge.settle_review(
            database,
            cfg,
            review_id,
            actor,
            counterparty_id=counterparty,
            contact_person_id=contact_person,
            dismiss=dismiss,
        )
    console.print(
        f"letter {review.id}: {review.status}"
        + (f" as interaction {review.interaction_id}" if review.interaction_id else "")
    )


@review_app.command("rematch")
def review_rematch(config: ConfigOpt = None) -> None:
    """Match the waiting letters again, e.g. after adding contact persons or importing clients."""
    bridge = mail_bridge()
    cfg = load_config(config)
    with reporting():
        filed, waiting = bridge.rematch_reviews(open_db(cfg), cfg)
    console.print(
        f"{filed} letter(s) filed, {waiting} still waiting / разобрано {filed}, ждут {waiting}"
    )
