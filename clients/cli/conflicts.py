"""``satchel-field conflicts`` and ``resolve``: the same field changed on two laptops; and
``quarantine …``: changes the server refused, to retry or drop."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crm.console import JsonOpt, clip, console, err, listing

from .common import _id_column, _value, opened

quarantine_app = typer.Typer(
    help="Changes the server refused, or of records you can no longer see: list, retry, drop.",
    no_args_is_help=True,
)


def conflicts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Open conflicts: the same field changed on two laptops. / Конфликты правок."""
    from sync import protocol

    with opened(ctx) as replica:
        items = replica.conflicts()
        user_id, device_id = replica.state("user_id"), replica.state("device_id")
    rows = []
    for c in items:
        server, client = (
            (c.get("server") or {}).get("value"),
            (c.get("client") or {}).get("value"),
        )
        server_side = protocol.mine_is_server_side(c, user_id, device_id)
        mine, theirs = (server, client) if server_side else (client, server)
        rows.append(
            {
                "id": c["id"],
                "type": c["type"],
                "record_id": c["record_id"],
                "field": c.get("field") or c["kind"],
                "mine": mine,
                "theirs": theirs,
                "kept_now": "mine" if server_side else "theirs",
                "resolution": c.get("pending_choice"),
            }
        )
    if not rows and not as_json:
        console.print("no open conflicts / конфликтов нет")
        return
    table = Table(
        _id_column(),
        "Запись / Record",
        "Поле / Field",
        "Моё / Mine",
        "Их / Theirs",
        "Сейчас / Kept now",
        "Решение / Resolution",
    )
    for r in rows:
        table.add_row(
            r["id"],
            f"{r['type']} {r['record_id']}",
            r["field"],
            clip(r["mine"]),
            clip(r["theirs"]),
            r["kept_now"],
            r["resolution"] or "",
        )
    listing(table, rows, as_json=as_json)


def resolve(
    ctx: typer.Context,
    conflict_id: Annotated[str, typer.Argument(help="Conflict id (see 'conflicts').")],
    choice: Annotated[str, typer.Argument(help="mine, theirs or value.")],
    value: Annotated[str | None, typer.Option(help="The new value, with 'value'.")] = None,
) -> None:
    """Resolve a conflict (works offline; sent with the next sync). / Разрешить конфликт."""
    if choice == "value" and value is None:
        err.print("[red]error:[/red] give the new value with --value")
        raise typer.Exit(3)
    with opened(ctx) as replica:
        replica.resolve(conflict_id, choice, _value(value) if value is not None else None)
        console.print(f"conflict {conflict_id}: {choice}; it is sent with the next sync")


@quarantine_app.command("list")
def quarantine_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show quarantined changes and why."""
    with opened(ctx) as replica:
        items = replica.quarantine()
    table = Table("id", "Изменение / Change", "Причина / Reason", "С / Since")
    for q in items:
        m = q["mutation"]
        what = f"{m['op']} {m.get('type', '')} {m.get('id') or m.get('conflict_id')}"
        table.add_row(
            str(q["id"]), what + f"\n{clip(m.get('fields', ''), 60)}", q["reason"], q["at"]
        )
    listing(table, items, as_json=as_json)


@quarantine_app.command("retry")
def quarantine_retry(
    ctx: typer.Context, item: Annotated[int, typer.Argument(help="Quarantine id.")]
) -> None:
    """Queue a quarantined change again (sent with the next sync)."""
    with opened(ctx) as replica:
        replica.retry(item)
        console.print(f"change {item} queued again")


@quarantine_app.command("drop")
def quarantine_drop(
    ctx: typer.Context, item: Annotated[int, typer.Argument(help="Quarantine id.")]
) -> None:
    """Discard a quarantined change for good."""
    with opened(ctx) as replica:
        replica.drop(item)
        console.print(f"change {item} dropped")


def register(app: typer.Typer) -> None:
    """Put the commands on ``app``, in the order ``satchel-field --help`` lists them."""
    app.command()(conflicts)
    app.command()(resolve)
