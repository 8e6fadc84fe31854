"""``satchel duplicates``: likely duplicate counterparties, the surest first (``crm.duplicates``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm.console import JsonOpt, console, listing, print_json
from server.commands.opening import ConfigOpt, reading


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

    from crm import accounts, duplicates
    from crm.models import User
    from crm.models.enums import Role

    with reading(config) as session:
        actor = (
            accounts.find_user(session, login)
            if login
            else User(login="satchel", full_name="satchel", role=Role.ADMIN.value)
        )
        found = duplicates.scan(session, actor, min_score=min_score)
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
