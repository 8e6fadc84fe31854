"""``satchel import …``: counterparties and contact persons from CSV or XLSX, sales and invoices
from 1C's exports, bank statements; all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crm.console import console, err
from server.commands.opening import ConfigOpt, writing

import_app = typer.Typer(
    help="Import counterparties and contact persons (CSV, XLSX), sales and invoices (1C's "
    "spreadsheets, CommerceML), bank statements (1CClientBankExchange) and suppliers' price "
    "lists.",
    no_args_is_help=True,
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


def _mapping(items: list[str] | None) -> dict[str, str]:
    """``--map 'Header=field'`` options as {header: field}."""
    from crm.console import fail

    pairs: dict[str, str] = {}
    for item in items or []:
        header, sep, name = item.rpartition("=")
        if not sep or not header.strip() or not name.strip():
            fail(f"--map takes 'Header=field', not {item!r}", 2)
        pairs[header.strip()] = name.strip()
    return pairs


@import_app.command("sales")
def import_sales(
    path: ImportFile,
    as_login: AsUser,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="A column whose header is not known: 'Header=field' (repeat); fields: number, "
            "date, inn, kpp, counterparty, salesperson, revenue, cost, product_group.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the file; write nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import sales (shipments) exported from 1C. Any bad row: nothing is imported and every bad
    row is listed; sales already imported are skipped. / Импорт продаж из 1С."""
    from crm import accounts, trade
    from crm.console import fail

    pairs = _mapping(mapping)
    bar, progress = _progress_bar("Импорт продаж / sales")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        report = trade.import_sales(
            session, actor, path, mapping=pairs, dry_run=dry_run, progress=progress
        )
    if dry_run and report.errors:
        for error in report.errors:
            console.print(str(error))
        fail(f"{len(report.errors)} problem(s); nothing would be imported", 3)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {report.created} sales, skipped {report.skipped} imported before"
        + ("" if dry_run else f"; {report.months} clients' sales summaries rewritten")
    )
    if report.ignored:
        console.print("columns ignored / столбцы пропущены: " + ", ".join(report.ignored))


@import_app.command("invoices")
def import_invoices(
    path: ImportFile,
    as_login: AsUser,
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="A column whose header is not known: 'Header=field' (repeat); fields: number, "
            "date, inn, kpp, counterparty, amount, due_on, contract, salesperson.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the file; write nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import invoices for payment («Счета на оплату») exported from 1C; the clients' payments
    settle them. Any bad row: nothing is imported and every bad row is listed; invoices already
    imported are skipped. / Импорт счетов из 1С."""
    from crm import accounts, invoices
    from crm.console import fail

    pairs = _mapping(mapping)
    bar, progress = _progress_bar("Импорт счетов / invoices")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        report = invoices.import_invoices(
            session, actor, path, mapping=pairs, dry_run=dry_run, progress=progress
        )
    if dry_run and report.errors:
        for error in report.errors:
            console.print(str(error))
        fail(f"{len(report.errors)} problem(s); nothing would be imported", 3)
    verb = "would import" if dry_run else "imported"
    console.print(f"{verb} {report.created} invoices, skipped {report.skipped} imported before")
    if report.ignored:
        console.print("columns ignored / столбцы пропущены: " + ", ".join(report.ignored))


@import_app.command("prices")
def import_prices(
    path: ImportFile,
    as_login: AsUser,
    supplier: Annotated[str, typer.Option("--supplier", help="The supplier's id or INN.")],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="A column whose header is not known: 'Header=field' (repeat); fields: product, "
            "article, unit, price, currency, valid_from.",
        ),
    ] = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            "--valid-from",
            help="The prices' first day (YYYY-MM-DD or DD.MM.YYYY) for rows without one; "
            "default: today.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the file; write nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import a supplier's price list (XLSX or CSV; Наименование, Артикул, Ед., Цена, Валюта,
    Действует с). Any bad row: nothing is imported and every bad row is listed; lines already
    imported (same product and day) are skipped, a later day's prices are added. / Импорт
    прайс-листа поставщика."""
    from crm import accounts, suppliers
    from crm.console import fail
    from crm.importing import _date

    pairs = _mapping(mapping)
    day = None
    if valid_from is not None:
        try:
            day = suppliers.check_day(_date(valid_from))
        except ValueError as exc:
            fail(f"--valid-from: {exc}", 2)
    bar, progress = _progress_bar("Импорт прайс-листа / price list")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        report = suppliers.import_prices(
            session,
            actor,
            path,
            supplier_id=supplier,
            mapping=pairs,
            valid_from=day,
            dry_run=dry_run,
            progress=progress,
        )
    if dry_run and report.errors:
        for error in report.errors:
            console.print(str(error))
        fail(f"{len(report.errors)} problem(s); nothing would be imported", 3)
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{report.supplier}: {verb} {report.created} price lines, "
        f"skipped {report.skipped} imported before"
    )
    if report.ignored:
        console.print("columns ignored / столбцы пропущены: " + ", ".join(report.ignored))


@import_app.command("commerceml")
def import_commerceml(
    path: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="A CommerceML 2 file (КоммерческаяИнформация, .xml) exported from 1C.",
        ),
    ],
    as_login: AsUser,
    dry_run: Annotated[bool, typer.Option(help="Check the file; write nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import shipments (as sales) and invoices for payment from a 1C CommerceML 2 exchange file;
    orders, returns and other documents are skipped and counted. Any bad document: nothing is
    imported and every bad document is listed; documents already imported are skipped. / Импорт
    реализаций и счетов из 1С (CommerceML)."""
    from crm import accounts
    from crm.commerceml_import import import_commerceml as run
    from crm.console import fail

    bar, progress = _progress_bar("Импорт CommerceML / documents")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        report = run(session, actor, path, dry_run=dry_run, progress=progress)
    if dry_run and report.errors:
        for error in report.errors:
            console.print(str(error))
        fail(f"{len(report.errors)} problem(s); nothing would be imported", 3)
    verb = "would import" if dry_run else "imported"
    console.print(f"{report.documents} documents read")
    console.print(
        f"sales: {verb} {report.sales_created}, skipped {report.sales_skipped} imported before"
        + ("" if dry_run else f"; {report.months} clients' sales summaries rewritten")
    )
    console.print(
        f"invoices: {verb} {report.invoices_created}, "
        f"skipped {report.invoices_skipped} imported before"
    )
    for operation, reason, count in report.skipped_by_kind():
        console.print(f"skipped / пропущено: {count} × {operation}: {reason}")


@import_app.command("bank")
def import_bank(
    path: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="A 1CClientBankExchange file."
        ),
    ],
    as_login: AsUser,
    own_account: Annotated[
        list[str] | None,
        typer.Option(help="The company's account (repeat); the statement's own is known."),
    ] = None,
    own_inn: Annotated[list[str] | None, typer.Option(help="The company's INN (repeat).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Check the file; write nothing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import a bank statement (1C Client-Bank format): payments matched to counterparties by
    INN; unmatched ones kept for later; none imported twice. / Импорт банковской выписки."""
    from crm import accounts, trade
    from crm.console import fail

    raw = path.read_bytes()
    with writing(config) as session:
        actor = accounts.find_user(session, as_login)
        report = trade.import_statement(
            session,
            actor,
            raw,
            own_accounts=own_account or [],
            own_inns=own_inn or [],
            dry_run=dry_run,
        )
    if dry_run and report.errors:
        for error in report.errors:
            console.print(error)
        fail(f"{len(report.errors)} broken document(s); nothing would be imported", 3)
    verb = "would keep" if dry_run else "kept"
    console.print(
        f"{report.documents} documents: {verb} {report.created} payments "
        f"({report.matched} matched), {report.skipped} imported before"
    )
    for line in report.unmatched:
        console.print(f"unmatched / не сопоставлен: {line}")
