"""``satchel feed …``: calendar feeds (iCalendar URLs for Outlook and phones)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm.console import ZONE_LABEL, JsonOpt, console, listing, when
from server.commands.opening import ConfigOpt, load_config, peeking, writing

feed_app = typer.Typer(
    help="Calendar feeds (iCalendar URLs for Outlook and phones): issue, list, revoke.",
    no_args_is_help=True,
)


@feed_app.command("add")
def feed_add(
    login: str,
    kind: Annotated[str, typer.Option(help="plan, team (managers) or birthdays.")] = "plan",
    free_busy: Annotated[bool, typer.Option(help="Publish times only, as busy.")] = False,
    label: Annotated[
        str, typer.Option(help="A note for the list, e.g. 'Outlook на ноутбуке'.")
    ] = "",
    config: ConfigOpt = None,
) -> None:
    """Issue a feed for a user and print its URL (shown only now)."""
    from calendar_bridge import tokens
    from crm import accounts

    cfg = load_config(config)
    with writing(config) as session:
        feed, token = tokens.issue(
            session, accounts.find_user(session, login), kind, free_busy=free_busy, label=label
        )
    console.print(f"feed {feed.id} ({feed.kind}) for {login}:")
    console.print(f"{cfg.public_url}/calendar/{token}.ics", soft_wrap=True)


@feed_app.command("list")
def feed_list(
    login: Annotated[str | None, typer.Option("--user", help="Only this user's feeds.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List feeds (never their URLs: only their hashes are kept)."""
    from rich.table import Column, Table
    from sqlalchemy import select

    from server.commands.listings import FEED_TOKEN, USER, user_id

    # Through Core (server.commands.listings), as calendar_bridge.tokens.mine reads them, newest
    # first: a listing need not load SQLModel, the models or the accounts' rules.
    with peeking(config) as connection:
        query = select(FEED_TOKEN).order_by(FEED_TOKEN.c.created_at.desc())
        if login:
            query = query.where(FEED_TOKEN.c.user_id == user_id(connection, login))
        logins = {u.id: u.login for u in connection.execute(select(USER.c.id, USER.c.login))}
        rows: list[dict[str, Any]] = [
            {
                "id": f.id,
                "user": logins.get(f.user_id, f.user_id),
                "user_id": f.user_id,
                "kind": f.kind,
                "free_busy": f.free_busy,
                "label": f.label,
                "created": f.created_at,
                "revoked": f.revoked_at,
            }
            for f in connection.execute(query)
        ]
    table = Table(
        Column("id", no_wrap=True, min_width=36),
        "user",
        "kind",
        "free/busy",
        "label",
        f"created ({ZONE_LABEL})",
        f"revoked ({ZONE_LABEL})",
    )
    for r in rows:
        table.add_row(
            r["id"],
            r["user"],
            r["kind"],
            "yes" if r["free_busy"] else "",
            r["label"],
            when(r["created"]),
            when(r["revoked"]),
        )
    listing(table, rows, as_json=as_json)


@feed_app.command("revoke")
def feed_revoke(feed_id: str, config: ConfigOpt = None) -> None:
    """Revoke a feed: its URL fails from the next poll on."""
    from calendar_bridge import tokens

    with writing(config) as session:
        tokens.revoke(session, None, feed_id)
    console.print(f"feed {feed_id} revoked")


@feed_app.command("regenerate")
def feed_regenerate(feed_id: str, config: ConfigOpt = None) -> None:
    """Replace a feed's URL; the old one stops working."""
    from calendar_bridge import tokens

    cfg = load_config(config)
    with writing(config) as session:
        feed, token = tokens.regenerate(session, None, feed_id)
    console.print(f"feed {feed.id} replaces {feed_id}:")
    console.print(f"{cfg.public_url}/calendar/{token}.ics", soft_wrap=True)
