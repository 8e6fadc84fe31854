"""``satchel device …`` and ``satchel sync …``: users' laptops, their sync progress, the change log's tombstones."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.console import ZONE_LABEL, JsonOpt, console, err, listing, when
from server.commands.opening import ConfigOpt, peeking, writing

device_app = typer.Typer(help="List and revoke users' devices.", no_args_is_help=True)
sync_app = typer.Typer(
    help="Offline sync: devices' progress and the change log's tombstones.", no_args_is_help=True
)


@device_app.command("list")
def device_list(
    login: Annotated[str | None, typer.Option("--user", help="Only this user's devices.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List devices with when they were last seen."""
    from rich.table import Column, Table
    from sqlalchemy import select

    from server.commands.listings import DEVICE, USER, user_id

    # Through Core (server.commands.listings), as crm.accounts.list_devices reads them: a listing
    # need not load SQLModel, the models or the accounts' rules.
    with peeking(config) as connection:
        query = select(DEVICE).order_by(DEVICE.c.created_at)
        if login:
            query = query.where(DEVICE.c.user_id == user_id(connection, login))
        logins = {u.id: u.login for u in connection.execute(select(USER.c.id, USER.c.login))}
        rows = [
            {
                "id": d.id,
                "user": logins.get(d.user_id, "?"),
                "name": d.name,
                "last_seen": d.last_seen_at,
                "revoked": d.revoked_at,
            }
            for d in connection.execute(query)
        ]
    table = Table(
        Column("id", no_wrap=True, min_width=36),
        "user",
        "name",
        f"last seen ({ZONE_LABEL})",
        f"revoked ({ZONE_LABEL})",
    )
    for r in rows:
        table.add_row(r["id"], r["user"], r["name"], when(r["last_seen"]), when(r["revoked"]))
    listing(table, rows, as_json=as_json)


@device_app.command("revoke")
def device_revoke(device_id: str, config: ConfigOpt = None) -> None:
    """Revoke a device: its token is refused from the next request on."""
    from crm import accounts

    with writing(config) as session:
        device = accounts.revoke_device(session, None, device_id)
    console.print(f"device '{device.name}' revoked")


@sync_app.command("prune")
def sync_prune(
    days: Annotated[
        int, typer.Option(help="Keep tombstones of deletes younger than this many days.")
    ] = 400,
    config: ConfigOpt = None,
) -> None:
    """Forget old tombstones; a laptop that was away longer pushes its changes and loads its data again."""
    from datetime import timedelta

    from crm import changes
    from crm.models.base import utcnow

    if days < 30:
        err.print(
            "refusing to keep tombstones for less than 30 days: laptops offline longer would miss deletes"
        )
        raise typer.Exit(2)
    with writing(config) as session:
        count = changes.prune_tombstones(session, utcnow() - timedelta(days=days))
    console.print(f"{count} tombstones older than {days} days forgotten")


@sync_app.command("devices")
def sync_devices(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every device's sync progress: mutations applied, and who it belongs to."""
    from rich.table import Column, Table
    from sqlalchemy import select

    from server.commands.listings import DEVICE, SYNC_DEVICE, USER

    with peeking(config) as connection:
        found = connection.execute(
            select(
                USER.c.login,
                DEVICE.c.name,
                DEVICE.c.id,
                SYNC_DEVICE.c.last_seq,
                DEVICE.c.last_seen_at,
            )
            .join(DEVICE, DEVICE.c.user_id == USER.c.id)
            .outerjoin(SYNC_DEVICE, SYNC_DEVICE.c.device_id == DEVICE.c.id)
            .order_by(USER.c.login, DEVICE.c.name)
        ).all()
    rows = [
        {
            "user": login,
            "device": name,
            "id": device_id,
            "mutations_applied": last_seq or 0,
            "last_seen": seen,
        }
        for login, name, device_id, last_seq, seen in found
    ]
    table = Table(
        "user",
        "device",
        Column("id", no_wrap=True, min_width=36),
        "mutations applied",
        f"last seen ({ZONE_LABEL})",
    )
    for r in rows:
        table.add_row(
            r["user"], r["device"], r["id"], str(r["mutations_applied"]), when(r["last_seen"])
        )
    listing(table, rows, as_json=as_json)
