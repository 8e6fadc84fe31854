"""Receivables (issue 14): what clients owe on their invoices, and how late.

Read from the ``Receivable`` rows alone (each client's open invoices, written by
crm.invoices.settle), which laptops hold for the clients they see: a salesperson offline gets
the answer the server gives them. An invoice is overdue when its due day is before ``today``;
its days late are ``today − due_on`` (1 the day after it fell due). Per client (``receivables``)
or rolled up per salesperson, the clients' owner (``receivables_by_owner``).
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
from crm.models import Counterparty, User
from crm.models.trade import Receivable

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
