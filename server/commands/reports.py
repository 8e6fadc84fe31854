"""``satchel report …``: ABC/XYZ, the matrix, RFM, class moves, neglected clients, the deal and
activity reports and the cards' completeness over the company's data, as a user sees it
(``crm.analytics``, ``crm.completeness``, ``crm.reports``); each exports to XLSX or CSV with
``--export FILE`` and takes ``--segment NAME_OR_ID`` (a saved segment's clients only,
``crm.segments``). ``satchel-field report …`` gives the same on a laptop."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm.console import ReportJsonOpt as JsonOpt
from crm.console import console, show_report
from server.commands.opening import ConfigOpt, reading, writing

if TYPE_CHECKING:
    from crm.analytics import Thresholds

report_app = typer.Typer(
    help="Reports: ABC/XYZ, RFM, class moves, neglected clients, the deals funnel, lost reasons, "
    "sources, activity, complaints, completeness, receivables. / Отчёты.",
    no_args_is_help=True,
)

AsUser = Annotated[
    str, typer.Option("--as", help="As this user: the report covers the clients they see.")
]
Starts = Annotated[
    str | None,
    typer.Option("--from", help="First month (YYYY-MM-DD); default: 12 full months back."),
]
Ends = Annotated[
    str | None, typer.Option("--to", help="Last month (YYYY-MM-DD); default: last month.")
]
Export = Annotated[
    Path | None, typer.Option("--export", help="Also write the report to this .xlsx or .csv file.")
]
Group = Annotated[
    str | None, typer.Option("--group", help="Only this product group («Номенклатурная группа»).")
]
SegmentOpt = Annotated[
    str | None,
    typer.Option(
        "--segment",
        help="Only the clients of this saved segment (its name or id; satchel segment list).",
    ),
]


def _segment(session: Any, actor: Any, segment: str | None) -> tuple[Any, set[str] | None]:
    """The segment ``--segment`` names and its members ``actor`` sees (``crm.segments``)."""
    from crm import segments

    return segments.chosen(session, actor, segment)


def _period(starts: str | None, ends: str | None) -> tuple[date, date]:
    from crm.console import fail
    from crm.reports import period

    try:
        return period(starts, ends, date.today())
    except ValueError as exc:
        fail(str(exc), 2)


def _group(group: str | None) -> str | None:
    from crm.console import fail

    if group is not None and len(group) > 200:
        fail("--group is a product group's name, up to 200 characters", 2)
    return group


def _thresholds(a: float, b: float, x: float, y: float, min_months: int) -> Thresholds:
    from crm.analytics import Thresholds
    from crm.console import fail

    t = Thresholds(a=a, b=b, x=x, y=y, min_months=min_months)
    if problems := t.problems():
        fail("; ".join(problems.values()), 2)
    return t


@report_app.command("abc")
def abc_command(
    login: AsUser,
    starts: Starts = None,
    ends: Ends = None,
    basis: Annotated[
        str, typer.Option(help="revenue (выручка) or profit (валовая прибыль).")
    ] = "revenue",
    a: Annotated[float, typer.Option(help="A: share of the total, percent.")] = 70.0,
    b: Annotated[float, typer.Option(help="B: share of the total, percent (C: the rest).")] = 20.0,
    x: Annotated[float, typer.Option(help="X: at most this variation, percent.")] = 10.0,
    y: Annotated[float, typer.Option(help="Y: at most this variation, percent.")] = 25.0,
    min_months: Annotated[
        int, typer.Option(help="Months of history a client needs for an XYZ class.")
    ] = 6,
    group: Group = None,
    keep: Annotated[
        bool,
        typer.Option(
            help="Keep this computation (class history) and put the classes on the cards "
            "(office and administrators)."
        ),
    ] = False,
    matrix: Annotated[bool, typer.Option(help="Show the ABC × XYZ matrix instead.")] = False,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """ABC by revenue or gross profit and XYZ by the variation of monthly revenue. / ABC/XYZ."""
    from crm import accounts, analytics, reports, trade
    from crm.console import fail

    if basis not in analytics.BASES:
        fail(f"--basis is one of {', '.join(analytics.BASES)}", 2)
    first, last = _period(starts, ends)
    t = _thresholds(a, b, x, y, min_months)
    opened = writing(config) if keep else reading(config)
    with opened as session:
        actor = accounts.find_user(session, login)
        if keep and segment is not None:
            fail("a kept classification covers the whole company; drop --segment", 2)
        chosen, only = _segment(session, actor, segment)
        result = analytics.classify(
            session,
            actor,
            first,
            last,
            basis=basis,
            thresholds=t,
            product_group=_group(group),
            only=only,
        )
        if keep:
            if group is not None:
                fail("a kept classification covers every product group; drop --group", 2)
            run = trade.store_classification(session, actor, result)
        report = reports.matrix(result) if matrix else reports.abc(session, actor, result)
        reports.in_segment(report, chosen)
    show_report(report, as_json=as_json, export=export)
    if keep and not as_json:
        console.print(f"kept as computation {run.id}; the classes are on the cards")


@report_app.command("rfm")
def rfm_command(
    login: AsUser,
    starts: Starts = None,
    ends: Ends = None,
    group: Group = None,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recency, frequency, monetary: scores 1–5 and segments. / RFM-анализ."""
    from crm import accounts, analytics, reports

    first, last = _period(starts, ends)
    with reading(config) as session:
        actor = accounts.find_user(session, login)
        chosen, only = _segment(session, actor, segment)
        clients = analytics.rfm(session, actor, first, last, product_group=_group(group), only=only)
        report = reports.in_segment(reports.rfm(session, actor, clients, first, last), chosen)
    show_report(report, as_json=as_json, export=export)


@report_app.command("moves")
def moves_command(
    login: AsUser,
    since: Annotated[
        str, typer.Option(help="Compare with the last computation kept before this day.")
    ],
    xyz: Annotated[bool, typer.Option(help="XYZ moves instead of ABC.")] = False,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who changed class between two kept computations. / Кто сменил класс."""
    from crm import accounts, reports, trade

    day = _period(since, since)[0]
    with reading(config) as session:
        actor = accounts.find_user(session, login)
        chosen, only = _segment(session, actor, segment)
        older, newest, moved = trade.moves(session, actor, since=day, what="xyz" if xyz else "abc")
    if older is None or newest is None or older.id == newest.id:
        console.print(
            "no computation kept before that day to compare with "
            "(keep one with: satchel report abc --keep)"
        )
    report = reports.in_segment(reports.moves(older, newest, moved, only=only), chosen)
    show_report(report, as_json=as_json, export=export)


@report_app.command("neglected")
def neglected_command(
    login: AsUser,
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="No contact for at least this many days.")
    ] = 60,
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Counterparty kinds (repeat; default: client)."),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Only this salesperson's clients.")] = None,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Clients nobody has contacted for N days, the longest first. / Забытые клиенты."""
    from crm import accounts, neglect, reports
    from crm.console import fail
    from crm.models.enums import CounterpartyKind

    known = {k.value for k in CounterpartyKind}
    if any(k not in known for k in kind or []):
        fail(f"--kind is one of {', '.join(sorted(known))}", 2)
    with reading(config) as session:
        actor = accounts.find_user(session, login)
        owner_id = accounts.find_user(session, owner).id if owner else None
        chosen, only = _segment(session, actor, segment)
        items = neglect.neglected(
            session,
            actor,
            days,
            today=date.today(),
            kinds=kind or ["client"],
            owner_id=owner_id,
            only=only,
        )
        report = reports.in_segment(reports.neglected(session, items, days), chosen)
    show_report(report, as_json=as_json, export=export)


@report_app.command("due")
def due_command(
    login: AsUser,
    owner: Annotated[str | None, typer.Option(help="Only this salesperson's clients.")] = None,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Clients due for contact by their ABC class's rule (set at /contact-rules, over REST
    /api/v1/contact-rules or with satchel-field contact-rules add), most overdue
    first. / Пора связаться."""
    from crm import accounts, neglect, reports

    with reading(config) as session:
        actor = accounts.find_user(session, login)
        owner_id = accounts.find_user(session, owner).id if owner else None
        chosen, only = _segment(session, actor, segment)
        items = neglect.due_contacts(
            session, actor, today=date.today(), owner_id=owner_id, only=only
        )
        report = reports.in_segment(reports.due(session, items), chosen)
    show_report(report, as_json=as_json, export=export)


Owner = Annotated[
    str | None,
    typer.Option("--owner", help="Only this salesperson's deals or contacts (a login)."),
]


def _pipeline(
    name: str,
    login: str,
    starts: str | None,
    ends: str | None,
    owner: str | None,
    export: Path | None,
    config: Path | None,
    as_json: bool,
    segment: str | None = None,
) -> None:
    from crm import accounts, reports
    from crm.console import fail

    first, last = _period(starts, ends)
    with reading(config) as session:
        actor = accounts.find_user(session, login)
        try:
            owner_id = reports.owner(session, owner)
        except ValueError as exc:
            fail(str(exc).replace("owner", "--owner", 1), 2)
        chosen, only = _segment(session, actor, segment)
        report = reports.pipeline(session, actor, name, first, last, owner_id=owner_id, only=only)
        reports.in_segment(report, chosen)
    show_report(report, as_json=as_json, export=export)


def _pipeline_command(name: str, about: str) -> None:
    def command(
        login: AsUser,
        starts: Starts = None,
        ends: Ends = None,
        owner: Owner = None,
        segment: SegmentOpt = None,
        export: Export = None,
        config: ConfigOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _pipeline(name, login, starts, ends, owner, export, config, as_json, segment)

    report_app.command(name, help=about)(command)


for _name, _about in (
    (
        "funnel",
        "Deals created in the period by stage: conversion, win rate, forecast. / Воронка сделок.",
    ),
    ("lost", "Lost deals by reason: count, amount, share. / Причины проигрыша."),
    (
        "sources",
        "Which channel brings clients: new counterparties, clients, won deals, revenue. / Источники.",
    ),
    ("activity", "Contacts per person by kind: done, planned, overdue. / Активность менеджеров."),
    (
        "closed",
        "Deals won and lost in the period by the day they were closed, per month and owner. / "
        "Закрытые сделки.",
    ),
    (
        "events",
        "Marketing events of the period: cost, participants, deals, revenue attributed, return on "
        "cost (--owner: the events' owner). / Мероприятия.",
    ),
):
    _pipeline_command(_name, _about)


@report_app.command("complaints")
def complaints_command(
    login: AsUser,
    starts: Annotated[
        str | None,
        typer.Option("--from", help="First day of registration (YYYY-MM-DD); default: a year ago."),
    ] = None,
    ends: Annotated[
        str | None, typer.Option("--to", help="Last day (YYYY-MM-DD); default: today.")
    ] = None,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complaints by cause, subject and product: open, overdue, closed, median days to resolve.
    / Жалобы по причинам."""
    from crm import accounts, complaints, reports
    from crm.console import fail

    today = date.today()
    try:
        first = date.fromisoformat(starts) if starts else today - timedelta(days=365)
        last = date.fromisoformat(ends) if ends else today
        complaints.check_period(first, last)
    except ValueError as exc:
        fail(f"--from/--to: {exc}", 2)
    with reading(config) as session:
        actor = accounts.find_user(session, login)
        chosen, only = _segment(session, actor, segment)
        report = complaints.report(session, actor, first, last, today, only=only)
        reports.in_segment(report, chosen)
    show_report(report, as_json=as_json, export=export)


@report_app.command("receivables")
def receivables_command(
    login: AsUser,
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="Only this salesperson's clients (a login)."),
    ] = None,
    by_owner: Annotated[
        bool,
        typer.Option("--by-owner", help="Per salesperson: owed, overdue, ageing of their clients."),
    ] = False,
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What clients owe on their invoices today: overdue by age (1–30, 31–60, 61–90, over 90
    days), the most overdue first. / Дебиторская задолженность."""
    from crm import accounts, reports
    from crm.console import fail

    with reading(config) as session:
        actor = accounts.find_user(session, login)
        try:
            owner_id = reports.owner(session, owner)
        except ValueError as exc:
            fail(str(exc).replace("owner", "--owner", 1), 2)
        chosen, only = _segment(session, actor, segment)
        report = reports.receivables(
            session,
            actor,
            date.today(),
            name="receivables-owners" if by_owner else "receivables",
            owner_id=owner_id,
            only=only,
        )
        reports.in_segment(report, chosen)
    show_report(report, as_json=as_json, export=export)


@report_app.command("completeness")
def completeness_command(
    login: AsUser,
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="Only this salesperson's counterparties (a login)."),
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="The rules to judge by, comma-separated, each with an optional weight 1–100 "
            "(inn:30,phone); default every rule: inn, kpp, phone, email, address, region, "
            "industry, source, owner, person, person_reach, recent_contact.",
        ),
    ] = None,
    by_owner: Annotated[
        bool,
        typer.Option("--by-owner", help="Per salesperson: cards, average score, cards under 50 %."),
    ] = False,
    sort: Annotated[
        str, typer.Option(help="score (the worst first), -score (the best first) or name.")
    ] = "score",
    segment: SegmentOpt = None,
    export: Export = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How complete each card is: a score 0–100 and what is missing. / Полнота данных."""
    from crm import accounts, reports
    from crm.console import fail

    with reading(config) as session:
        actor = accounts.find_user(session, login)
        try:
            owner_id = reports.owner(session, owner)
        except ValueError as exc:
            fail(str(exc).replace("owner", "--owner", 1), 2)
        chosen, only = _segment(session, actor, segment)
        try:
            report = reports.completeness(
                session,
                actor,
                date.today(),
                name="completeness-owners" if by_owner else "completeness",
                rules=rules,
                owner_id=owner_id,
                sort=sort,
                only=only,
            )
        except ValueError as exc:
            fail(f"--{str(exc)}" if str(exc).startswith(("rules", "sort")) else str(exc), 2)
        reports.in_segment(report, chosen)
    show_report(report, as_json=as_json, export=export)
