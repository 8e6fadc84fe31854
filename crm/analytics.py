"""How clients buy: ABC, XYZ, RFM, and the clients nobody has contacted (issue 14).

Every analysis here reads the monthly totals (``crm.models.SalesSummary``), never the
shipment documents, and only the counterparties the asking user may see: the same
function gives a manager the team's answer on the server and a salesperson the answer
for their own clients on a laptop with no network (the replica holds the same monthly
rows for the clients it holds). Periods are whole calendar months.

**ABC** (``classify``). Clients are ranked by their amount over the period — revenue,
or gross profit (revenue − cost; a month whose cost 1C did not export counts no
profit) — and each is classed by the share of the total held by the clients ranked
above it: below ``a`` % (default 70) → A, below ``a + b`` % (default 90) → B, else C.
So the client that crosses 70 % is still an A, and the largest client is always an A
however large. Clients with equal amounts always share a class (the class of the first
of them); a client whose amount is zero or negative (returns over sales) is a C, and the
total counts positive amounts only. A share exactly on a boundary goes to the lower
class: with 70/20/10 the second client (70 % above it) is a B.

**XYZ**. The coefficient of variation of a client's monthly revenue (population σ/μ,
in percent) over the months from their first month with sales in the period to the
period's last month, months without sales counting as zero: ≤ ``x`` % (default 10) → X,
≤ ``y`` % (default 25) → Y, above → Z. A client with fewer than ``min_months`` such
months (default 6) has no XYZ class (too short a history to judge); one whose mean is
zero or negative is a Z.

**RFM** (``rfm``). Over the clients with sales in the period: recency (days from their
last shipment to ``as_of``), frequency (shipment documents), monetary (revenue). Each is
scored 1–5 by quintile — a client's score is 1 + ⌊5·k/n⌋ where k counts the clients
strictly worse — so ties share a score; recency scores fewer days higher. Segments, by
R and FM = (F + M)/2, in this order: champions (R ≥ 4, FM ≥ 4), new (R ≥ 4, F = 1),
loyal (R ≥ 3, FM ≥ 3), promising (R ≥ 4), at risk (R ≤ 2, FM ≥ 3), needs attention
(R = 3), lost (R = 1), hibernating (the rest).

**Segments.** Every client-level analysis takes ``only``: the counterparty ids to keep (a saved
segment's members, ``crm.segments.members``), None for all. It is applied inside, as the rows are
read, so totals, shares and quintiles are computed over the segment: ABC over a segment ranks its
clients among themselves.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from crm import records
from crm.models import ContactRule, Counterparty, Deal, Interaction, User
from crm.models.enums import InteractionStatus
from crm.models.trade import Receivable, SalesSummary

BASES = ("revenue", "profit")
ZERO = Decimal(0)


def month_start(day: date) -> date:
    return day.replace(day=1)


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months(starts: date, ends: date) -> list[date]:
    """The first days of the months from ``starts``' month to ``ends``' month, both included."""
    first, last = month_start(starts), month_start(ends)
    out = []
    while first <= last:
        out.append(first)
        if first.year == 9999 and first.month == 12:
            break
        first = _next(first)
    return out


def last_day(month: date) -> date:
    if month.year == 9999 and month.month == 12:
        return date(9999, 12, 31)
    return _next(month) - timedelta(days=1)


# The periods an analysis takes: a company's history, not the calendar's whole range.
YEARS = (1990, 2100)
MAX_MONTHS = 120


def check_period(starts: date, ends: date) -> None:
    """``ValueError`` saying what is wrong with a period asked of an analysis (every door asks)."""
    if starts > ends:
        raise ValueError("the period's first month is after its last")
    if not (YEARS[0] <= starts.year and ends.year <= YEARS[1]):
        raise ValueError(f"a period lies between {YEARS[0]} and {YEARS[1]}")
    if (ends.year - starts.year) * 12 + ends.month - starts.month >= MAX_MONTHS:
        raise ValueError(f"a period is at most {MAX_MONTHS // 12} years")


MAX_GROUP = 200
MAX_DAYS = 3650


@dataclass(frozen=True)
class Thresholds:
    """ABC shares and XYZ variations in percent; ``min_months`` of history for an XYZ class."""

    a: float = 70.0
    b: float = 20.0
    x: float = 10.0
    y: float = 25.0
    min_months: int = 6

    def problems(self) -> dict[str, str]:
        out = {}
        if not (0 < self.a <= 100 and 0 <= self.b and self.a + self.b <= 100):
            out["a"] = "A and B are shares of the total in percent: 0 < A, 0 ≤ B, A + B ≤ 100"
        if not (0 <= self.x <= self.y):
            out["x"] = "X and Y are variations in percent: 0 ≤ X ≤ Y"
        if self.min_months < 2:
            out["min_months"] = "a variation needs at least 2 months"
        return out


@dataclass(frozen=True)
class Month:
    """A client's totals for one month (all product groups, or the one asked for)."""

    revenue: Decimal
    cost: Decimal | None
    documents: int
    last_sold_on: date


# A client's months as read: "YYYY-MM" → [revenue, cost or None, documents, last day], amounts
# in whole kopecks. Ints, not Decimals: the analyses add up a few hundred thousand of them.
Sums = dict[str, dict[str, list[Any]]]


def sums(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    product_group: str | None = None,
    counterparty_ids: Iterable[str] | None = None,
    only: set[str] | None = None,
) -> Sums:
    """Each visible client's months of the period with sales, from the sales summaries
    (``SalesSummary.months``: the format is documented there). ``only``: the clients to keep (a
    segment's members, ``crm.segments``), picked as the rows are read; None for all."""
    check_period(starts, ends)
    if product_group is not None and len(product_group) > MAX_GROUP:
        raise ValueError(f"a product group's name is at most {MAX_GROUP} characters")
    rt = records.record_type("sales-summaries")
    query: Any = select(
        col(SalesSummary.counterparty_id), col(SalesSummary.groups), col(SalesSummary.months)
    ).where(records.visible(rt, actor))
    if counterparty_ids is not None:
        query = query.where(col(SalesSummary.counterparty_id).in_(list(counterparty_ids)))
    last = month_start(ends).isoformat()[:7]
    keys = [m.isoformat()[:7] + "," for m in months(starts, ends)]
    out: Sums = {}
    for cp, groups, text in session.execute(query):
        if only is not None and cp not in only:
            continue
        wanted = None
        if product_group is not None:
            if product_group not in groups:
                continue
            wanted = str(groups.index(product_group))
        if not text:
            continue
        found: dict[str, list[Any]] = {}
        # Entries are in month order: start at the period's first month that has one, stop after
        # its last.
        start = -1
        for key in keys:
            start = text.find(key)
            if start >= 0:
                break
        if start < 0:
            continue
        for entry in text[start:].split(";"):
            key, group, revenue, cost, documents, day = entry.split(",")
            if key > last:
                break
            if wanted is not None and group != wanted:
                continue
            row = found.get(key)
            if row is None:
                found[key] = [
                    int(revenue),
                    None if cost == "" else int(cost),
                    int(documents),
                    int(day),
                ]
            else:  # another product group of the month: a cost is known only if every group's is
                row[0] += int(revenue)
                row[1] = None if cost == "" or row[1] is None else row[1] + int(cost)
                row[2] += int(documents)
                row[3] = max(row[3], int(day))
        if found:
            out[cp] = found
    return out


def _rub(kopecks: int) -> Decimal:
    return Decimal(kopecks).scaleb(-2)


def _month(key: str, day: int = 1) -> date:
    return date(int(key[:4]), int(key[5:7]), day)


def monthly(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    product_group: str | None = None,
    counterparty_ids: Iterable[str] | None = None,
) -> dict[str, dict[date, Month]]:
    """Each visible client's totals per month of the period (months without sales absent)."""
    found = sums(
        session,
        actor,
        starts,
        ends,
        product_group=product_group,
        counterparty_ids=counterparty_ids,
    )
    return {
        cp: {
            _month(k): Month(
                _rub(r[0]), None if r[1] is None else _rub(r[1]), r[2], _month(k, r[3])
            )
            for k, r in by_month.items()
        }
        for cp, by_month in found.items()
    }


def _day(value: Any) -> date:
    """A date column as a date (SQLite's aggregate answers its ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass
class Client:
    """One client's place in an ABC/XYZ classification."""

    counterparty_id: str
    amount: Decimal
    share: float  # percent of the total
    cumulative: float  # percent of the total held by this client and everyone ranked above
    abc: str
    # Monthly revenue in kopecks, from the first month with sales in the period to its end.
    series: list[int] = field(default_factory=list)
    variation: float | None = None  # percent
    xyz: str | None = None


@dataclass
class Classification:
    starts: date
    ends: date
    basis: str
    thresholds: Thresholds
    total: Decimal
    clients: list[Client]

    def matrix(self) -> dict[tuple[str, str], tuple[int, Decimal]]:
        """Clients and their amount per ABC × XYZ cell ("-" for no XYZ class)."""
        cells: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for c in self.clients:
            key = (c.abc, c.xyz or "-")
            count, amount = cells.get(key, (0, ZERO))
            cells[key] = (count + 1, amount + c.amount)
        return cells

    def by_id(self) -> dict[str, Client]:
        return {c.counterparty_id: c for c in self.clients}


def abc_classes(amounts: Mapping[str, Decimal | int], a: float, b: float) -> list[Client]:
    """ABC over ``amounts`` (see the module's rules), largest first. The boundaries are compared
    exactly (``a`` % of the total, not a float near it)."""
    ranked = sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0]))
    total_sum = sum((v for v in amounts.values() if v > 0), 0)
    total = Fraction(total_sum)
    fa, fab = Fraction(str(a)), Fraction(str(a)) + Fraction(str(b))
    bound_a: Any = fa / 100 * total
    bound_b: Any = fab / 100 * total
    if isinstance(total_sum, int) and fa.denominator == fab.denominator == 1:
        # Kopecks and whole percents (the usual case): the same comparison in integers.
        bound_a = -(-fa.numerator * total_sum // 100)  # above < a % ⇔ above < ⌈a·total/100⌉
        bound_b = -(-fab.numerator * total_sum // 100)
    out: list[Client] = []
    above: Decimal | int = 0  # the positive amounts ranked above the current client
    group_class = ""
    previous: Decimal | int | None = None
    for cp, amount in ranked:
        if amount <= 0 or total <= 0:
            cls = "C"
        elif amount == previous:
            cls = group_class
        else:
            cls = "A" if above < bound_a else "B" if above < bound_b else "C"
        if amount > 0:
            above += amount
        share = float(amount) / float(total) * 100 if total > 0 else 0.0
        cumulative = float(above) / float(total) * 100 if total > 0 else 0.0
        out.append(Client(cp, Decimal(amount), share, cumulative, cls))
        group_class, previous = cls, amount
    return out


def variation(series: Sequence[Decimal | int]) -> float | None:
    """Population coefficient of variation in percent; None when the mean is not positive."""
    n, total = len(series), sum(series, 0)
    if total <= 0:
        return None
    spread = n * sum(v * v for v in series) - total * total  # n² · σ²
    return math.sqrt(max(0.0, float(spread))) / float(total) * 100


@cache
def _fraction(value: float) -> Fraction:
    return Fraction(str(value))


def _within(n: int, total: Any, squares: Any, percent: float) -> bool:
    """σ/μ ≤ ``percent`` %, decided exactly: 100² · n² · σ² ≤ percent² · (Σ)², in integers
    when the series is (kopecks), else in fractions."""
    bound = _fraction(percent)
    spread = n * squares - total * total
    if isinstance(total, int) and isinstance(squares, int):
        return 10_000 * spread * bound.denominator**2 <= bound.numerator**2 * total * total
    return 10_000 * Fraction(spread) <= bound**2 * Fraction(total) ** 2


def xyz_class(series: Sequence[Decimal | int], t: Thresholds) -> tuple[float | None, str | None]:
    if len(series) < t.min_months:
        return None, None
    cv = variation(series)
    if cv is None:
        return None, "Z"
    n, total, squares = len(series), sum(series, 0), sum(v * v for v in series)
    if _within(n, total, squares, t.x):
        return cv, "X"
    return cv, "Y" if _within(n, total, squares, t.y) else "Z"


def classify(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    basis: str = "revenue",
    thresholds: Thresholds | None = None,
    product_group: str | None = None,
    data: Sums | None = None,
    only: set[str] | None = None,
) -> Classification:
    """ABC and XYZ of the clients ``actor`` sees over the months from ``starts`` to ``ends``
    (``data``: their ``sums`` read already, as ``analyse`` does). ``only``: the clients to keep
    (a segment), None for all — ranked among themselves: shares and classes are of their total."""
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}")
    t = thresholds or Thresholds()
    if data is None:
        data = sums(session, actor, starts, ends, product_group=product_group, only=only)
    elif only is not None:
        data = {cp: found for cp, found in data.items() if cp in only}
    period = [m.isoformat()[:7] for m in months(starts, ends)]
    if basis == "revenue":
        amounts = {cp: sum(r[0] for r in found.values()) for cp, found in data.items()}
    else:  # a month whose cost is unknown counts no profit
        amounts = {
            cp: sum(r[0] - r[1] for r in found.values() if r[1] is not None)
            for cp, found in data.items()
        }
    clients = abc_classes(amounts, t.a, t.b)
    for c in clients:
        found = data[c.counterparty_id]
        first = min(found)
        series = [found[m][0] if m in found else 0 for m in period if m >= first]
        c.variation, c.xyz = xyz_class(series, t)
        c.amount = _rub(int(c.amount))
        c.series = series
    total = _rub(sum(v for v in amounts.values() if v > 0))
    return Classification(
        month_start(starts), last_day(month_start(ends)), basis, t, total, clients
    )


# -- RFM


@dataclass
class RfmClient:
    counterparty_id: str
    recency_days: int
    frequency: int
    monetary: Decimal
    r: int = 0
    f: int = 0
    m: int = 0
    segment: str = ""

    @property
    def score(self) -> str:
        return f"{self.r}{self.f}{self.m}"


SEGMENTS = (
    "champions",
    "new",
    "loyal",
    "promising",
    "at_risk",
    "needs_attention",
    "lost",
    "hibernating",
)


def quintiles(values: list[Any]) -> list[int]:
    """Score 1–5 per value, higher for larger values: 1 + ⌊5·k/n⌋, k = values strictly smaller."""
    n = len(values)
    ordered = sorted(values)
    # k = how many are strictly smaller: the position of v's first occurrence.
    return [1 + 5 * bisect_left(ordered, v) // n for v in values]


def segment(r: int, f: int, m: int) -> str:
    fm = (f + m) / 2
    if r >= 4 and fm >= 4:
        return "champions"
    if r >= 4 and f == 1:
        return "new"
    if r >= 3 and fm >= 3:
        return "loyal"
    if r >= 4:
        return "promising"
    if r <= 2 and fm >= 3:
        return "at_risk"
    if r == 3:
        return "needs_attention"
    if r == 1:
        return "lost"
    return "hibernating"


def rfm_scores(clients: list[RfmClient]) -> list[RfmClient]:
    if not clients:
        return clients
    rs = quintiles([-c.recency_days for c in clients])
    fs = quintiles([c.frequency for c in clients])
    ms = quintiles([c.monetary for c in clients])
    for c, r, f, m in zip(clients, rs, fs, ms, strict=True):
        c.r, c.f, c.m = r, f, m
        c.segment = segment(r, f, m)
    return clients


def rfm(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    as_of: date | None = None,
    product_group: str | None = None,
    data: Sums | None = None,
    only: set[str] | None = None,
) -> list[RfmClient]:
    """RFM of the clients ``actor`` sees that bought in the period, best first (``only``: of these
    clients, a segment, scored among themselves; None for all)."""
    as_of = as_of or last_day(month_start(ends))
    if data is None:
        data = sums(session, actor, starts, ends, product_group=product_group, only=only)
    elif only is not None:
        data = {cp: found for cp, found in data.items() if cp in only}
    clients = []
    for cp, found in data.items():
        key = max(found)
        last = _month(key, found[key][3])
        clients.append(
            RfmClient(
                cp,
                max(0, (as_of - last).days),
                sum(r[2] for r in found.values()),
                _rub(sum(r[0] for r in found.values())),
            )
        )
    rfm_scores(clients)
    clients.sort(key=lambda c: (-(c.r + c.f + c.m), -c.monetary, c.counterparty_id))
    return clients


def analyse(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    basis: str = "revenue",
    thresholds: Thresholds | None = None,
    product_group: str | None = None,
    only: set[str] | None = None,
) -> tuple[Classification, list[RfmClient]]:
    """ABC/XYZ and RFM together, the summaries read once (``only``: of these clients)."""
    data = sums(session, actor, starts, ends, product_group=product_group, only=only)
    return (
        classify(session, actor, starts, ends, basis=basis, thresholds=thresholds, data=data),
        rfm(session, actor, starts, ends, data=data),
    )


# -- Neglect


@dataclass
class Neglected:
    counterparty_id: str
    name: str
    owner_id: str | None
    last_contact: date | None  # None: never
    days: int | None
    abc: str | None


def neglected(
    session: Session,
    actor: User,
    days: int,
    *,
    today: date,
    kinds: Iterable[str] = ("client",),
    contact_kinds: Iterable[str] | None = None,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[Neglected]:
    """Counterparties of ``kinds`` that ``actor`` sees with no contact done in the last ``days``
    days (``contact_kinds``: which interactions count; all by default), longest neglected first
    (``only``: of these counterparties, a segment; None for all)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days is a whole number from 1 to {MAX_DAYS}")
    wanted = set(kinds)
    last_q: Any = select(
        col(Interaction.counterparty_id), func.max(col(Interaction.starts_at))
    ).where(col(Interaction.status) == InteractionStatus.DONE.value)
    if contact_kinds is not None:
        last_q = last_q.where(col(Interaction.kind).in_(list(contact_kinds)))
    last_q = last_q.group_by(col(Interaction.counterparty_id)).subquery()
    rt = records.record_type("counterparties")
    query: Any = (
        select(
            col(Counterparty.id),
            col(Counterparty.legal_name),
            col(Counterparty.owner_id),
            col(Counterparty.kinds),
            col(Counterparty.abc_class),
            last_q.c[1],
        )
        .outerjoin(last_q, last_q.c[0] == col(Counterparty.id))
        .where(records.visible(rt, actor))
    )
    if owner_id is not None:
        query = query.where(col(Counterparty.owner_id) == owner_id)
    out = []
    for cp, name, owner, cp_kinds, abc, last in session.execute(query):
        if wanted and not wanted & set(cp_kinds or ()):
            continue
        if only is not None and cp not in only:
            continue
        last_day_ = last.date() if last is not None and hasattr(last, "date") else None
        if last is not None and last_day_ is None:
            last_day_ = _day(last)
        ago = (today - last_day_).days if last_day_ is not None else None
        if ago is not None and ago < days:
            continue
        out.append(Neglected(cp, name, owner, last_day_, ago, abc))
    out.sort(key=lambda n: (n.days is not None, -(n.days or 0), n.name))
    return out


@dataclass
class Due:
    """A client due for contact by its class's rule (``ContactRule``)."""

    counterparty_id: str
    name: str
    owner_id: str | None
    abc: str
    every: int  # the rule: contact every this many days
    last_contact: date | None  # None: never
    days: int | None  # since the last contact; None: never
    overdue: int | None  # days past the rule's interval (0: due today); None: never contacted


def due_contacts(
    session: Session,
    actor: User,
    *,
    today: date,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[Due]:
    """The counterparties ``actor`` sees whose ABC class has a contact rule and whose last contact
    done (of the rule's kinds; any kind when it names none) was that many days ago or more, or who
    were never contacted: never contacted first, then the most overdue. ``owner_id``: one
    salesperson's clients (the agenda asks for the viewer's own); ``only``: these counterparties."""
    rules = list(session.execute(select(ContactRule)).scalars())
    by_kinds: dict[tuple[str, ...], dict[str, int]] = {}
    for rule in rules:
        by_kinds.setdefault(tuple(sorted(rule.kinds or ())), {})[rule.abc_class] = rule.days
    rt = records.record_type("counterparties")
    out = []
    for kinds, classes in by_kinds.items():
        candidates: Any = select(col(Counterparty.id)).where(
            col(Counterparty.abc_class).in_(list(classes))
        )
        if owner_id is not None:
            candidates = candidates.where(col(Counterparty.owner_id) == owner_id)
        last_q: Any = select(
            col(Interaction.counterparty_id), func.max(col(Interaction.starts_at))
        ).where(
            col(Interaction.status) == InteractionStatus.DONE.value,
            col(Interaction.counterparty_id).in_(candidates),
        )
        if kinds:
            last_q = last_q.where(col(Interaction.kind).in_(list(kinds)))
        last_q = last_q.group_by(col(Interaction.counterparty_id)).subquery()
        query: Any = (
            select(
                col(Counterparty.id),
                col(Counterparty.legal_name),
                col(Counterparty.owner_id),
                col(Counterparty.abc_class),
                last_q.c[1],
            )
            .outerjoin(last_q, last_q.c[0] == col(Counterparty.id))
            .where(col(Counterparty.abc_class).in_(list(classes)))
            .where(records.visible(rt, actor))
        )
        if owner_id is not None:
            query = query.where(col(Counterparty.owner_id) == owner_id)
        for cp, name, owner, abc, last in session.execute(query):
            if only is not None and cp not in only:
                continue
            every = classes[abc]
            day = None if last is None else (last.date() if hasattr(last, "date") else _day(last))
            ago = None if day is None else (today - day).days
            if ago is not None and ago < every:
                continue
            out.append(
                Due(cp, name, owner, abc, every, day, ago, None if ago is None else ago - every)
            )
    out.sort(key=lambda d: (d.overdue is not None, -(d.overdue or 0), d.name))
    return out


# -- Deals, channels and activity (issue 14): the funnel, lost reasons, sources, manager activity
#
# The funnel, lost reasons and sources put a deal in a period by the day it was **created**
# (``created_at``, a UTC day, whole calendar months as everywhere here) and read its stage as it is
# now, and how far it got from its stage history (``Deal.stages``, kept by crm.rules since
# migration 0017): the funnel of a quarter is what became of the deals opened in that quarter. The
# closed-deals report puts a won or lost deal in a period by the day it was **closed**
# (``Deal.closed_on``; for a deal closed before its history was kept, the day it was last changed).

OPEN_STAGES = ("new", "qualification", "proposal", "negotiation")
FUNNEL_STAGES = (*OPEN_STAGES, "won")
STAGES_SHOWN = (*FUNNEL_STAGES, "lost")
# The forecast's chance of an open deal at each stage, percent (what the demo and 1C:CRM's
# default funnel use). A deal's own ``probability`` field is not read: one rule for every deal.
STAGE_PROBABILITY = {
    "new": 10,
    "qualification": 20,
    "proposal": 40,
    "negotiation": 60,
    "won": 100,
    "lost": 0,
}
CURRENCY = "RUB"
INTERACTION_KINDS = ("call", "meeting", "letter", "purchase", "complaint", "other")


def whole_months(starts: date, ends: date) -> tuple[date, date]:
    """The first day of ``starts``' month and the last day of ``ends``' month, checked."""
    check_period(starts, ends)
    return month_start(starts), last_day(month_start(ends))


def _instants(starts: date, ends: date) -> tuple[datetime, datetime]:
    """The period's whole months as UTC instants: [first day 00:00, the day after the last)."""
    first, last = whole_months(starts, ends)
    return (
        datetime.combine(first, time(), UTC),
        datetime.combine(last + timedelta(days=1), time(), UTC),
    )


def text_key(text: str | None) -> str:
    """A free text as grouped: spaces trimmed and collapsed, case folded ("" for none)."""
    return " ".join((text or "").split()).casefold()


def spellings(texts: Iterable[str | None]) -> dict[str, str]:
    """Each grouping key (``text_key``) → its most common spelling (trimmed, spaces collapsed);
    a tie goes to the spelling first in code-point order."""
    counts: dict[str, dict[str, int]] = {}
    for text in texts:
        shown = " ".join((text or "").split())
        by = counts.setdefault(shown.casefold(), {})
        by[shown] = by.get(shown, 0) + 1
    return {key: min(by.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, by in counts.items()}


@dataclass(frozen=True)
class _Deal:
    id: str
    counterparty_id: str
    owner_id: str | None
    stage: str
    amount: Decimal  # roubles; 0 when not given or in another currency
    rub: bool  # the amount is in roubles (or not given)
    source: str | None
    lost_reason: str | None
    furthest: int  # index in FUNNEL_STAGES of the furthest stage it reached


def furthest_stage(stage: str, stages: Iterable[Any] | None) -> int:
    """Index in ``FUNNEL_STAGES`` of the furthest stage a deal reached: a won deal every stage; an
    open one its stage now or a later one its history shows (moved back from negotiation, it has
    still reached negotiation); a lost one the furthest open stage of its history (``new`` when it
    has none: closed before its history was kept, or lost from the start)."""
    if stage == "won":
        return len(FUNNEL_STAGES) - 1
    been = [entry.get("stage") for entry in stages or () if isinstance(entry, dict)]
    if stage in OPEN_STAGES:
        been.append(stage)
    return max((FUNNEL_STAGES.index(s) for s in been if s in OPEN_STAGES), default=0)


def _deals(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    owner_id: str | None,
    only: set[str] | None = None,
) -> list[_Deal]:
    """The deals ``actor`` sees created in the period's whole months (of ``owner_id`` only; of the
    counterparties ``only``, a segment, when given)."""
    lo, hi = _instants(starts, ends)
    rt = records.record_type("deals")
    query: Any = (
        select(
            col(Deal.id),
            col(Deal.counterparty_id),
            col(Deal.owner_id),
            col(Deal.stage),
            col(Deal.amount),
            col(Deal.currency),
            col(Deal.closed_volume),
            col(Deal.source),
            col(Deal.lost_reason),
            col(Deal.stages),
        )
        .where(records.visible(rt, actor))
        .where(col(Deal.created_at) >= lo, col(Deal.created_at) < hi)
    )
    if owner_id is not None:
        query = query.where(col(Deal.owner_id) == owner_id)
    out = []
    for row in session.execute(query):
        id_, cp, owner, stage, amount, currency, volume, source, reason, stages = row
        if only is not None and cp not in only:
            continue
        rub = (currency or CURRENCY) == CURRENCY
        money = _deal_money(stage, amount, volume, rub)
        furthest = furthest_stage(stage, stages)
        out.append(_Deal(id_, cp, owner, stage, money, rub, source, reason, furthest))
    return out


def _deal_money(stage: str, amount: Any, volume: Any, rub: bool) -> Decimal:
    """A deal's amount in roubles (0 in another currency): a won deal's is what was shipped
    (closed_volume) where that is known."""
    value = volume if stage == "won" and volume is not None else amount
    return Decimal(value) if rub and value is not None else ZERO


def _percent(part: int, whole: int) -> float | None:
    return part / whole * 100 if whole else None


def _forecast(amount: Decimal, stage: str) -> Decimal:
    return (amount * STAGE_PROBABILITY[stage] / 100).quantize(Decimal("0.01"))


@dataclass
class FunnelStage:
    stage: str
    deals: int  # deals at this stage now
    amount: Decimal  # their amount, roubles (won: the closed volume where known)
    reached: int  # deals that got to this stage or further (furthest_stage)
    conversion: float | None  # percent of ``reached`` that reached the next stage
    probability: int  # percent (STAGE_PROBABILITY)
    forecast: Decimal | None  # amount × probability, open stages only


@dataclass
class Funnel:
    starts: date
    ends: date
    owner_id: str | None
    stages: list[FunnelStage]
    deals: int
    won: int
    won_amount: Decimal
    lost: int
    lost_amount: Decimal
    win_rate: float | None  # percent of the closed deals (won + lost) that were won
    open_amount: Decimal
    forecast: Decimal
    other_currency: int  # deals counted whose amount is in another currency (left out of sums)


def funnel(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> Funnel:
    """The deals ``actor`` sees created in the period, by their stage now. A deal has *reached* the
    furthest stage it got to (``furthest_stage``: from its history; a won deal every stage, a lost
    one the furthest open stage it was at before it was lost) and every one before it. Conversion
    from a stage: reached(next) / reached(stage). Win rate: won / (won + lost). Forecast: an open
    stage's amount × its ``STAGE_PROBABILITY``. ``only``: the deals of these counterparties (a
    segment), None for all."""
    deals = _deals(session, actor, starts, ends, owner_id, only)
    first, last = whole_months(starts, ends)
    counts = {s: 0 for s in STAGES_SHOWN}
    amounts = {s: ZERO for s in STAGES_SHOWN}
    for d in deals:
        stage = d.stage if d.stage in counts else "new"  # an unknown stage: the funnel's mouth
        counts[stage] += 1
        amounts[stage] += d.amount
    reached = [sum(1 for d in deals if d.furthest >= i) for i in range(len(FUNNEL_STAGES))]
    stages = []
    for i, stage in enumerate(STAGES_SHOWN):
        is_open = stage in OPEN_STAGES
        stages.append(
            FunnelStage(
                stage,
                counts[stage],
                amounts[stage],
                reached[i] if i < len(reached) else counts[stage],
                _percent(reached[i + 1], reached[i]) if i + 1 < len(reached) else None,
                STAGE_PROBABILITY[stage],
                _forecast(amounts[stage], stage) if is_open else None,
            )
        )
    won, lost = counts["won"], counts["lost"]
    return Funnel(
        first,
        last,
        owner_id,
        stages,
        len(deals),
        won,
        amounts["won"],
        lost,
        amounts["lost"],
        _percent(won, won + lost),
        sum((amounts[s] for s in OPEN_STAGES), ZERO),
        sum((s.forecast or ZERO for s in stages), ZERO),
        sum(1 for d in deals if not d.rub),
    )


@dataclass
class ClosedRow:
    month: date  # the first day of the month the deals were closed in
    owner_id: str | None
    won: int
    won_amount: Decimal  # roubles: the closed volume where known, else the amount
    lost: int
    lost_amount: Decimal
    win_rate: float | None  # percent of won among won + lost
    other_currency: int  # deals whose amount is in another currency (left out of the sums)


def _closed_day(closed_on: Any, updated_at: Any) -> date:
    """The day a won or lost deal was closed: ``closed_on``; a deal closed before the history was
    kept has none, and counts on the day it was last changed."""
    if closed_on is not None:
        return _day(closed_on)
    return updated_at.date() if hasattr(updated_at, "date") else _day(updated_at)


def closed(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[ClosedRow]:
    """The deals ``actor`` sees that were won or lost in the period's whole months, by the day they
    were closed (``_closed_day``): per month and owner, oldest month first. ``only``: the
    counterparties to keep (a segment), None for all."""
    first, last = whole_months(starts, ends)
    rt = records.record_type("deals")
    query: Any = (
        select(
            col(Deal.counterparty_id),
            col(Deal.owner_id),
            col(Deal.stage),
            col(Deal.amount),
            col(Deal.currency),
            col(Deal.closed_volume),
            col(Deal.closed_on),
            col(Deal.updated_at),
        )
        .where(records.visible(rt, actor))
        .where(col(Deal.stage).in_(["won", "lost"]))
    )
    if owner_id is not None:
        query = query.where(col(Deal.owner_id) == owner_id)
    rows: dict[tuple[date, str | None], ClosedRow] = {}
    for cp, owner, stage, amount, currency, volume, closed_on, updated_at in session.execute(query):
        day = _closed_day(closed_on, updated_at)
        if not first <= day <= last or (only is not None and cp not in only):
            continue
        key = (month_start(day), owner)
        row = rows.get(key)
        if row is None:
            row = rows[key] = ClosedRow(key[0], owner, 0, ZERO, 0, ZERO, None, 0)
        rub = (currency or CURRENCY) == CURRENCY
        money = _deal_money(stage, amount, volume, rub)
        row.other_currency += 0 if rub else 1
        if stage == "won":
            row.won += 1
            row.won_amount += money
        else:
            row.lost += 1
            row.lost_amount += money
    for row in rows.values():
        row.win_rate = _percent(row.won, row.won + row.lost)
    return sorted(rows.values(), key=lambda r: (r.month, r.owner_id or ""))


@dataclass
class LostReason:
    reason: str  # the most common spelling; "" when none was given
    deals: int
    amount: Decimal
    share: float  # percent of the lost deals
    amount_share: float | None  # percent of their amount (None when it is zero)


def lost(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[LostReason]:
    """The lost deals ``actor`` sees created in the period, by reason: reasons grouped trimmed
    and case-folded, shown in their most common spelling; most deals first (then the larger
    amount, then the reason). ``only``: of these counterparties (a segment), None for all."""
    deals = [d for d in _deals(session, actor, starts, ends, owner_id, only) if d.stage == "lost"]
    shown = spellings(d.lost_reason for d in deals)
    groups: dict[str, list[_Deal]] = {}
    for d in deals:
        groups.setdefault(text_key(d.lost_reason), []).append(d)
    total = sum((d.amount for d in deals), ZERO)
    out = []
    for key, members in groups.items():
        amount = sum((d.amount for d in members), ZERO)
        out.append(
            LostReason(
                shown[key],
                len(members),
                amount,
                len(members) / len(deals) * 100,
                float(amount / total * 100) if total > 0 else None,
            )
        )
    out.sort(key=lambda r: (-r.deals, -r.amount, r.reason == "", r.reason))
    return out


@dataclass
class SourceRow:
    source: str  # the most common spelling; "" when none was given
    new: int  # counterparties created in the period with this source
    clients: int  # of them, clients now (their kinds include "client")
    conversion: float | None  # clients / new, percent
    deals: int  # deals created in the period from this source (the deal's own source)
    won: int
    won_amount: Decimal
    revenue: Decimal  # sales in the period to every counterparty with this source


def sources(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    data: Sums | None = None,
    only: set[str] | None = None,
) -> list[SourceRow]:
    """Which channel brings clients: per source (grouped as ``lost`` groups reasons) the new
    counterparties of the period and how many of them are clients now, the deals created in
    the period from that source and the won ones, and the period's revenue (the sales
    summaries, ``sums``) of all the counterparties from that source. Largest first: new
    counterparties, then revenue, then won amount. ``only``: the counterparties to count (a
    segment) — their deals and sales only; None for all."""
    lo, hi = _instants(starts, ends)
    first, last = whole_months(starts, ends)
    rt = records.record_type("counterparties")
    query: Any = select(
        col(Counterparty.id),
        col(Counterparty.source),
        col(Counterparty.kinds),
        col(Counterparty.created_at),
    ).where(records.visible(rt, actor))
    if owner_id is not None:
        query = query.where(col(Counterparty.owner_id) == owner_id)
    companies = session.execute(query).all()
    if only is not None:
        companies = [c for c in companies if c[0] in only]
    deals = _deals(session, actor, starts, ends, owner_id, only)
    if data is None:
        data = sums(session, actor, first, last, only=only)
    shown = spellings([c[1] for c in companies] + [d.source for d in deals])
    rows: dict[str, SourceRow] = {}

    def row(text: str | None) -> SourceRow:
        key = text_key(text)
        if key not in rows:
            rows[key] = SourceRow(shown[key], 0, 0, None, 0, 0, ZERO, ZERO)
        return rows[key]

    for cp, source, kinds, created in companies:
        r = row(source)
        if lo <= created < hi:
            r.new += 1
            r.clients += "client" in (kinds or ())
        found = data.get(cp)
        if found:
            r.revenue += _rub(sum(m[0] for m in found.values()))
    for d in deals:
        r = row(d.source)
        r.deals += 1
        if d.stage == "won":
            r.won += 1
            r.won_amount += d.amount
    out = [r for r in rows.values() if r.new or r.deals or r.revenue]
    for r in out:
        r.conversion = _percent(r.clients, r.new)
    out.sort(key=lambda r: (-r.new, -r.revenue, -r.won_amount, r.source == "", r.source))
    return out


@dataclass
class ActivityRow:
    responsible_id: str | None  # None: contacts nobody is responsible for
    done_by_kind: dict[str, int]  # done contacts per kind (INTERACTION_KINDS)
    done: int
    planned: int  # planned, their time still ahead
    overdue: int  # planned, their time past, not done
    cancelled: int

    @property
    def total(self) -> int:
        return self.done + self.planned + self.overdue + self.cancelled


def activity(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    now: datetime,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[ActivityRow]:
    """Contacts (interactions) ``actor`` sees whose time falls in the period, per responsible
    person: done ones per kind, and done / planned ahead / overdue (planned, its time before
    ``now``, not done) / cancelled. Most contacts first. ``only``: the contacts with these
    counterparties (a segment), None for all."""
    lo, hi = _instants(starts, ends)
    rt = records.record_type("interactions")
    grouped: list[Any] = [
        col(Interaction.responsible_id),
        col(Interaction.kind),
        col(Interaction.status),
    ]
    if only is not None:  # counted per counterparty too, to keep the segment's
        grouped.append(col(Interaction.counterparty_id))
    query: Any = (
        select(
            *grouped[:3],
            func.count(),
            func.sum(case((col(Interaction.starts_at) < now, 1), else_=0)),
            *grouped[3:],
        )
        .where(records.visible(rt, actor))
        .where(col(Interaction.starts_at) >= lo, col(Interaction.starts_at) < hi)
        .group_by(*grouped)
    )
    if owner_id is not None:
        query = query.where(col(Interaction.responsible_id) == owner_id)
    rows: dict[str | None, ActivityRow] = {}
    for who, kind, status, n, past, *cp in session.execute(query):
        if only is not None and cp[0] not in only:
            continue
        r = rows.get(who)
        if r is None:
            r = rows[who] = ActivityRow(who, {k: 0 for k in INTERACTION_KINDS}, 0, 0, 0, 0)
        if status == InteractionStatus.DONE.value:
            r.done += n
            r.done_by_kind[kind if kind in r.done_by_kind else "other"] += n
        elif status == InteractionStatus.PLANNED.value:
            r.overdue += int(past or 0)
            r.planned += n - int(past or 0)
        else:
            r.cancelled += n
    out = list(rows.values())
    out.sort(key=lambda r: (-r.total, -r.done, r.responsible_id is None, r.responsible_id or ""))
    return out


# -- Receivables (issue 14): what clients owe on their invoices, and how late
#
# Read from the ``Receivable`` rows alone (each client's open invoices, written by
# crm.invoices.settle), which laptops hold for the clients they see: a salesperson offline gets
# the answer the server gives them. An invoice is overdue when its due day is before ``today``;
# its days late are ``today − due_on`` (1 the day after it fell due).

AGEING = ((1, 30), (31, 60), (61, 90), (91, None))  # overdue days per bucket: 1–30 … over 90
NO_MONEY = Decimal("0.00")  # money is kept in kopecks: a zero amount reads "0.00" too


def ageing_bucket(days_late: int) -> int:
    """The index in ``AGEING`` of an invoice ``days_late`` days overdue (1 or more)."""
    for i, (_low, high) in enumerate(AGEING):
        if high is None or days_late <= high:
            return i
    return len(AGEING) - 1


@dataclass
class ReceivableRow:
    counterparty_id: str
    name: str
    owner_id: str | None
    owed: Decimal  # outstanding on the open invoices
    overdue: Decimal  # of it, on invoices due before today
    not_due: Decimal  # of it, due today or later
    ageing: list[Decimal]  # the overdue amount per AGEING bucket
    oldest_days: int | None  # days the most overdue invoice is late; None: nothing overdue
    invoices: int  # open invoices
    overdue_invoices: int


def receivables(
    session: Session,
    actor: User,
    *,
    today: date,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[ReceivableRow]:
    """What each client ``actor`` sees owes on ``today`` (``owner_id``: that salesperson's
    clients; ``only``: of these clients, a segment), from their ``Receivable`` rows: the most
    overdue first (then the most owed, then the name)."""
    rt = records.record_type("receivables")
    query: Any = (
        select(
            col(Receivable.counterparty_id),
            col(Receivable.invoices),
            col(Counterparty.legal_name),
            col(Counterparty.owner_id),
        )
        .join(Counterparty, col(Counterparty.id) == col(Receivable.counterparty_id))
        .where(records.visible(rt, actor))
    )
    if owner_id is not None:
        query = query.where(col(Counterparty.owner_id) == owner_id)
    out = []
    for cp, invoices, name, owner in session.execute(query):
        if only is not None and cp not in only:
            continue
        row = ReceivableRow(
            cp, name, owner, NO_MONEY, NO_MONEY, NO_MONEY, [NO_MONEY] * len(AGEING), None, 0, 0
        )
        for invoice in invoices or []:
            left = Decimal(str(invoice["amount"])) - Decimal(str(invoice.get("paid") or 0))
            if left <= 0:
                continue
            row.invoices += 1
            row.owed += left
            late = (today - date.fromisoformat(str(invoice["due_on"])[:10])).days
            if late > 0:
                row.overdue += left
                row.overdue_invoices += 1
                row.ageing[ageing_bucket(late)] += left
                row.oldest_days = max(row.oldest_days or 0, late)
            else:
                row.not_due += left
        if row.invoices:
            out.append(row)
    out.sort(key=lambda r: (-r.overdue, -r.owed, r.name, r.counterparty_id))
    return out


@dataclass
class ReceivableOwner:
    owner_id: str | None  # the clients' owner; None: clients nobody owns
    clients: int  # clients owing anything
    overdue_clients: int
    owed: Decimal
    overdue: Decimal
    not_due: Decimal
    ageing: list[Decimal]
    oldest_days: int | None


def receivables_by_owner(rows: Iterable[ReceivableRow]) -> list[ReceivableOwner]:
    """``receivables`` rolled up per salesperson (the clients' owner): the most overdue first."""
    found: dict[str | None, ReceivableOwner] = {}
    for r in rows:
        o = found.get(r.owner_id)
        if o is None:
            o = found[r.owner_id] = ReceivableOwner(
                r.owner_id, 0, 0, NO_MONEY, NO_MONEY, NO_MONEY, [NO_MONEY] * len(AGEING), None
            )
        o.clients += 1
        o.overdue_clients += r.overdue > 0
        o.owed += r.owed
        o.overdue += r.overdue
        o.not_due += r.not_due
        o.ageing = [a + b for a, b in zip(o.ageing, r.ageing, strict=True)]
        if r.oldest_days is not None:
            o.oldest_days = max(o.oldest_days or 0, r.oldest_days)
    out = list(found.values())
    out.sort(key=lambda o: (-o.overdue, -o.owed, o.owner_id is None, o.owner_id or ""))
    return out
