"""``satchel duplicates``: likely duplicate counterparties, the surest first (``crm.duplicates``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm.console import JsonOpt, console, listing, print_json
from server.commands.opening import ConfigOpt, peeking, reading

if TYPE_CHECKING:
    from crm.duplicates import Scan


def _whole_base(config: Path | None, min_score: int) -> Scan:
    """``crm.duplicates.scan`` of the whole base (as an administrator sees it), its rows read
    through Core (server.commands.listings) as ``counterparty_rows`` and ``shared_keys`` read
    them: the pairs are judged without SQLModel, the models and the access rules loaded."""
    from crm import duplicates
    from server.commands.listings import CONTACT_KEY, COUNTERPARTY

    with peeking(config) as connection:
        rows = list(connection.execute(duplicates.rows_query(COUNTERPARTY)))
        keys = list(connection.execute(duplicates.shared_keys_query(CONTACT_KEY)))
    return duplicates.judge(rows, keys, min_score)


def duplicates_command(
    min_score: Annotated[
        int, typer.Option(min=0, max=100, help="Show pairs at least this sure (0–100).")
    ] = 70,
    login: Annotated[
        str | None,
        typer.Option("--as", help="Only what this user may see (default: the whole base)."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Likely duplicate counterparties, each pair with why and how sure; a company's branches
    (one INN, other KPPs) apart. / Вероятные дубликаты контрагентов."""
    from rich.table import Column, Table

    from crm import duplicates

    if login:
        from crm import accounts

        with reading(config) as session:
            found = duplicates.scan(
                session, accounts.find_user(session, login), min_score=min_score
            )
    else:
        found = _whole_base(config, min_score)
    rows: list[dict[str, Any]] = [
        {
            "score": c.score,
            "reasons": c.reasons,
            "first": c.first,
            "first_name": found.names[c.first],
            "second": c.second,
            "second_name": found.names[c.second],
        }
        for c in found.candidates
    ]
    if as_json:
        print_json({"pairs": rows, "branches": found.branches})
        return
    table = Table(
        Column("Балл / Score", justify="right"),
        "Почему / Why",
        "Первый / First",
        "Второй / Second",
        title=f"{len(rows)} pair(s) / пар",
    )
    for row in rows:
        table.add_row(
            str(row["score"]),
            ", ".join(row["reasons"]),
            f"{row['first_name']} ({row['first']})",
            f"{row['second_name']} ({row['second']})",
        )
    listing(table, rows)
    for group in found.branches:
        console.print("branches / филиалы: " + "; ".join(f"{found.names[i]} ({i})" for i in group))


def merge_command(
    survivor: Annotated[str, typer.Argument(help="The counterparty that stays.")],
    absorbed: Annotated[str, typer.Argument(help="The duplicate merged into it, then deleted.")],
    login: Annotated[str, typer.Option("--as", help="Who merges (their rights apply).")],
    take: Annotated[
        list[str] | None,
        typer.Option(
            "--take",
            help="A field whose value comes from the duplicate (repeat the option); by default the "
            "survivor keeps its values and takes the duplicate's where it has none.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge a duplicate counterparty into another: its contact persons, history, deals, reminders
    and shares move, it is deleted, and laptops follow. / Объединить дубликат с контрагентом."""
    from crm import accounts
    from server import merging
    from server.commands.opening import writing

    if not yes:
        typer.confirm(
            f"{absorbed} will be merged into {survivor} and deleted. Merge now?", abort=True
        )
    with writing(config) as session:
        actor = accounts.find_user(session, login)
        row = merging.merge(session, actor, survivor, absorbed, set(take or []))
        done = merging.as_dict(row)
    if as_json:
        print_json(done)
        return
    moved = ", ".join(f"{n} {name}" for name, n in done["moved"].items()) or "nothing"
    console.print(
        f"merged {done['absorbed']['legal_name']} ({absorbed}) into {survivor}: moved {moved}; "
        f"took {', '.join(done['taken']) or 'no field'}"
    )


def merges_command(
    counterparty: Annotated[str, typer.Argument(help="The counterparty that absorbed others.")],
    login: Annotated[
        str | None,
        typer.Option("--as", help="As this user (default: the whole base)."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What was merged into a counterparty: who, when, what it was, what moved. / История объединений."""
    from rich.table import Table

    from crm import accounts
    from crm import merge as merging
    from crm.models import User
    from crm.models.enums import Role
    from server.merging import as_dict

    with reading(config) as session:
        actor = (
            accounts.find_user(session, login)
            if login
            else User(login="satchel", full_name="satchel", role=Role.ADMIN.value)
        )
        rows = [as_dict(r) for r in merging.explain(session, actor, counterparty)]
        who = {r["merged_by"]: (session.get(User, r["merged_by"]) or actor).login for r in rows}
    if as_json:
        print_json({"items": rows})
        return
    table = Table(
        "Когда / When", "Кто / Who", "Поглощён / Absorbed", "Перенесено / Moved", "Взято / Taken"
    )
    from crm.console import ZONE_LABEL, when

    table.columns[0].header = f"Когда, {ZONE_LABEL} / When"
    for row in rows:
        table.add_row(
            when(row["merged_at"]),
            who.get(row["merged_by"], row["merged_by"]),
            f"{row['absorbed'].get('legal_name')} ({row['absorbed_id']})",
            ", ".join(f"{n} {name}" for name, n in row["moved"].items()),
            ", ".join(row["taken"]),
        )
    listing(table, rows)
