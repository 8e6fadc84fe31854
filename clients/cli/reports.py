"""``satchel-field report show``: the server's reports over the clients on this laptop, offline
(the analyses are imported when a report is asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm.console import ReportJsonOpt

from .common import opened

report_app = typer.Typer(
    help="Reports over your clients, offline: ABC/XYZ, the matrix, RFM, neglected clients, the "
    "deals funnel, lost reasons, sources, activity, events, completeness, receivables. / "
    "Отчёты по вашим клиентам без сети.",
    no_args_is_help=True,
)


@report_app.command("show")
def report_show(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="abc, matrix, rfm, neglected, due, funnel, lost, closed, sources, activity, "
            "events, completeness, completeness-owners, receivables or receivables-owners."
        ),
    ],
    starts: Annotated[
        str | None,
        typer.Option("--from", help="First month (YYYY-MM-DD); default: 12 full months back."),
    ] = None,
    ends: Annotated[
        str | None, typer.Option("--to", help="Last month (YYYY-MM-DD); default: last month.")
    ] = None,
    basis: Annotated[str, typer.Option(help="revenue or profit (ABC).")] = "revenue",
    group: Annotated[str | None, typer.Option(help="Only this product group.")] = None,
    days: Annotated[
        int, typer.Option(min=1, help="neglected: no contact for this many days.")
    ] = 60,
    owner: Annotated[
        str | None,
        typer.Option(
            help="funnel, lost, closed, sources, activity, due, completeness, receivables: only "
            "this salesperson (a login); events: only their events."
        ),
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            help="completeness: the rules to judge by, comma-separated, each with an optional "
            "weight (inn:30,phone); default every rule."
        ),
    ] = None,
    sort: Annotated[
        str, typer.Option(help="completeness: score (the worst first), -score or name.")
    ] = "score",
    segment: Annotated[
        str | None,
        typer.Option(
            help="Only the clients of this saved segment (its name or id; satchel-field "
            "segments list)."
        ),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Also write the report to this .xlsx or .csv file.")
    ] = None,
    as_json: ReportJsonOpt = False,
) -> None:
    """Show a report over the clients on this laptop (the server's rules, the synced sales)."""
    from datetime import date

    from crm import analytics
    from crm.console import fail, show_report
    from crm.reports import COMPLETENESS, PIPELINE, RECEIVABLES, period

    known = ("abc", "matrix", "rfm", "neglected", "due", *PIPELINE, *COMPLETENESS, *RECEIVABLES)
    if name not in known:
        fail(f"the report is one of {', '.join(known)}", 2)
    if basis not in analytics.BASES:
        fail(f"--basis is one of {', '.join(analytics.BASES)}", 2)
    try:
        chosen = period(starts, ends, date.today())
    except ValueError as exc:
        fail(str(exc), 2)
    if group is not None and len(group) > 200:
        fail("--group is a product group's name, up to 200 characters", 2)
    with opened(ctx) as replica:
        try:
            report = replica.report(
                name,
                *chosen,
                basis=basis,
                product_group=group,
                days=days,
                owner=owner,
                rules=rules,
                sort=sort,
                segment=segment,
            )
        except ValueError as exc:
            said = str(exc)
            fail(
                f"--{said}"
                if said.startswith(("rules", "sort"))
                else said.replace("owner", "--owner", 1),
                2,
            )
    show_report(report, as_json=as_json, export=export)
