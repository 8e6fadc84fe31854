"""How clients buy: ABC, XYZ and RFM (issue 14).

Every analysis here reads the monthly totals (``crm.models.SalesSummary``, read by ``crm.sales``),
never the shipment documents, and only the counterparties the asking user may see: the same
function gives a manager the team's answer on the server and a salesperson the answer for their
own clients on a laptop with no network (the replica holds the same monthly rows for the clients
it holds). Periods are whole calendar months (``crm.periods``).

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

The other analyses live beside this one: the clients nobody has contacted in ``crm.neglect``, the
deals' funnel, lost reasons, sources, closed deals and the managers' activity in
``crm.pipeline``, what clients owe in ``crm.receivables``; the periods in ``crm.periods``, the
sales summaries as read in ``crm.sales``. Their names stay importable from here (``__all__``).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cache
from typing import Any

from sqlmodel import Session

from crm.models import User

# Everything this module held before it was split by topic (see its docstring) stays importable
# from here (``__all__``), for callers not yet moved to the new modules; the periods and the
# sales summaries are read here too.
from crm.neglect import MAX_DAYS, Due, Neglected, due_contacts, neglected
from crm.periods import (
    MAX_MONTHS,
    YEARS,
    check_period,
    last_day,
    month_start,
    months,
    whole_months,
)
from crm.pipeline import (
    CURRENCY,
    FUNNEL_STAGES,
    INTERACTION_KINDS,
    OPEN_STAGES,
    STAGE_PROBABILITY,
    STAGES_SHOWN,
    ActivityRow,
    ClosedRow,
    Funnel,
    FunnelStage,
    LostReason,
    SourceRow,
    activity,
    closed,
    funnel,
    furthest_stage,
    lost,
    sources,
    spellings,
    text_key,
)
from crm.receivables import (
    AGEING,
    NO_MONEY,
    ReceivableOwner,
    ReceivableRow,
    ageing_bucket,
    receivables,
    receivables_by_owner,
)
from crm.sales import MAX_GROUP, ZERO, Month, Sums, month_date, monthly, roubles, sums

__all__ = [
    # ABC, XYZ and RFM: this module's own
    "BASES",
    "SEGMENTS",
    "Classification",
    "Client",
    "RfmClient",
    "Thresholds",
    "abc_classes",
    "analyse",
    "classify",
    "quintiles",
    "rfm",
    "rfm_scores",
    "segment",
    "variation",
    "xyz_class",
    # crm.periods
    "MAX_MONTHS",
    "YEARS",
    "check_period",
    "last_day",
    "month_start",
    "months",
    "whole_months",
    # crm.sales
    "MAX_GROUP",
    "ZERO",
    "Month",
    "Sums",
    "monthly",
    "sums",
    # crm.neglect
    "MAX_DAYS",
    "Due",
    "Neglected",
    "due_contacts",
    "neglected",
    # crm.pipeline
    "CURRENCY",
    "FUNNEL_STAGES",
    "INTERACTION_KINDS",
    "OPEN_STAGES",
    "STAGES_SHOWN",
    "STAGE_PROBABILITY",
    "ActivityRow",
    "ClosedRow",
    "Funnel",
    "FunnelStage",
    "LostReason",
    "SourceRow",
    "activity",
    "closed",
    "funnel",
    "furthest_stage",
    "lost",
    "sources",
    "spellings",
    "text_key",
    # crm.receivables
    "AGEING",
    "NO_MONEY",
    "ReceivableOwner",
    "ReceivableRow",
    "ageing_bucket",
    "receivables",
    "receivables_by_owner",
]

BASES = ("revenue", "profit")


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
        c.amount = roubles(int(c.amount))
        c.series = series
    total = roubles(sum(v for v in amounts.values() if v > 0))
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
        last = month_date(key, found[key][3])
        clients.append(
            RfmClient(
                cp,
                max(0, (as_of - last).days),
                sum(r[2] for r in found.values()),
                roubles(sum(r[0] for r in found.values())),
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
