"""``satchel suppliers …``: suppliers compared for a product (``crm.suppliers``): each one's price
in force on a day, its currency, lead time and rating, cheapest first within a currency, among the
suppliers a user sees. Their price lists come in with ``satchel import prices``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm.console import ReportJsonOpt as JsonOpt
from crm.console import show_report
from server.commands.opening import ConfigOpt, reading

supplier_app = typer.Typer(
    help="Suppliers: compare their prices for a product. / Поставщики: сравнение цен.",
    no_args_is_help=True,
)


@supplier_app.command("compare")
def compare_command(
    product: Annotated[
        str, typer.Argument(help="Words of the product's name (all of them), or its article.")
    ],
    login: Annotated[str, typer.Option("--as", help="As this user: only the suppliers they see.")],
    on: Annotated[
        str | None,
        typer.Option("--on", help="The prices in force on this day (YYYY-MM-DD); default: today."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option("--segment", help="Only the suppliers of this saved segment (name or id)."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Also write the table to this .xlsx or .csv file."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare suppliers' prices for a product, e.g. compare "кольцо 585" --as ivanov: sorted by
    currency, then price (not converted). / Сравнение цен поставщиков."""
    from crm import accounts, reports, segments, suppliers
    from crm.console import fail
    from crm.importing import _date

    day = None
    if on is not None:
        try:
            day = suppliers.check_day(_date(on))
        except ValueError as exc:
            fail(f"--on: {exc}", 2)
    with reading(config) as session:
        actor = accounts.find_user(session, login)
        chosen, only = segments.chosen(session, actor, segment)
        report = suppliers.compare(session, actor, product, on=day, only=only)
        reports.in_segment(report, chosen)
    show_report(report, as_json=as_json, export=export)
