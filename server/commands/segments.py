"""``satchel segment …``: list, add, show and delete saved segments (``crm.segments``) — saved
filters over counterparties that every report takes (``satchel report … --segment NAME``).

Written through the records service as the user ``--as`` names (the change log takes them to the
laptops): everyone sees every segment; its owner, the owner's manager and an admin change it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm.console import JsonOpt, console, listing, show
from server.commands.opening import ConfigOpt, reading, writing

segment_app = typer.Typer(
    help="Saved segments: filters over counterparties that every report takes. / Сегменты.",
    no_args_is_help=True,
)

ObjectJsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON object.")]
AsUser = Annotated[str, typer.Option("--as", help="As this user (the segment's owner).")]
Seeing = Annotated[
    str | None,
    typer.Option("--as", help="Count the members this user sees (default: no counts)."),
]


@segment_app.command("list")
def segment_list(login: Seeing = None, config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the segments (with --as: how many counterparties that user sees in each)."""
    from rich.table import Table

    from crm import accounts, segments
    from crm.models import Segment, User

    with reading(config) as session:
        if login is None:
            from sqlalchemy import select
            from sqlmodel import col

            logins = dict(session.execute(select(col(User.id), col(User.login))).all())
            rows = [
                {
                    "id": s.id,
                    "name": s.name,
                    "owner": logins.get(s.owner_id or "", ""),
                    "criteria": segments.describe(s.criteria),
                    "notes": s.notes or "",
                }
                for s in session.execute(
                    select(Segment).order_by(col(Segment.name), col(Segment.id))
                ).scalars()
            ]
        else:
            rows = segments.overview(session, accounts.find_user(session, login))
    table = Table("id", "Название / Name", "Автор / Owner", "Условия / Criteria")
    if login is not None:
        table.add_column("Клиентов / Members", justify="right")
    for r in rows:
        cells = [r["id"], r["name"], r["owner"], r["criteria"]]
        table.add_row(*cells, *([str(r["members"])] if login is not None else []))
    listing(table, rows, as_json=as_json)


Criterion = Annotated[
    list[str] | None,
    typer.Option(
        "--criterion",
        help="name=value[,value…], repeatable: kinds, tags, stage, owner_id (logins too), "
        "visibility, region, industry, segment, source, abc_class, xyz_class; '-' for an empty "
        "field. Any value of one criterion matches; every criterion must.",
    ),
]


@segment_app.command("add")
def segment_add(
    name: str,
    login: AsUser,
    criterion: Criterion = None,
    owner: Annotated[
        str | None, typer.Option(help="Whose segment (a login; a manager's people).")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Save a segment: e.g. add "Крупные Москва" --criterion abc_class=A,B --criterion
    region=Москва --as ivanov."""
    from crm import accounts, records, segments
    from crm.console import fail

    try:
        criteria = segments.parse(criterion or [])
    except ValueError as exc:
        fail(f"--criterion: {exc}", 2)
    with writing(config) as session:
        actor = accounts.find_user(session, login)
        try:
            criteria = segments.with_owner_ids(session, criteria)
        except ValueError as exc:
            fail(f"--criterion {exc}", 2)
        data: dict[str, Any] = {"name": name, "criteria": criteria, "notes": notes}
        if owner is not None:
            data["owner_id"] = accounts.find_user(session, owner).id
        made = records.create(session, actor, records.record_type("segments"), data)
        count = len(segments.members(session, actor, made.criteria))
        made_id = made.id
    console.print(f"segment {made_id} saved; {login} sees {count} counterparties in it")


@segment_app.command("show")
def segment_show(
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    login: Seeing = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Members shown, at most.")] = 50,
    config: ConfigOpt = None,
    as_json: ObjectJsonOpt = False,
) -> None:
    """Show a segment (with --as: its members that user sees, by name)."""
    from rich.table import Table

    from crm import accounts, segments
    from crm.console import print_json

    with reading(config) as session:
        found = segments.find(session, None, segment)
        shown = {
            "id": found.id,
            "name": found.name,
            "owner_id": found.owner_id,
            "criteria": found.criteria,
            "notes": found.notes,
            "version": found.version,
        }
        members: list[dict[str, str | None]] = []
        total = None
        if login is not None:
            actor = accounts.find_user(session, login)
            page, total = segments.listed(session, actor, found.criteria, limit=limit)
            members = [
                {"id": c.id, "name": c.legal_name, "inn": c.inn, "abc_class": c.abc_class}
                for c in page
            ]
    if as_json:
        print_json({**shown, "members": members, "total": total})
        return
    console.print(f"{shown['name']} ({shown['id']}): {segments.describe(found.criteria)}")
    if shown["notes"]:
        console.print(shown["notes"])
    if login is not None:
        table = Table("id", "Контрагент / Counterparty", "ИНН / INN", "ABC")
        for m in members:
            table.add_row(m["id"], m["name"], m["inn"] or "", m["abc_class"] or "")
        show(table)
        console.print(f"{total} counterparties / контрагентов")


@segment_app.command("delete")
def segment_delete(
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    login: AsUser,
    config: ConfigOpt = None,
) -> None:
    """Delete a segment (its owner, their manager or an admin)."""
    from crm import accounts, records, segments

    with writing(config) as session:
        actor = accounts.find_user(session, login)
        found = segments.find(session, actor, segment)
        found_id = found.id
        records.delete(session, actor, records.record_type("segments"), found_id)
    console.print(f"segment {found_id} deleted")
