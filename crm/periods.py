"""Whole calendar months: the periods the analyses take (``crm.analytics``, ``crm.pipeline``,
``crm.marketing``, ``crm.reports``), on the server and on a laptop alike.

A period is asked for by its first and last month and always read as whole calendar months: from
the first day of the one to the last day of the other (``whole_months``), so a quarter asked on its
15th is still the whole quarter. It lies within a company's history, not the calendar's whole
range (``YEARS``), and is at most ten years (``MAX_MONTHS``): every door (REST, the commands, the
laptop, the screens) asks ``check_period``, which says what is wrong with one.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


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


def whole_months(starts: date, ends: date) -> tuple[date, date]:
    """The first day of ``starts``' month and the last day of ``ends``' month, checked."""
    check_period(starts, ends)
    return month_start(starts), last_day(month_start(ends))


def as_date(value: Any) -> date:
    """A date column as a date (SQLite's aggregate answers its ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
