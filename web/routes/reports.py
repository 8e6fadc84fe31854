"""Reports on how clients buy (``crm.analytics``, ``crm.reports``), read-only, on both homes.

``/reports`` shows, over the clients the user may see, for a period of whole months
(``?from=YYYY-MM&to=YYYY-MM``, by default the last twelve full months) and a basis
(``?basis=revenue|profit``): the ABC × XYZ matrix, who moved between classes this quarter
(only where the class history is, the server), the clients nobody contacted for ``?days=``
days (60), the RFM segments with the top 20 clients, the top 50 of the ABC list, and for the
deals created in the period the funnel (with bars), the lost reasons, the sources that bring
clients, and every person's contacts — done, planned, overdue (``crm.reports.PIPELINE``); and how
complete the cards are (``crm.completeness``, every rule, scored today): per salesperson, and the
worst 50 cards with what each misses; and what the clients owe on their invoices today
(``crm.receivables``): per salesperson, and the 100 most overdue clients, overdue amounts
marked.
``/reports/export/{abc|matrix|rfm|neglected|moves|funnel|lost|sources|activity|completeness|completeness-owners|receivables|receivables-owners}.{xlsx|csv}``
with the same query gives the whole report as a file (``crm.exports``). A query that cannot be read answers 400.

Server or laptop: the class history (``class_run``) is the server's own and is not synced, so
the moves are shown where the screens read the server's database — the home that has no
``sync`` (``Home.sync`` is ``None`` on the server and only there, ``web/home.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import analytics, completeness, exports, neglect, periods, reports, trade
from crm import segments as saved
from crm.errors import MalformedInput, NotFound
from crm.models import ContactRule
from crm.pipeline import INTERACTION_KINDS
from crm.reports import Report
from web.home import Home
from web.i18n import N_
from web.visit import Visit, signed_in

REPORTS = (
    "abc",
    "matrix",
    "rfm",
    "neglected",
    "due",
    "moves",
    *reports.PIPELINE,
    *reports.COMPLETENESS,
    *reports.RECEIVABLES,
)
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
# The navigation's entry to this screen, on both homes (``server/web_home.py``, ``clients/web_home.py``).
REPORTS_NAV = N_("Reports")
DEFAULT_DAYS = 60
MAX_DAYS = 3650
ABC_SHOWN = 50
RFM_SHOWN = 20
NEGLECTED_SHOWN = 100
COMPLETENESS_SHOWN = 50
RECEIVABLES_SHOWN = 100
XYZ = ("X", "Y", "Z", "-")

# The RFM segments (crm.analytics.SEGMENTS) in words.
SEGMENT_NAMES = {
    "champions": N_("Champions"),
    "new": N_("New clients"),
    "loyal": N_("Loyal"),
    "promising": N_("Promising"),
    "at_risk": N_("At risk"),
    "needs_attention": N_("Needs attention"),
    "lost": N_("Lost clients"),
    "hibernating": N_("Hibernating"),
}

# The contact kinds in words (the deal stages are labels.html's).
KIND_NAMES = {
    "call": N_("Calls"),
    "meeting": N_("Meetings"),
    "letter": N_("Letters"),
    "purchase": N_("Purchases"),
    "complaint": N_("Complaints"),
    "other": N_("Other"),
}
# The sections in the order the screen shows them: its table of contents (the "tabs").
SECTIONS = (
    ("matrix", N_("ABC × XYZ matrix")),
    ("moves", N_("Class moves")),
    ("neglected", N_("Without contact")),
    ("due", N_("Due for contact")),
    ("rfm", N_("RFM segments")),
    ("abc", N_("ABC list")),
    ("funnel", N_("Deals funnel")),
    ("lost", N_("Lost reasons")),
    ("closed", N_("Closed deals")),
    ("events", N_("Events")),
    ("sources", N_("Sources")),
    ("activity", N_("Activity")),
    ("completeness", N_("Data completeness")),
    ("receivables", N_("Receivables")),
)
# What a card misses, in words: the rules of crm.completeness (RULES) by their keys.
RULE_NAMES = {
    "inn": N_("INN"),
    "kpp": N_("KPP"),
    "phone": N_("phone"),
    "email": N_("email"),
    "address": N_("address"),
    "region": N_("region (city)"),
    "industry": N_("industry"),
    "source": N_("source"),
    "owner": N_("owner"),
    "person": N_("contact person"),
    "person_reach": N_("a contact person's phone or email"),
    "recent_contact": N_("a contact in the last 180 days"),
}

_FILE = re.compile(r"^([a-z-]+)\.([a-z]+)$")


@dataclass(frozen=True)
class Asked:
    """What the query asks, read and checked."""

    starts: date  # the first day of the first month
    ends: date  # the last day of the last month
    basis: str
    days: int
    segment: str = ""  # a saved segment's id (crm.segments): its members only; "" every client

    def query(self) -> str:
        return urlencode(
            {
                "from": self.starts.isoformat()[:7],
                "to": self.ends.isoformat()[:7],
                "basis": self.basis,
                "days": self.days,
                **({"segment": self.segment} if self.segment else {}),
            }
        )


def asked(request: Request, today: date) -> Asked:
    """The period, basis and days of the query (the defaults where it names none); 400 otherwise."""
    params = request.query_params
    try:
        # Every door reads a period the same way (crm.reports.period): whole months, 1990–2100.
        starts, ends = reports.period(params.get("from") or None, params.get("to") or None, today)
    except ValueError as exc:
        raise MalformedInput(str(exc)) from None
    starts, ends = periods.month_start(starts), periods.last_day(periods.month_start(ends))
    basis = params.get("basis") or "revenue"
    if basis not in analytics.BASES:
        raise MalformedInput(f"the basis is one of {', '.join(analytics.BASES)}")
    raw = params.get("days") or str(DEFAULT_DAYS)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 5:
        raise MalformedInput("days is a whole number")
    days = int(raw)
    if not 1 <= days <= MAX_DAYS:
        raise MalformedInput(f"days is between 1 and {MAX_DAYS}")
    segment = params.get("segment") or ""
    if len(segment) > 200 or "\x00" in segment:
        raise MalformedInput("segment is a saved segment's id")
    return Asked(starts, periods.last_day(periods.month_start(ends)), basis, days, segment)


def _segment(db: Session, visit: Visit, ask: Asked) -> tuple[Any, set[str] | None]:
    """The segment the query names and its members the user sees (404 for an unknown one)."""
    return saved.chosen(db, visit.user, ask.segment or None)


def _today(home: Home) -> date:
    return datetime.now(ZoneInfo(home.timezone)).date()


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def has_class_history(home: Home) -> bool:
    """Whether this home reads the server's own database, where the kept ABC computations are
    (a laptop's replica syncs and holds none of them)."""
    return home.sync is None


def _moves(db: Session, visit: Visit, today: date, only: set[str] | None = None) -> Report | None:
    if not has_class_history(visit.home):
        return None
    older, newest, moved = trade.moves(db, visit.user, since=quarter_start(today))
    return reports.moves(older, newest, moved, only=only)


def _neglected(
    db: Session, visit: Visit, days: int, today: date, only: set[str] | None = None
) -> Report:
    items = neglect.neglected(db, visit.user, days, today=today, only=only)
    return reports.neglected(db, items, days)


def _due(db: Session, visit: Visit, today: date, only: set[str] | None = None) -> Report:
    return reports.due(db, neglect.due_contacts(db, visit.user, today=today, only=only))


def _contact_rules(db: Session) -> list[ContactRule]:
    return list(db.execute(select(ContactRule).order_by(col(ContactRule.abc_class))).scalars())


def _matrix(
    result: analytics.Classification,
) -> tuple[list[dict[str, Any]], int, Decimal]:
    """The matrix's rows A, B, C: per XYZ column the clients, their amount and the amount's share
    of the largest cell (for the bar), and the clients and amount of all cells."""
    cells = result.matrix()
    largest = max((amount for _n, amount in cells.values()), default=Decimal(0))
    rows = []
    for abc in "ABC":
        row: dict[str, Any] = {"abc": abc, "cells": []}
        for xyz in XYZ:
            count, amount = cells.get((abc, xyz), (0, Decimal(0)))
            bar = int(round(100 * amount / largest)) if largest > 0 and amount > 0 else 0
            row["cells"].append({"xyz": xyz, "count": count, "amount": amount, "bar": bar})
        rows.append(row)
    return rows, len(result.clients), result.total


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        today = _today(visit.home)
        ask = asked(request, today)
        chosen, only = _segment(db, visit, ask)
        result, rfm_clients = analytics.analyse(
            db, visit.user, ask.starts, ask.ends, basis=ask.basis, only=only
        )
        abc = reports.abc(db, visit.user, result)
        rfm = reports.rfm(db, visit.user, rfm_clients, ask.starts, ask.ends)
        neglected = _neglected(db, visit, ask.days, today, only)
        due = _due(db, visit, today, only)
        moves = _moves(db, visit, today, only)
        matrix, clients, total = _matrix(result)
        segments = rfm.about.get("segments", {})
        pipeline = {
            name: reports.pipeline(db, visit.user, name, ask.starts, ask.ends, only=only)
            for name in reports.PIPELINE
        }
        widest = max((row["reached"] for row in pipeline["funnel"].rows), default=0)
        scored = completeness.scores(db, visit.user, today, only=only)
        complete = reports.completeness(db, visit.user, today, found=scored)
        owners = reports.completeness(
            db, visit.user, today, name="completeness-owners", found=scored
        )
        owing = reports.receivables(db, visit.user, today, only=only)
        owing_owners = reports.receivables(
            db, visit.user, today, name="receivables-owners", only=only
        )
        return visit.page(
            db,
            "reports.html",
            segment=chosen,
            segment_members=None if only is None else len(only),
            segment_choices=saved.choices(db),
            percent=lambda value: format_decimal(value, "0.00", locale=visit.locale),
            one_place=lambda value: format_decimal(value, "0.0", locale=visit.locale),
            asked=ask,
            query=ask.query(),
            month_from=ask.starts.isoformat()[:7],
            month_to=ask.ends.isoformat()[:7],
            matrix=matrix,
            xyz_columns=XYZ,
            clients=clients,
            total=total,
            moves=moves,
            since=quarter_start(today),
            neglected=neglected.rows[:NEGLECTED_SHOWN],
            neglected_more=max(0, len(neglected.rows) - NEGLECTED_SHOWN),
            due=due,
            contact_rules=_contact_rules(db),
            segments=[
                (name, SEGMENT_NAMES[name], segments[name])
                for name in analytics.SEGMENTS
                if segments.get(name)
            ],
            segment_names=SEGMENT_NAMES,
            rfm=rfm.rows[:RFM_SHOWN],
            rfm_more=max(0, len(rfm.rows) - RFM_SHOWN),
            abc=abc.rows[:ABC_SHOWN],
            abc_more=max(0, len(abc.rows) - ABC_SHOWN),
            sections=[(key, title) for key, title in SECTIONS if key != "moves" or moves],
            funnel=pipeline["funnel"],
            funnel_widest=widest,
            lost=pipeline["lost"],
            closed=pipeline["closed"],
            events=pipeline["events"],
            sources=pipeline["sources"],
            activity=pipeline["activity"],
            kind_names=KIND_NAMES,
            interaction_kinds=INTERACTION_KINDS,
            not_given=reports.NOT_GIVEN,
            no_source=reports.NO_SOURCE,
            completeness=complete,
            completeness_cards=complete.rows[:COMPLETENESS_SHOWN],
            completeness_more=max(0, len(complete.rows) - COMPLETENESS_SHOWN),
            completeness_owners=owners,
            rule_names=RULE_NAMES,
            poor=completeness.POOR,
            receivables=owing,
            receivables_clients=owing.rows[:RECEIVABLES_SHOWN],
            receivables_more=max(0, len(owing.rows) - RECEIVABLES_SHOWN),
            receivables_owners=owing_owners,
        )

    return await signed_in(request, home, work)


def _report(
    db: Session, visit: Visit, name: str, ask: Asked, today: date, only: set[str] | None = None
) -> Report:
    if name in reports.RECEIVABLES:
        return reports.receivables(db, visit.user, today, name=name, only=only)
    if name in reports.COMPLETENESS:
        return reports.completeness(db, visit.user, today, name=name, only=only)
    if name in reports.PIPELINE:
        return reports.pipeline(db, visit.user, name, ask.starts, ask.ends, only=only)
    if name == "neglected":
        return _neglected(db, visit, ask.days, today, only)
    if name == "due":
        return _due(db, visit, today, only)
    if name == "moves":
        found = _moves(db, visit, today, only)
        if found is None:
            raise NotFound("the class history is the server's")
        return found
    if name == "rfm":
        clients = analytics.rfm(db, visit.user, ask.starts, ask.ends, only=only)
        return reports.rfm(db, visit.user, clients, ask.starts, ask.ends)
    result = analytics.classify(db, visit.user, ask.starts, ask.ends, basis=ask.basis, only=only)
    return reports.matrix(result) if name == "matrix" else reports.abc(db, visit.user, result)


async def export(request: Request, home: Home) -> Response:
    found = _FILE.match(request.path_params.get("file", ""))
    if not found or found.group(1) not in REPORTS or found.group(2) not in FORMATS:
        raise MalformedInput(
            f"the export is one of {', '.join(REPORTS)} as .{' or .'.join(FORMATS)}"
        )
    name, kind = found.groups()

    def work(db: Session, visit: Visit) -> Response:
        today = _today(visit.home)
        ask = asked(request, today)
        chosen, only = _segment(db, visit, ask)
        report = reports.in_segment(_report(db, visit, name, ask, today, only), chosen)
        if kind == "xlsx":
            body = exports.to_xlsx(report.title, report.columns, report.rows, charts=report.charts)
        else:
            body = exports.to_csv(report.columns, report.rows)
        return Response(
            body,
            media_type=FORMATS[kind],
            headers={
                "Content-Disposition": exports.attachment(
                    f"{name}-{today.isoformat()}.{kind}", report.about.get("segment")
                ),
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return await signed_in(request, home, work)
