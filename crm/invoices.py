"""Invoices for payment from 1C, their settlement by the client's payments, and receivables
(issue 14).

**Storing** (``store_invoices``, and ``import_invoices`` over 1C's spreadsheets; the CommerceML
importer calls ``store_invoices`` too). Only the office and the administrators import (the
documents are the company's books), and only for clients they see. An invoice already stored
(same number, day and client) is skipped: importing an export again, or an overlapping one,
adds nothing and changes nothing. An invoice's **due day** is the one 1C gives; else its
issue day plus the payment deferment (``payment_days``) of the client's contract the invoice
names (``contract_number``), else of the client's newest active contract (latest start, then
signing, day), else plus ``DEFAULT_PAYMENT_DAYS`` (10) days.

**Settlement** (``settle``), recomputed from scratch for every client whose invoices or
payments change: a client's incoming payments (``Payment.direction == "in"``, matched to it),
oldest first, pay its invoices in two passes.

1. A payment whose purpose names invoices of the client («Оплата по счету № 123 от
   01.02.2026», «сч. 123», «счёт №А-15», «по счетам 12, 13») pays those first, up to what
   each still owes. A number matches case-insensitively, and «123» matches «00123» and
   «ТД-00123» (1C pads its numbers); with a date («от 01.02.2026») the invoice of that day
   is preferred among invoices of one number.
2. What is left of every payment then pays the oldest unpaid invoices first (by issue day,
   then number), whatever their day: money paid in advance pays the invoices issued later.

``paid_amount`` never exceeds the amount; ``paid_on`` is the day of the latest payment that
went into a fully paid invoice (None while anything is owed). What is paid beyond every
invoice (an overpayment or an advance) is unused credit: it is not stored, it pays the next
invoice when one arrives. Outgoing payments (refunds) and payments nobody matched settle
nothing.

**Receivables.** Each client with open invoices (not fully paid) has one ``Receivable`` row:
its open invoices oldest first (``{"id", "number", "issued_on", "due_on", "amount", "paid"}``,
ISO days, money as decimal strings) and ``owed``, the sum outstanding. A client that owes
nothing has none. Rows are written through the ORM as ``crm.trade.refresh_summaries``
writes the sales summaries, so the change log carries them to the laptops; nobody writes
them by hand (``crm.access``). ``crm.receivables.receivables`` reads only these rows, so a
laptop answers what the server answers.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlmodel import Session, col

from crm import records, trade
from crm.errors import PermissionDenied, ValidationFailed
from crm.importing import MAX_DETAILS, RowError, _date, _Field
from crm.models import Counterparty, Payment, User
from crm.models.base import utcnow
from crm.models.enums import ContractStatus
from crm.models.trade import Contract, Invoice, Receivable

log = logging.getLogger(__name__)

# An invoice's deferment when neither 1C nor a contract gives one, days.
DEFAULT_PAYMENT_DAYS = 10
ZERO = Decimal("0.00")
CENT = Decimal("0.01")


@dataclass
class InvoiceRow:
    number: str
    issued_on: date
    counterparty_id: str
    amount: Decimal
    due_on: date | None = None  # None: the default rule (the module's docstring)
    salesperson_id: str | None = None
    contract_number: str | None = None


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# ----------------------------------------------------------------------------- storing


def _check_rows(rows: list[InvoiceRow]) -> None:
    problems: list[str] = []
    for n, row in enumerate(rows, 1):
        if not (row.number or "").strip():
            problems.append(f"invoice {n}: no number")
        elif len(row.number.strip()) > 60:
            problems.append(f"invoice {n}: the number is longer than 60 characters")
        if not isinstance(row.amount, Decimal) or not row.amount.is_finite():
            problems.append(f"invoice {n}: the amount is not a number")
        elif row.amount < 0 or row.amount >= trade.MAX_AMOUNT:
            problems.append(f"invoice {n}: the amount must be from 0 to under 10 000 000 000 000")
        elif row.amount != row.amount.quantize(CENT):
            problems.append(f"invoice {n}: the amount has more than two decimals (kopecks)")
        if row.due_on is not None and row.due_on < row.issued_on:
            problems.append(f"invoice {n}: due before it was issued")
        if row.contract_number is not None and len(row.contract_number) > 60:
            problems.append(f"invoice {n}: the contract's number is longer than 60 characters")
    if problems:
        raise ValidationFailed(
            f"{len(problems)} problems with the invoices; nothing was stored",
            details=problems[:MAX_DETAILS],
        )


def _deferments(
    session: Session, counterparty_ids: Iterable[str]
) -> dict[str, list[tuple[str, str, date | None, date | None, int | None]]]:
    """Each client's contracts: (number, status, starts_on, signed_on, payment_days)."""
    out: dict[str, list[tuple[str, str, date | None, date | None, int | None]]] = defaultdict(list)
    ids = sorted(set(counterparty_ids))
    for start in range(0, len(ids), 500):
        for cp, number, status, starts, signed, days in session.execute(
            select(
                col(Contract.counterparty_id),
                col(Contract.number),
                col(Contract.status),
                col(Contract.starts_on),
                col(Contract.signed_on),
                col(Contract.payment_days),
            ).where(col(Contract.counterparty_id).in_(ids[start : start + 500]))
        ):
            out[cp].append(
                (
                    number,
                    status,
                    None if starts is None else _day(starts),
                    None if signed is None else _day(signed),
                    days,
                )
            )
    return out


def due_day(
    issued_on: date,
    contract_number: str | None,
    contracts: list[tuple[str, str, date | None, date | None, int | None]],
) -> date:
    """The due day of an invoice 1C gave none (the module's rule)."""
    days: int | None = None
    named = [c for c in contracts if contract_number and c[0] == contract_number.strip()]
    if named:
        days = named[0][4]
    else:
        active = [c for c in contracts if c[1] == ContractStatus.ACTIVE.value]
        if active:
            newest = max(active, key=lambda c: (c[2] or date.min, c[3] or date.min, c[0]))
            days = newest[4]
    return issued_on + timedelta(days=DEFAULT_PAYMENT_DAYS if days is None else days)


def _stored(session: Session, keys: list[tuple[str, date, str]]) -> set[tuple[str, date, str]]:
    """Which of these (number, day, client) are stored already."""
    stored: set[tuple[str, date, str]] = set()
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        stored.update(
            (n, _day(d), c)
            for n, d, c in session.execute(
                select(
                    col(Invoice.number), col(Invoice.issued_on), col(Invoice.counterparty_id)
                ).where(
                    tuple_(
                        col(Invoice.number), col(Invoice.issued_on), col(Invoice.counterparty_id)
                    ).in_(chunk)
                )
            )
        )
    return stored


def store_invoices(session: Session, actor: User, rows: list[InvoiceRow]) -> tuple[int, int]:
    """(created, skipped as stored already); settles and refreshes the receivables of every client
    touched.

    Only the office and administrators store invoices, and only for clients they see
    (``PermissionDenied`` otherwise); a row that breaks the rules (no number, a negative amount,
    due before issued) is ``ValidationFailed``. Nothing is stored unless every row is right. Two
    rows of one invoice (same number, day and client) store the first.
    """
    trade._may_import(actor, "invoices")
    _check_rows(rows)
    ids = sorted({r.counterparty_id for r in rows})
    rt = records.record_type("counterparties")
    seen: set[str] = set()
    for start in range(0, len(ids), 500):
        seen.update(
            session.execute(
                select(col(Counterparty.id)).where(
                    col(Counterparty.id).in_(ids[start : start + 500]),
                    records.visible(rt, actor),
                )
            ).scalars()
        )
    unseen = [i for i in ids if i not in seen]
    if unseen:
        raise PermissionDenied(
            f"you see no counterparty {', '.join(unseen[:5])}"
            + (f" (and {len(unseen) - 5} more)" if len(unseen) > 5 else "")
            + "; nothing was stored"
        )
    wanted: dict[tuple[str, date, str], InvoiceRow] = {}
    for row in rows:
        wanted.setdefault((row.number.strip(), row.issued_on, row.counterparty_id), row)
    stored = _stored(session, list(wanted))
    new = [(k, r) for k, r in wanted.items() if k not in stored]
    contracts = _deferments(session, {k[2] for k, r in new if r.due_on is None})
    for (number, issued_on, cp), row in new:
        session.add(
            Invoice(
                number=number,
                issued_on=issued_on,
                counterparty_id=cp,
                salesperson_id=row.salesperson_id,
                amount=row.amount,
                due_on=row.due_on or due_day(issued_on, row.contract_number, contracts.get(cp, [])),
                contract_number=(row.contract_number or "").strip() or None,
                created_by=actor.id,
                updated_by=actor.id,
            )
        )
    session.flush()
    settle(session, {k[2] for k, _ in new})
    skipped = len(rows) - len(new)
    log.info("invoices: %d stored, %d stored already", len(new), skipped)
    return len(new), skipped


# ----------------------------------------------------------------------------- import from 1C

INVOICE_FIELDS = (
    _Field("number", ("Номер", "Номер документа", "Номер счета", "Документ", "number")),
    _Field("date", ("Дата", "Дата документа", "Дата счета", "date")),
    *(f for f in trade.SALE_FIELDS if f.name in ("inn", "kpp", "counterparty")),
    _Field("amount", ("Сумма", "Сумма документа", "Сумма счета", "Сумма к оплате", "amount")),
    _Field("due_on", ("Срок оплаты", "Оплатить до", "Оплата до", "Крайний срок оплаты", "due_on")),
    _Field("contract", ("Договор", "Договор контрагента", "Договор с контрагентом", "contract")),
    _Field(
        "salesperson", ("Ответственный", "Менеджер", "Основной менеджер", "Автор", "salesperson")
    ),
)


@dataclass
class InvoicesReport:
    total: int = 0  # rows that hold anything
    created: int = 0  # invoices stored
    skipped: int = 0  # stored already (an export imported again)
    errors: list[RowError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # columns of the file no invoice needs


def _issued_on(text: str) -> date:
    day = _date(text)
    if not trade.FIRST_SALE <= day <= date.today() + timedelta(days=366):
        raise ValueError(
            f"{text!r} is not an invoice's date: between {trade.FIRST_SALE:%d.%m.%Y} and a year "
            "from today"
        )
    return day


def _invoice_amount(text: str) -> Decimal:
    value = trade._amount(text)
    if value < 0:
        raise ValueError(f"{text!r}: an invoice's amount is not negative")
    return value


def _contract_number(text: str) -> str:
    """«Договор № 15/2026 от 01.01.2026» → «15/2026»; a contract without a number stays whole."""
    found = re.search(r"№\s*(\S+)", text)
    return (found.group(1) if found else text).strip()[:60]


def import_invoices(
    session: Session,
    actor: User,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    progress: trade.Progress | None = None,
) -> InvoicesReport:
    """Store the invoices of a 1C export (XLSX or CSV, windows-1251 or UTF-8); all or nothing.

    Columns are found by their headers (``INVOICE_FIELDS``: Номер, Дата, ИНН, КПП, Контрагент,
    Сумма, Срок оплаты / Оплатить до, Договор, Ответственный / Менеджер; any case and spacing);
    ``mapping`` names others: {header in the file: field}, the fields being number, date, inn,
    kpp, counterparty, amount, due_on, contract, salesperson. Rows of one invoice (its lines)
    are summed. The client is found as a sale's is (``crm.trade``), among the counterparties
    ``actor`` sees. Raises ``ImportFailed`` listing every bad row; ``dry_run`` returns the report
    with its errors and writes nothing. An invoice stored already is skipped.
    """
    trade._may_import(actor, "invoices")
    sheet = trade.read_export(
        path,
        INVOICE_FIELDS,
        mapping,
        [("number",), ("date",), ("inn", "counterparty"), ("amount",)],
    )
    report = InvoicesReport(total=len(sheet.rows), ignored=sheet.ignored)
    parties = trade.Parties(session, actor)
    found: dict[tuple[str, date, str], InvoiceRow] = {}
    for done, (number, cells) in enumerate(sheet.rows, 1):
        problems: list[tuple[str | None, str]] = []
        values: dict[str, Any] = {}
        sheet.parse(
            cells,
            (
                ("number", lambda t: t.strip()[:60], True),
                ("date", _issued_on, True),
                ("amount", _invoice_amount, True),
                ("due_on", _date, False),
                ("contract", _contract_number, False),
            ),
            values,
            problems,
        )
        if "date" in values and values.get("due_on") and values["due_on"] < values["date"]:
            due = sheet.cell(cells, "due_on")
            problems.append((due[0] if due else None, "is before the invoice's date"))
        parties.find(sheet, cells, values, problems)
        report.errors += [RowError(number, column, message) for column, message in problems]
        if not problems:
            key = (values["number"], values["date"], values["counterparty_id"])
            row = found.get(key)
            if row is None:
                found[key] = InvoiceRow(
                    number=values["number"],
                    issued_on=values["date"],
                    counterparty_id=values["counterparty_id"],
                    amount=values["amount"],
                    due_on=values.get("due_on"),
                    salesperson_id=values.get("salesperson_id"),
                    contract_number=values.get("contract") or None,
                )
            else:  # another line of the same invoice
                row.amount += values["amount"]
        if progress and (done % 500 == 0 or done == len(sheet.rows)):
            progress(done, len(sheet.rows))
    if report.errors and dry_run:
        return report
    trade.refuse(report.errors, report.total)
    if dry_run:
        report.skipped = len(_stored(session, list(found)))
        report.created = len(found) - report.skipped
        return report
    report.created, report.skipped = store_invoices(session, actor, list(found.values()))
    log.info(
        "invoices import: %d rows, %d invoices stored, %d already there",
        report.total,
        report.created,
        report.skipped,
    )
    return report


# ----------------------------------------------------------------------------- settlement

# «счет № 12», «счёту №А-15», «сч. 123», «сч.№45», «по счетам 12, 13 от 01.02.2026»; not
# «счет-фактура», nor «расчет».
_ITEM = (
    r"(?:№|N|No\.?|#)?\s*[0-9a-zа-яё][0-9a-zа-яё/\-]*"
    r"(?:\s*от\s*\d{1,2}\.\d{1,2}\.\d{2,4})?"
)
_NAMED = re.compile(
    rf"(?<![а-яё])(?:сч[её]т[а-яё]*|сч\.?)(?![а-яё\-])\s*(?:на\s+оплату\s*)?"
    rf"({_ITEM}(?:\s*(?:,|;|\sи\s)\s*{_ITEM})*)",
    re.IGNORECASE,
)
_ONE = re.compile(
    r"(?:№|N|No\.?|#)?\s*([0-9a-zа-яё][0-9a-zа-яё/\-]*)(?:\s*от\s*(\d{1,2})\.(\d{1,2})\.(\d{2,4}))?",
    re.IGNORECASE,
)


def named_invoices(purpose: str) -> list[tuple[str, date | None]]:
    """The invoice numbers (with their day, if given) a payment's purpose names, in its order."""
    out: list[tuple[str, date | None]] = []
    for found in _NAMED.finditer(purpose or ""):
        for one in _ONE.finditer(found.group(1)):
            number = one.group(1).strip("-/")
            if not any(ch.isdigit() for ch in number):
                continue
            day: date | None = None
            if one.group(2):
                year = int(one.group(4))
                year += 2000 if year < 100 else 0
                try:
                    day = date(year, int(one.group(3)), int(one.group(2)))
                except ValueError:
                    day = None
            out.append((number, day))
    return out


def _number_keys(number: str) -> set[str]:
    """What a purpose may call an invoice: its number folded, and its last digits unpadded."""
    folded = number.strip().casefold()
    keys = {folded}
    digits = re.search(r"(\d+)$", folded)
    if digits:
        keys.add(digits.group(1).lstrip("0") or "0")
    return keys


@dataclass
class Open:
    """An invoice as settlement works on it: what it is, what its payments paid of it so far."""

    id: str
    number: str
    issued_on: date
    due_on: date
    amount: Decimal
    paid: Decimal = ZERO
    last_day: date | None = None  # the latest payment that went into it

    @property
    def owes(self) -> Decimal:
        return self.amount - self.paid

    @property
    def paid_on(self) -> date | None:
        """The day it was paid in full (None while anything is owed)."""
        return self.last_day if self.owes <= 0 else None


def receivable_of(settled: list[Open]) -> tuple[list[dict[str, Any]], Decimal]:
    """A client's ``Receivable`` (its open invoices as stored, and what it owes) from its settled
    invoices, oldest first."""
    entries = [
        {
            "id": i.id,
            "number": i.number,
            "issued_on": i.issued_on.isoformat(),
            "due_on": i.due_on.isoformat(),
            "amount": str(i.amount),
            "paid": str(i.paid),
        }
        for i in settled
        if i.owes > 0
    ]
    return entries, sum((i.owes for i in settled if i.owes > 0), ZERO)


def _pay(invoice: Open, left: Decimal, day: date) -> Decimal:
    part = min(left, invoice.owes)
    if part > 0:
        invoice.paid += part
        invoice.last_day = max(invoice.last_day or day, day)
    return left - part


def settle_one(invoices: list[Open], payments: list[tuple[date, str, Decimal, str]]) -> list[Open]:
    """Settle one client's invoices by its payments (day, number, amount, purpose): the module's
    two passes. ``invoices`` are changed in place and returned oldest first."""
    invoices.sort(key=lambda i: (i.issued_on, i.number, i.id))
    by_key: dict[str, list[Open]] = defaultdict(list)
    for inv in invoices:
        for key in _number_keys(inv.number):
            by_key[key].append(inv)
    left: list[tuple[date, Decimal]] = []
    for day, _number, amount, purpose in sorted(payments, key=lambda p: (p[0], p[1])):
        rest = amount
        for number, named_day in named_invoices(purpose):
            pool: list[Open] = []
            for key in (number.casefold(), *_number_keys(number)):
                pool = by_key.get(key, [])
                if pool:
                    break
            if named_day is not None and any(i.issued_on == named_day for i in pool):
                pool = [i for i in pool if i.issued_on == named_day]
            for inv in pool:
                if rest <= 0:
                    break
                rest = _pay(inv, rest, day)
        left.append((day, rest))
    for day, rest in left:
        for inv in invoices:
            if rest <= 0:
                break
            rest = _pay(inv, rest, day)
    return invoices


def settle(session: Session, counterparty_ids: Iterable[str]) -> int:
    """Settle these clients' invoices by their payments and rewrite their receivables (the
    module's rules); how many receivables changed."""
    ids = sorted(set(counterparty_ids))
    changed = 0
    now = utcnow()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        invoices: dict[str, list[Invoice]] = defaultdict(list)
        for inv in session.execute(
            select(Invoice).where(col(Invoice.counterparty_id).in_(chunk))
        ).scalars():
            invoices[inv.counterparty_id].append(inv)
        stored = {
            r.counterparty_id: r
            for r in session.execute(
                select(Receivable).where(col(Receivable.counterparty_id).in_(chunk))
            ).scalars()
        }
        # A client with no invoices and no receivable has nothing to settle: its payments are not
        # read (a bank statement of thousands of clients the company does not invoice stays quick).
        billed = sorted(set(invoices) | set(stored))
        payments: dict[str, list[tuple[date, str, Decimal, str]]] = defaultdict(list)
        for cp, day, number, amount, purpose in (
            session.execute(
                select(
                    col(Payment.counterparty_id),
                    col(Payment.paid_on),
                    col(Payment.number),
                    col(Payment.amount),
                    col(Payment.purpose),
                ).where(col(Payment.counterparty_id).in_(billed), col(Payment.direction) == "in")
            )
            if billed
            else ()
        ):
            payments[cp].append((_day(day), number, _money(amount), purpose or ""))
        for cp in billed:
            rows = {inv.id: inv for inv in invoices.get(cp, [])}
            settled = settle_one(
                [
                    Open(i.id, i.number, _day(i.issued_on), _day(i.due_on), _money(i.amount))
                    for i in rows.values()
                ],
                payments.get(cp, []),
            )
            for s in settled:
                inv = rows[s.id]
                if (_money(inv.paid_amount), inv.paid_on) != (s.paid, s.paid_on):
                    inv.paid_amount, inv.paid_on = s.paid, s.paid_on
                    inv.version += 1
                    inv.updated_at = now
            open_, owed = receivable_of(settled)
            receivable = stored.get(cp)
            if receivable is None and open_:
                session.add(Receivable(counterparty_id=cp, invoices=open_, owed=owed))
            elif receivable is not None and not open_:
                records.remove(session, receivable)  # owes nothing
            elif receivable is not None and (
                receivable.invoices != open_ or _money(receivable.owed) != owed
            ):
                receivable.invoices, receivable.owed = open_, owed
                receivable.version += 1
                receivable.updated_at = now
            else:
                continue
            changed += 1
    session.flush()
    return changed


__all__ = [
    "DEFAULT_PAYMENT_DAYS",
    "INVOICE_FIELDS",
    "InvoiceRow",
    "InvoicesReport",
    "Open",
    "import_invoices",
    "named_invoices",
    "receivable_of",
    "settle",
    "settle_one",
    "store_invoices",
]
