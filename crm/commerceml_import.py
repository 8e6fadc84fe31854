"""Importing 1C's CommerceML 2 documents: shipments as sales, invoices for payment as invoices.

``crm.commerceml`` reads the file; this stores what it read, as the spreadsheet imports do
(``crm.trade.store_sales``, ``crm.invoices.store_invoices``). All or nothing: a document whose
client is not found among the counterparties the importer sees (by ИНН, КПП among branches,
else exact name), whose salesperson is no user (by login or full name), whose date is no
shipment's or invoice's, or that the file itself gets wrong makes the whole file refused, with
every problem listed by the document's number and line. A sale or invoice stored already (same
number, day, client and, for a sale, product group) is skipped, so importing the file again, or
an overlapping one, adds nothing. Only the office and the administrators import.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlmodel import Session, col

from crm import commerceml, invoices, trade, validation
from crm.commerceml import Document, DocumentError, Skipped
from crm.errors import ImportFailed
from crm.importing import MAX_DETAILS, _find_user
from crm.models import User
from crm.models.trade import Invoice

log = logging.getLogger(__name__)


@dataclass
class CommerceMLReport:
    """What an import did (with ``dry_run``: would do); ``errors`` only with ``dry_run``."""

    documents: int = 0  # Документ elements read
    sales_created: int = 0  # sales stored: one per document and product group
    sales_skipped: int = 0  # stored already
    invoices_created: int = 0
    invoices_skipped: int = 0  # stored already
    months: int = 0  # clients' sales summaries rewritten
    skipped: list[Skipped] = field(default_factory=list)  # documents not imported, and why
    errors: list[DocumentError] = field(default_factory=list)

    def skipped_by_kind(self) -> list[tuple[str, str, int]]:
        """(ХозОперация, reason, how many) of the documents skipped, the most first."""
        counts = Counter((s.operation or "?", s.reason) for s in self.skipped)
        return [(op, why, n) for (op, why), n in counts.most_common()]


def _stored_invoices(
    session: Session, keys: list[tuple[str, date, str]]
) -> set[tuple[str, date, str]]:
    """Which of these invoices (number, day, client) are stored already (a dry run's count)."""
    stored: set[tuple[str, date, str]] = set()
    for start in range(0, len(keys), 300):
        stored.update(
            (number, trade._as_date(day), cp)
            for number, day, cp in session.execute(
                select(
                    col(Invoice.number), col(Invoice.issued_on), col(Invoice.counterparty_id)
                ).where(
                    tuple_(
                        col(Invoice.number), col(Invoice.issued_on), col(Invoice.counterparty_id)
                    ).in_(keys[start : start + 300])
                )
            )
        )
    return stored


def _day(day: date, what: str) -> None:
    if not trade.FIRST_SALE <= day <= date.today() + timedelta(days=366):
        raise ValueError(
            f"{day:%d.%m.%Y} is not {what}'s date: between {trade.FIRST_SALE:%d.%m.%Y} and a "
            "year from today"
        )


class _Resolver:
    """The client and salesperson of each document, among what the importer sees."""

    def __init__(self, session: Session, actor: User) -> None:
        self.session = session
        self.clients = trade._Clients(session, actor)
        self.users: list[User] | None = None

    def client(self, doc: Document) -> str:
        buyer = doc.buyer
        inn = validation.validate_inn(buyer.inn) if buyer.inn else None
        if inn:
            return self.clients.find(inn, buyer.kpp or None, None)
        names = buyer.names
        if not names:
            raise ValueError("its client (Контрагент) has neither an ИНН nor a name")
        refusals: list[ValueError] = []
        for name in names:  # Наименование, then ПолноеНаименование
            try:
                return self.clients.find(None, None, name)
            except ValueError as exc:
                refusals.append(exc)
        raise refusals[0]

    def salesperson(self, text: str) -> str:
        if self.users is None:
            self.users = list(self.session.execute(select(User)).scalars())
        return _find_user(self.users, text).id


def import_commerceml(
    session: Session,
    actor: User,
    path: Path,
    *,
    dry_run: bool = False,
    progress: trade.Progress | None = None,
) -> CommerceMLReport:
    """Store the shipments and invoices of a CommerceML file (see the module); all or nothing.

    Raises ``ImportFailed`` listing every bad document (``CommerceMLError``, one of them, for a
    file that is not CommerceML or declares a DTD); ``dry_run`` returns the report with its
    errors and writes nothing.
    """
    trade._may_import(actor, "sales and invoices")
    package = commerceml.read(path)
    report = CommerceMLReport(documents=package.read, skipped=package.skipped)
    errors = list(package.errors)
    resolver = _Resolver(session, actor)
    sales: list[trade.SaleRow] = []
    bills: list[invoices.InvoiceRow] = []
    bill_lines: dict[tuple[str, date, str], int] = {}
    total = len(package.documents)
    for done, doc in enumerate(package.documents, 1):
        problems: list[str] = []
        what = "a shipment" if doc.kind == commerceml.SHIPMENT else "an invoice"
        try:
            _day(doc.date, what)
        except ValueError as exc:
            problems.append(f"Дата: {exc}")
        client: str | None = None
        try:
            client = resolver.client(doc)
        except ValueError as exc:
            problems.append(str(exc))
        salesperson: str | None = None
        if doc.salesperson:
            try:
                salesperson = resolver.salesperson(doc.salesperson)
            except ValueError as exc:
                problems.append(f"«Ответственный»: {exc}")
        if doc.kind == commerceml.INVOICE:
            if doc.total < 0:
                problems.append(f"its Сумма {doc.total} is negative: an invoice's is not")
            if doc.due_on is not None and doc.due_on < doc.date:
                problems.append(f"it is due ({doc.due_on:%d.%m.%Y}) before it was issued")
            if client is not None:
                key = (doc.number, doc.date, client)
                if key in bill_lines:
                    problems.append(
                        f"the invoice at line {bill_lines[key]} has its number, day and client"
                    )
                bill_lines.setdefault(key, doc.line)
        errors += [DocumentError(doc.line, doc.number, p, doc.line) for p in problems]
        if not problems and client is not None:
            if doc.kind == commerceml.SHIPMENT:
                sales += [
                    trade.SaleRow(
                        number=doc.number,
                        sold_on=doc.date,
                        counterparty_id=client,
                        revenue=amount,
                        salesperson_id=salesperson,
                        product_group=group,
                    )
                    for group, amount in doc.groups.items()
                ]
            else:
                bills.append(
                    invoices.InvoiceRow(
                        number=doc.number,
                        issued_on=doc.date,
                        counterparty_id=client,
                        amount=doc.total,
                        due_on=doc.due_on,
                        salesperson_id=salesperson,
                        contract_number=doc.contract,
                    )
                )
        if progress and (done % 500 == 0 or done == total):
            progress(done, total)
    if errors:
        errors.sort(key=lambda e: e.line)
        if dry_run:
            report.errors = errors
            return report
        bad = len({e.document for e in errors})
        details = [str(e) for e in errors[:MAX_DETAILS]]
        if len(errors) > MAX_DETAILS:
            details.append(f"… and {len(errors) - MAX_DETAILS} more")
        raise ImportFailed(
            f"{bad} of {report.documents} documents have errors; nothing was imported",
            details=details,
        )
    report.sales_created, report.sales_skipped, report.months = trade.store_sales(
        session, actor, sales, dry_run=dry_run
    )
    if dry_run:
        stored = _stored_invoices(session, list(bill_lines))
        report.invoices_skipped = len(stored)
        report.invoices_created = len(bills) - len(stored)
        return report
    if bills:
        report.invoices_created, report.invoices_skipped = invoices.store_invoices(
            session, actor, bills
        )
    log.info(
        "CommerceML import: %d documents, %d sales stored (%d already there), %d invoices "
        "stored (%d already there), %d skipped",
        report.documents,
        report.sales_created,
        report.sales_skipped,
        report.invoices_created,
        report.invoices_skipped,
        len(report.skipped),
    )
    return report


__all__ = ["CommerceMLReport", "import_commerceml"]
