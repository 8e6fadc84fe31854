"""``satchel-field segments``: saved segments (crm.segments), filters over counterparties every
report takes (``report show … --segment NAME``). Everyone sees every segment; its owner, their
manager and an admin change it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from crm.console import JsonOpt, clip, console, err, listing, print_json

from .common import ObjectJsonOpt, _created, _fields, _id_column, _show, opened

if TYPE_CHECKING:
    from clients.replica import Replica

segments_app = typer.Typer(
    help="Saved segments: filters over counterparties for every report, offline. / Сегменты.",
    no_args_is_help=True,
)
CriterionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--criterion",
        help="name=value[,value…], repeatable: kinds, tags, stage, owner_id (logins too), "
        "visibility, region, industry, segment, source, abc_class, xyz_class; '-' for an empty "
        "field. Any value of one criterion matches; every criterion must.",
    ),
]


def _criteria(replica: Replica, pairs: list[str]) -> dict[str, list[str]]:
    try:
        return replica.segment_criteria(pairs)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --criterion: {exc}")
        raise typer.Exit(2) from None


@segments_app.command("list")
def segments_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The segments, with how many of your counterparties (on this laptop) each holds."""
    with opened(ctx) as replica:
        rows = replica.segment_overview()
    table = Table(
        _id_column(),
        "Название / Name",
        "Автор / Owner",
        "Условия / Criteria",
        Column("Клиентов / Members", justify="right"),
    )
    for r in rows:
        table.add_row(r["id"], r["name"], r["owner"], clip(r["criteria"], 60), str(r["members"]))
    listing(table, rows, as_json=as_json)


@segments_app.command("add")
def segments_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The segment's name, e.g. 'Крупные Москва'.")],
    criterion: CriterionOpt = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
) -> None:
    """Save a segment (offline; sent with the next sync): e.g. add "Крупные Москва"
    --criterion abc_class=A,B --criterion region=Москва."""
    with opened(ctx) as replica:
        data = _fields(None, name=name, criteria=_criteria(replica, criterion or []), notes=notes)
        _created(replica, "segments", data)


@segments_app.command("edit")
def segments_edit(
    ctx: typer.Context,
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    criterion: Annotated[
        list[str] | None,
        typer.Option("--criterion", help="The new criteria (all of them), as add takes them."),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
) -> None:
    """Change a segment (offline; sent with the next sync)."""
    with opened(ctx) as replica:
        found = replica.segment_detail(segment, limit=1)
        criteria = _criteria(replica, criterion) if criterion is not None else None
        values = _fields(None, name=name, criteria=criteria, notes=notes)
        _show(replica.update("segments", found["id"], values))


@segments_app.command("show")
def segments_show(
    ctx: typer.Context,
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    limit: Annotated[int, typer.Option(min=1, max=500, help="Members shown, at most.")] = 50,
    as_json: ObjectJsonOpt = False,
) -> None:
    """A segment and its members on this laptop, by name."""
    from crm.segments import describe

    with opened(ctx) as replica:
        found = replica.segment_detail(segment, limit=limit)
    if as_json:
        print_json(found)
        return
    console.print(f"{found['name']} ({found['id']}): {describe(found['criteria'])}")
    if found.get("notes"):
        console.print(found["notes"])
    table = Table(_id_column(), "Контрагент / Counterparty", "ИНН / INN", "ABC")
    for m in found["members"]:
        table.add_row(m["id"], m["name"], m["inn"] or "", m["abc_class"] or "")
    listing(table, found["members"])
    console.print(f"{found['total']} counterparties / контрагентов")


@segments_app.command("delete")
def segments_delete(
    ctx: typer.Context,
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a segment (offline; sent with the next sync). Asks first unless --yes."""
    with opened(ctx) as replica:
        found = replica.segment_detail(segment, limit=1)
        if not yes and not typer.confirm(
            f"Delete segment {found['name']!r}? / Удалить сегмент?", default=False
        ):
            console.print("nothing deleted / ничего не удалено")
            raise typer.Exit(1)
        replica.delete("segments", found["id"])
    console.print(f"deleted {found['id']} (sent with the next sync)")
