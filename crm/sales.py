"""What each client bought, month by month: the sales summaries as the analyses read them
(``crm.analytics``' ABC, XYZ and RFM, ``crm.pipeline``'s sources, ``crm.marketing``'s returns).

Every analysis reads the monthly totals (``crm.models.SalesSummary``, written by ``crm.trade``),
never the shipment documents, and only the counterparties the asking user may see: the same
function gives a manager the team's answer on the server and a salesperson the answer for their
own clients on a laptop with no network (the replica holds the same monthly rows for the clients
it holds). Periods are whole calendar months (``crm.periods``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import records
from crm.models import User
from crm.models.trade import SalesSummary
from crm.periods import check_period, month_start, months

ZERO = Decimal(0)


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

MAX_GROUP = 200  # characters of a product group's name


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


def roubles(kopecks: int) -> Decimal:
    """An amount read in whole kopecks, in roubles."""
    return Decimal(kopecks).scaleb(-2)


def month_date(key: str, day: int = 1) -> date:
    """A month's key as read ("YYYY-MM") as its first day, or as its ``day``."""
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
            month_date(k): Month(
                roubles(r[0]), None if r[1] is None else roubles(r[1]), r[2], month_date(k, r[3])
            )
            for k, r in by_month.items()
        }
        for cp, by_month in found.items()
    }
