"""The complaints journal's report (issue 15): complaints registered in a period, by cause, by what
they were about and by product — how many, how many still open and overdue, how they were closed
and how long resolving took (the median, in days).

Over the complaints the user may see (``crm.records.visible``), as every list of them; a report like
the analyses' (``crm.reports.Report``), so ``satchel report complaints`` prints it, exports it to
XLSX or CSV and gives it as JSON the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import records, validation
from crm.exports import Column
from crm.models import Complaint, User
from crm.models.enums import ComplaintCause, ComplaintStatus, ComplaintSubject
from crm.reports import Report

OPEN = (ComplaintStatus.NEW.value, ComplaintStatus.IN_WORK.value)
# Products are many and typed freely: the most complained-of ones are listed.
TOP_PRODUCTS = 20
# A period of registration is at most this long.
MAX_DAYS = 3660

SUBJECTS = {
    ComplaintSubject.PRODUCT: "товар / product",
    ComplaintSubject.DELIVERY: "доставка / delivery",
    ComplaintSubject.SERVICE: "обслуживание / service",
    ComplaintSubject.OTHER: "другое / other",
}
CAUSES = {
    ComplaintCause.PRODUCT_QUALITY: "качество товара / product quality",
    ComplaintCause.DELIVERY_DELAY: "задержка поставки / delivery delay",
    ComplaintCause.WRONG_GOODS: "не тот товар / wrong goods",
    ComplaintCause.DOCUMENTS: "документы / documents",
    ComplaintCause.SERVICE: "обслуживание / service",
    ComplaintCause.PRICE: "цена / price",
    ComplaintCause.OTHER: "другое / other",
}
COLUMNS = [
    Column("by", "Разрез / By"),
    Column("value", "Значение / Value"),
    Column("total", "Всего / Total", "int"),
    Column("open", "Открыто / Open", "int"),
    Column("overdue", "Просрочено / Overdue", "int"),
    Column("resolved", "Решено / Resolved", "int"),
    Column("rejected", "Отклонено / Rejected", "int"),
    Column("median_days", "Медиана дней до решения / Median days to resolve", "int"),
]


@dataclass(frozen=True)
class _Row:
    status: str
    subject: str
    cause: str | None
    product: str | None
    deadline: date | None
    created_at: datetime
    resolved_at: datetime | None


def check_period(starts: date, ends: date) -> None:
    """``ValueError`` saying what is wrong with a period of registration."""
    if starts > ends:
        raise ValueError("the period's first day is after its last")
    validation.check_year(starts)
    validation.check_year(ends)
    if (ends - starts).days > MAX_DAYS:
        raise ValueError(f"a period is at most {MAX_DAYS} days")


def _rows(
    session: Session, actor: User, starts: date, ends: date, only: set[str] | None = None
) -> list[_Row]:
    rt = records.record_type("complaints")
    lo = datetime.combine(starts, time(), UTC)
    hi = datetime.combine(ends + timedelta(days=1), time(), UTC)
    # With ``only`` (a segment's members), each complaint's counterparty too, to keep theirs.
    whose = [col(Complaint.counterparty_id)] if only is not None else []
    found = session.execute(
        select(
            col(Complaint.status),
            col(Complaint.subject),
            col(Complaint.cause),
            col(Complaint.product),
            col(Complaint.deadline),
            col(Complaint.created_at),
            col(Complaint.resolved_at),
            *whose,
        ).where(
            records.visible(rt, actor),
            col(Complaint.created_at) >= lo,
            col(Complaint.created_at) < hi,
        )
    ).all()
    if only is not None:
        return [_Row(*row[:-1]) for row in found if row[-1] in only]
    return [_Row(*row) for row in found]


def _days(row: _Row) -> float | None:
    if row.status != ComplaintStatus.RESOLVED or row.resolved_at is None:
        return None
    return max((row.resolved_at - row.created_at).total_seconds(), 0) / 86400


def _line(by: str, value: str, rows: list[_Row], today: date) -> dict[str, Any]:
    days = [d for d in (_days(r) for r in rows) if d is not None]
    return {
        "by": by,
        "value": value,
        "total": len(rows),
        "open": sum(r.status in OPEN for r in rows),
        "overdue": sum(
            r.status in OPEN and r.deadline is not None and r.deadline < today for r in rows
        ),
        "resolved": sum(r.status == ComplaintStatus.RESOLVED for r in rows),
        "rejected": sum(r.status == ComplaintStatus.REJECTED for r in rows),
        "median_days": round(median(days), 1) if days else None,
    }


def report(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    today: date,
    *,
    only: set[str] | None = None,
) -> Report:
    """The complaints registered from ``starts`` to ``ends`` (whole days, UTC) that ``actor`` sees:
    one row per cause (of the closed ones), per subject and per product (the ``TOP_PRODUCTS`` most
    frequent), and the totals in ``about``; overdue means open with a deadline before ``today``.
    ``only``: the complaints of these counterparties (a segment), None for all."""
    check_period(starts, ends)
    rows = _rows(session, actor, starts, ends, only)
    lines: list[dict[str, Any]] = []
    by_cause: dict[str, list[_Row]] = defaultdict(list)
    by_subject: dict[str, list[_Row]] = defaultdict(list)
    by_product: dict[str, list[_Row]] = defaultdict(list)
    shown_product: dict[str, str] = {}
    for row in rows:
        if row.cause is not None:
            by_cause[row.cause].append(row)
        by_subject[row.subject].append(row)
        key = validation.fold_text(row.product) if row.product else ""
        by_product[key].append(row)
        shown_product.setdefault(key, row.product or "—")
    for cause, label in CAUSES.items():
        if by_cause.get(cause):
            lines.append(_line("причина / cause", label, by_cause[cause], today))
    for subject, label in SUBJECTS.items():
        if by_subject.get(subject):
            lines.append(_line("о чём / subject", label, by_subject[subject], today))
    products = sorted(by_product.items(), key=lambda kv: (-len(kv[1]), shown_product[kv[0]]))
    for key, items in products[:TOP_PRODUCTS]:
        lines.append(_line("товар / product", shown_product[key], items, today))
    whole = _line("всего / total", "", rows, today)
    return Report(
        name="complaints",
        title="Жалобы / Complaints",
        columns=COLUMNS,
        rows=lines,
        about={
            "from": starts,
            "to": ends,
            "total": whole["total"],
            "open": whole["open"],
            "overdue": whole["overdue"],
            "resolved": whole["resolved"],
            "rejected": whole["rejected"],
            "median_days_to_resolve": whole["median_days"],
        },
    )
