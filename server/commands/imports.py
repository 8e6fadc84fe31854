"""``satchel import …``: counterparties and contact persons from CSV or XLSX, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crm.console import console, err
from server.commands.opening import ConfigOpt, writing

import_app = typer.Typer(
    help="Import counterparties and contact persons from CSV or XLSX.", no_args_is_help=True
)


def _progress_bar(label: str) -> tuple[Any, Any]:
    """A rich progress bar and a ``progress(done, total)`` callback that drives it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    task = bar.add_task(label, total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, progress


ImportFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .xlsx file.")
]
AsUser = Annotated[str, typer.Option("--as", help="Import as this user: their access rules apply.")]


@import_app.command("counterparties")
def import_counterparties(
    path: ImportFile,
    as_login: AsUser,
    owner: Annotated[
        str | None, typer.Option(help="Responsible salesperson for rows without one.")
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option(help="Skip rows whose INN/KPP already exists instead of failing.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Import counterparties. Any bad row: nothing is imported and every bad row is listed."""
    from crm import accounts, importing

    bar, progress = _progress_bar("Импорт контрагентов / counterparties")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        owner_user = accounts.find_user(session, owner) if owner else None
        report = importing.import_counterparties(
            session, actor, path, owner=owner_user, progress=progress, skip_existing=skip_existing
        )
    console.print(f"imported {report.created} counterparties, skipped {report.skipped}")


@import_app.command("contact-persons")
def import_contact_persons(path: ImportFile, as_login: AsUser, config: ConfigOpt = None) -> None:
    """Import contact persons, attached to counterparties by INN or name."""
    from crm import accounts, importing

    bar, progress = _progress_bar("Импорт контактных лиц / contact persons")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        report = importing.import_contact_persons(session, actor, path, progress=progress)
    console.print(f"imported {report.created} contact persons, skipped {report.skipped}")
