"""What every record group of ``satchel-field`` has: ``edit``, ``delete``, ``show`` and ``list``,
offline (sent with the next sync).

The laptop's commands over records (which record types have one is this command's choice; what
their listings show is the type's, crm.registry). Importing the registry would load the models,
and ``satchel-field --help`` must stay quick: the names are given by the topic modules.

A topic module calls ``_record_commands`` as soon as it has made a group, before its own
commands (``add``…): a group's ``--help`` lists these four first.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from crm.console import JsonOpt, clip, console, err, listing

from .common import FieldOpt, ObjectJsonOpt, _fields, _id_column, _show, opened


def _value_labels() -> dict[tuple[str, str], dict[str, str]]:
    """A listing's words for the values of a field that are codes (an event's kind), in both
    languages as the reports name them."""
    from crm import reports

    return {("events", "kind"): reports.EVENT_KINDS}


def _counterparty_names(replica: Any, items: list[dict[str, Any]]) -> dict[str, str]:
    """The names of the counterparties ``items`` name (``counterparty_id``), as a card shows them;
    one not on this laptop keeps its id."""
    from crm.errors import NotFound

    names: dict[str, str] = {}
    for cp_id in {str(i["counterparty_id"]) for i in items if i.get("counterparty_id")}:
        try:
            cp = replica.get("counterparties", cp_id)
        except NotFound:
            continue
        names[cp_id] = cp.get("short_name") or cp.get("legal_name") or cp_id
    return names


def _cell_text(type_name: str, name: str, value: Any, names: dict[str, str]) -> Any:
    """A listing's cell: a counterparty by its name, a code by its words, the rest as stored."""
    if value is None or value == "":
        return ""
    if name == "counterparty_id":
        return names.get(str(value), value)
    return _value_labels().get((type_name, name), {}).get(str(value), value)


def _label(record: dict[str, Any]) -> str:
    """What a person calls a record: its name, subject or title."""
    for name in ("legal_name", "full_name", "subject", "title", "description"):
        if record.get(name):
            return str(record[name])
    return str(record["id"])


def _record_commands(type_name: str, group: typer.Typer) -> None:
    @group.command("edit")
    def edit(
        ctx: typer.Context,
        record_id: str,
        field: FieldOpt = None,
        notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    ) -> None:
        """Change fields (offline; sent with the next sync)."""
        with opened(ctx) as replica:
            _show(replica.update(type_name, record_id, _fields(field, notes=notes)))

    @group.command("delete")
    def delete(
        ctx: typer.Context,
        record_id: str,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
    ) -> None:
        """Delete a record (offline; sent with the next sync). Asks first unless --yes."""
        from crm import records

        with opened(ctx) as replica:
            record = replica.get(type_name, record_id)  # a wrong id says so before any question
            what = f"{records.record_type(type_name).singular} {_label(record)!r}"
            if type_name == "counterparties":
                what += " with its contact persons, deals and history"
            if not yes and not typer.confirm(f"Delete {what}? / Удалить?", default=False):
                console.print("nothing deleted / ничего не удалено")
                raise typer.Exit(1)
            replica.delete(type_name, record_id)
            console.print(f"deleted {record_id} (sent with the next sync)")

    @group.command("show")
    def show(ctx: typer.Context, record_id: str, as_json: ObjectJsonOpt = False) -> None:
        """Show one record (--json: as JSON)."""
        with opened(ctx) as replica:
            _show(replica.get(type_name, record_id), as_json=as_json)

    @group.command("list")
    def list_(
        ctx: typer.Context,
        q: Annotated[
            str | None, typer.Option("--q", help="Search (names, phones, emails, INN).")
        ] = None,
        limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
        where: Annotated[
            list[str] | None,
            typer.Option(
                "--where",
                help="Only those with field=value (repeatable; field__lt=value and the like bound "
                "it, e.g. status=new or deadline__lt=2026-12-01).",
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """List records (from this laptop); --json: the whole records as JSON."""
        filters: dict[str, str] = {}
        for pair in where or []:
            name, sep, value = pair.partition("=")
            if not sep:
                err.print(f"[red]error:[/red] --where wants field=value, got {pair!r}")
                raise typer.Exit(3)
            filters[name.strip()] = value
        from crm import records

        rt = records.record_type(type_name)
        columns = rt.columns or tuple((f, f) for f in rt.fields()[:5])
        with opened(ctx) as replica:
            items = replica.list(
                type_name,
                q=q if rt.searchable else None,
                filters=filters or None,
                limit=limit,
            )
            names = (
                _counterparty_names(replica, items)
                if any(name == "counterparty_id" for name, _ in columns)
                else {}
            )
        table = Table(_id_column(), *(header for _, header in columns))
        for item in items:
            table.add_row(
                item["id"],
                *(clip(_cell_text(type_name, name, item.get(name), names)) for name, _ in columns),
            )
        listing(table, items, as_json=as_json)
