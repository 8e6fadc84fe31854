"""``satchel device …`` and ``satchel sync …``: users' laptops, their sync progress, the change log's tombstones."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.console import ZONE_LABEL, JsonOpt, console, err, listing, when
from server.commands.opening import ConfigOpt, reading, writing

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

    from crm import accounts
    from crm.models import User

    with reading(config) as session:
        user = accounts.find_user(session, login) if login else None
        logins = {u.id: u.login for u in session.execute(select(User)).scalars()}
        rows = [
            {
                "id": d.id,
                "user": logins.get(d.user_id, "?"),
                "name": d.name,
                "last_seen": d.last_seen_at,
                "revoked": d.revoked_at,
            }
            for d in accounts.list_devices(session, user)
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
    from sqlmodel import col

    from crm.models import Device, User
    from sync.models import DeviceCursor

    with reading(config) as session:
        found = session.execute(
            select(
                col(User.login),
                col(Device.name),
                col(Device.id),
                col(DeviceCursor.last_seq),
                col(Device.last_seen_at),
            )
            .join(Device, col(Device.user_id) == col(User.id))
            .outerjoin(DeviceCursor, col(DeviceCursor.device_id) == col(Device.id))
            .order_by(col(User.login), col(Device.name))
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
