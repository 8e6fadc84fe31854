"""Sales and payments coming in from 1C and the bank, the summaries kept from them, and the
classifications stored (issue 14).

**Sales imports** (``import_sales``) read the spreadsheets 1C exports of its shipment
documents (XLSX or CSV, windows-1251 or UTF-8; columns found by their Russian or English
headers, or named with ``mapping``). One row is a document or its line for a product group;
rows of one document and group are summed. The client is found by INN (and KPP among
branches) or by its exact name, among the counterparties the importer sees; the salesperson
by login or full name. All or nothing: every bad row is listed and nothing is written. A
sale already stored (same number, date, client and group) is skipped, so importing an
export again, or an overlapping one, adds nothing. ``store_sales`` is that storing, once every
row is known good; 1C's CommerceML shipments go through it too (``crm.commerceml_import``).

**Bank statements** (``import_statement``) come in 1C's ``1CClientBankExchange`` format
(``crm.bank``). Every well-formed document is kept once (its key), matched to the
counterparty whose INN (and KPP among branches) pays or is paid; unmatched ones are kept
and listed for matching later (``match_payments`` tries again after new counterparties
arrive). A statement with a broken document imports nothing and lists every problem. The
clients whose incoming payments arrive or are matched have their invoices settled anew
(``crm.invoices.settle``).

The pieces of an import of a 1C export — ``read_export`` (columns found by headers or a
mapping), ``Sheet.parse``, ``Parties`` (the client and the salesperson of a row) and ``refuse``
(every bad row listed) — serve the invoices import (``crm.invoices``) too.

**Sales summaries** (``refresh_summaries``) are rewritten from the sales of the clients whose
sales changed, through the ORM, so the change log carries them to the laptops.

Only the office and the administrators import (the documents are the company's books, not
one salesperson's); what they import is checked against what they see like any other write.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlmodel import Session, col

from crm import analytics, bank, records, validation
from crm.errors import ImportFailed, PermissionDenied
from crm.importing import (
    MAX_DETAILS,
    RowError,
    _date,
    _Field,
    _find_user,
    _key,
    _map_headers,
    _tax_number,
)
from crm.models import (
    ClassMark,
    ClassRun,
    Counterparty,
    Payment,
    Sale,
    SalesSummary,
    User,
    new_id,
)
from crm.models.base import utcnow
from crm.models.enums import Role
from crm.tabular import formula_cells, read_table

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
IMPORTERS = (Role.ADMIN, Role.OFFICE)
# What a sale's amount and date may be (REST's bounds for money; a company's history).
MAX_AMOUNT = Decimal("1e13")
FIRST_SALE = date(1990, 1, 1)


def _may_import(actor: User, what: str) -> None:
    if actor.role not in IMPORTERS:
        raise PermissionDenied(f"only the office and administrators import {what}")


# ----------------------------------------------------------------------------- sales summaries


def summary_of(
    sales: Iterable[tuple[date, str, Decimal, Decimal | None]],
) -> tuple[list[str], str]:
    """A client's ``SalesSummary`` (groups, months) from its sales: (day, group, revenue, cost)
    each. Amounts are summed in whole kopecks; a month's cost stays unknown if any sale's is."""
    totals: dict[tuple[str, str], list[Any]] = {}
    for day, group, revenue, cost in sales:
        row = totals.setdefault((day.isoformat()[:7], group), [0, 0, 0, day])
        row[0] += int(revenue * 100)
        row[1] = None if cost is None or row[1] is None else row[1] + int(cost * 100)
        row[2] += 1
        row[3] = max(row[3], day)
    groups = sorted({group for _, group in totals})
    index = {g: i for i, g in enumerate(groups)}
    months = ";".join(
        f"{month},{index[group]},{r[0]},{'' if r[1] is None else r[1]},{r[2]},{r[3].day}"
        for (month, group), r in sorted(totals.items())
    )
    return groups, months


def refresh_summaries(session: Session, counterparty_ids: Iterable[str]) -> int:
    """Rewrite the sales summaries of these counterparties from their sales; summaries changed."""
    ids = sorted(set(counterparty_ids))
    changed = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sales: dict[str, list[tuple[date, str, Decimal, Decimal | None]]] = defaultdict(list)
        for cp, sold_on, group, revenue, cost in session.execute(
            select(
                col(Sale.counterparty_id),
                col(Sale.sold_on),
                col(Sale.product_group),
                col(Sale.revenue),
                col(Sale.cost),
            ).where(col(Sale.counterparty_id).in_(chunk))
        ):
            sales[cp].append((_as_date(sold_on), group, Decimal(revenue), cost))
        stored = {
            s.counterparty_id: s
            for s in session.execute(
                select(SalesSummary).where(col(SalesSummary.counterparty_id).in_(chunk))
            ).scalars()
        }
        for cp in chunk:
            groups, months = summary_of(sales.get(cp, []))
            summary = stored.get(cp)
            if summary is None and months:
                session.add(SalesSummary(counterparty_id=cp, groups=groups, months=months))
            elif summary is not None and not months:
                records.remove(session, summary)  # no sales left
            elif summary is not None and (summary.groups, summary.months) != (groups, months):
                summary.groups, summary.months = groups, months
                summary.version += 1
                summary.updated_at = utcnow()
            else:
                continue
            changed += 1
    session.flush()
    return changed


# ----------------------------------------------------------------------------- sales import

SALE_FIELDS = (
    _Field("number", ("Номер", "Номер документа", "Документ", "number")),
    _Field("date", ("Дата", "Дата документа", "Дата отгрузки", "date")),
    _Field("inn", ("ИНН", "ИНН контрагента", "ИНН покупателя", "inn")),
    _Field("kpp", ("КПП", "КПП контрагента", "КПП покупателя", "kpp")),
    _Field(
        "counterparty",
        ("Контрагент", "Покупатель", "Клиент", "Наименование контрагента", "counterparty"),
    ),
    _Field(
        "salesperson", ("Менеджер", "Ответственный", "Основной менеджер", "Продавец", "salesperson")
    ),
    _Field("revenue", ("Сумма", "Выручка", "Сумма продажи", "Сумма документа", "revenue")),
    _Field("cost", ("Себестоимость", "Себестоимость продаж", "cost")),
    _Field(
        "product_group",
        ("Номенклатурная группа", "Группа товаров", "Товарная группа", "Группа", "product_group"),
    ),
)


@dataclass
class SalesReport:
    total: int = 0  # rows that hold anything
    created: int = 0  # sales stored
    skipped: int = 0  # stored already (an export imported again)
    months: int = 0  # clients' sales summaries rewritten
    errors: list[RowError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # columns of the file no sale needs


def _amount(text: str) -> Decimal:
    cleaned = "".join(text.replace("\u00a0", " ").split()).replace(",", ".")
    if not validation.is_plain_number(cleaned):
        # "1e5", "1,23457E+11" (a cell Excel showed in scientific form): not what 1C writes, and a
        # rounded figure would be stored as if it were the sum.
        raise ValueError(f"{text!r} is not an amount (digits, a comma or point, two decimals)")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not an amount")
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{text!r} is more than a sale can be (under 10 000 000 000 000)")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} has more than two decimals (kopecks)")
    return value.quantize(Decimal("0.01"))


def _sold_on(text: str) -> date:
    day = _date(text)
    if not FIRST_SALE <= day <= date.today() + timedelta(days=366):
        raise ValueError(
            f"{text!r} is not a shipment's date: between {FIRST_SALE:%d.%m.%Y} and a year from today"
        )
    return day


class _Clients:
    """Counterparties the importer sees, found by INN (+ KPP) or exact name."""

    def __init__(self, session: Session, actor: User) -> None:
        rt = records.record_type("counterparties")
        self.by_inn: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        self.by_name: dict[str, list[str]] = defaultdict(list)
        rows = session.execute(
            select(
                col(Counterparty.id),
                col(Counterparty.inn),
                col(Counterparty.kpp),
                col(Counterparty.legal_name),
                col(Counterparty.short_name),
            ).where(records.visible(rt, actor))
        )
        for cp, inn, kpp, legal, short in rows:
            if inn:
                self.by_inn[inn].append((cp, kpp or None))
            for name in {legal, short} - {None, ""}:
                self.by_name[validation.fold_text(name)].append(cp)

    def find(self, inn: str | None, kpp: str | None, name: str | None) -> str:
        if inn:
            found = self.by_inn.get(inn, [])
            if kpp:
                # A KPP tells a branch from the head office; one that none of them has is an error,
                # not a match by the INN alone (a counterparty stored without a KPP matches any).
                found = [f for f in found if f[1] in (kpp, None)]
            if len(found) == 1:
                return found[0][0]
            if found:
                raise ValueError(f"several counterparties have ИНН {inn}; give the КПП")
            raise ValueError(f"no counterparty with ИНН {inn}" + (f", КПП {kpp}" if kpp else ""))
        if name:
            ids = sorted(set(self.by_name.get(validation.fold_text(name), [])))
            if len(ids) == 1:
                return ids[0]
            raise ValueError(
                f"several counterparties are named {name!r}; give the ИНН"
                if ids
                else f"no counterparty named {name!r}"
            )
        raise ValueError("the row names no counterparty (ИНН or name)")


def with_mapping(
    fields: tuple[_Field, ...], mapping: Mapping[str, str] | None
) -> tuple[_Field, ...]:
    """``fields`` with the headers ``mapping`` names ({header in the file: field}) as aliases."""
    if not mapping:
        return fields
    known = {f.name for f in fields}
    bad = sorted(set(mapping.values()) - known)
    if bad:
        raise ImportFailed(
            f"unknown field(s) in the mapping: {', '.join(bad)}; known: {', '.join(sorted(known))}"
        )
    return tuple(
        _Field(f.name, (*f.aliases, *(h for h, n in mapping.items() if n == f.name)))
        for f in fields
    )


@dataclass
class Sheet:
    """A 1C export as read: its headers, the rows that hold anything (as Excel numbers them),
    which columns hold each field, and the columns no field needs."""

    headers: list[str]
    rows: list[tuple[int, list[str]]]
    columns: dict[str, list[int]]
    ignored: list[str]
    path: Path | None = None  # read again only to tell an empty cell from a formula's
    _formulas: set[tuple[int, int]] | None = field(default=None, repr=False)

    def formula_at(self, row: int, name: str) -> bool:
        """Whether the field's cell of row ``row`` is a formula with no computed value kept."""
        if self.path is None:
            return False
        if self._formulas is None:
            self._formulas = formula_cells(self.path)
        return any((row, i) in self._formulas for i in self.columns.get(name, []))

    def cell(self, cells: list[str], name: str) -> tuple[str, str] | None:
        """(header, text) of the field's first non-empty cell in the row."""
        for i in self.columns.get(name, []):
            if cells[i]:
                return self.headers[i], cells[i]
        return None

    def parse(
        self,
        cells: list[str],
        parsers: Iterable[tuple[str, Callable[[str], Any], bool]],
        values: dict[str, Any],
        problems: list[tuple[str | None, str]],
        row: int | None = None,
    ) -> None:
        """Parse the fields named (name, parser, required) into ``values``; problems listed.
        ``row`` (its number) tells an empty required cell from a formula without its value."""
        for name, parse, required in parsers:
            got = self.cell(cells, name)
            if got is None:
                if required:
                    problems.append(
                        (
                            self.headers[self.columns[name][0]],
                            FORMULA_WITHOUT_VALUE
                            if row is not None and self.formula_at(row, name)
                            else "is empty",
                        )
                    )
                continue
            try:
                values[name] = parse(got[1])
            except ValueError as exc:
                problems.append((got[0], str(exc)))


FORMULA_WITHOUT_VALUE = (
    "is a formula without a computed value: open and save the file in Excel, or enter the value"
)


def read_export(
    path: Path,
    fields: tuple[_Field, ...],
    mapping: Mapping[str, str] | None,
    required: list[tuple[str, ...]],
) -> Sheet:
    """Read a 1C export (XLSX or CSV) whose columns are found by ``fields``' headers or
    ``mapping``. 1C's exports carry more columns than a document needs (warehouse, quantity,
    VAT…): those are ignored, and said so (``Sheet.ignored``)."""
    headers, rows = read_table(path)
    fields = with_mapping(fields, mapping)
    known = {_key(alias) for f in fields for alias in f.aliases}
    ignored = [h for h in headers if h and _key(h) not in known]
    if ignored:
        fields = (*fields, _Field("ignored", tuple(ignored), multi=True))
    columns = _map_headers(headers, rows, fields, required)
    return Sheet(
        headers, [(n, cells) for n, cells in rows if any(cells)], columns, ignored, path=path
    )


class Parties:
    """Who a row of an export is about: the client among the counterparties the importer sees
    (``_Clients``), and the salesperson by login or full name."""

    def __init__(self, session: Session, actor: User) -> None:
        self.session = session
        self.clients = _Clients(session, actor)
        self.users: list[User] | None = None

    def find(
        self,
        sheet: Sheet,
        cells: list[str],
        values: dict[str, Any],
        problems: list[tuple[str | None, str]],
    ) -> None:
        """Set ``values["counterparty_id"]`` (and ``"salesperson_id"`` when the row names one)."""
        inn = kpp = None
        inn_ok = True
        if (got := sheet.cell(cells, "inn")) is not None:
            try:
                inn = validation.validate_inn(_tax_number(got[1], inn=True))
            except ValueError as exc:
                problems.append((got[0], str(exc)))
                inn_ok = False
        if (got := sheet.cell(cells, "kpp")) is not None:
            kpp = _tax_number(got[1], inn=False)
        name_cell = sheet.cell(cells, "counterparty")
        if inn_ok:
            try:
                values["counterparty_id"] = self.clients.find(
                    inn, kpp, name_cell[1] if name_cell else None
                )
            except ValueError as exc:
                where = sheet.cell(cells, "inn") or name_cell
                problems.append((where[0] if where else None, str(exc)))
        if (got := sheet.cell(cells, "salesperson")) is not None:
            if self.users is None:
                self.users = list(self.session.execute(select(User)).scalars())
            try:
                values["salesperson_id"] = _find_user(self.users, got[1]).id
            except ValueError as exc:
                problems.append((got[0], str(exc)))


def refuse(errors: list[RowError], total: int) -> None:
    """Raise ``ImportFailed`` listing the rows' problems (when there are any): nothing is imported."""
    if not errors:
        return
    rows_bad = len({e.row for e in errors})
    details = [str(e) for e in errors[:MAX_DETAILS]]
    if len(errors) > MAX_DETAILS:
        details.append(f"… and {len(errors) - MAX_DETAILS} more")
    raise ImportFailed(
        f"{rows_bad} of {total} rows have errors; nothing was imported", details=details
    )


def import_sales(
    session: Session,
    actor: User,
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> SalesReport:
    """Store the sales of a 1C export (see the module); all or nothing.

    ``mapping`` names columns whose headers are not known: {header in the file: field},
    the fields being number, date, inn, kpp, counterparty, salesperson, revenue, cost,
    product_group. Raises ``ImportFailed`` listing every problem; ``dry_run`` returns the
    report with its errors and writes nothing.
    """
    _may_import(actor, "sales")
    sheet = read_export(
        path, SALE_FIELDS, mapping, [("number",), ("date",), ("inn", "counterparty"), ("revenue",)]
    )
    filled = sheet.rows
    report = SalesReport(total=len(filled), ignored=sheet.ignored)
    parties = Parties(session, actor)
    found: dict[tuple[str, date, str, str], dict[str, Any]] = {}
    for done, (number, cells) in enumerate(filled, 1):
        problems: list[tuple[str | None, str]] = []
        values: dict[str, Any] = {}
        sheet.parse(
            cells,
            (
                ("number", lambda t: t.strip()[:60], True),
                ("date", _sold_on, True),
                ("revenue", _amount, True),
                ("cost", _amount, False),
            ),
            values,
            problems,
            row=number,
        )
        parties.find(sheet, cells, values, problems)
        group = (sheet.cell(cells, "product_group") or ("", ""))[1].strip()[:200]
        report.errors += [RowError(number, column, message) for column, message in problems]
        if not problems:
            key = (values["number"], values["date"], values["counterparty_id"], group)
            row = found.get(key)
            if row is None:
                found[key] = {**values, "product_group": group}
            else:  # another line of the same document and group
                row["revenue"] += values["revenue"]
                if "cost" in values and "cost" in row:
                    row["cost"] += values["cost"]
                else:
                    row.pop("cost", None)
        if progress and (done % 500 == 0 or done == len(filled)):
            progress(done, len(filled))
    if report.errors and dry_run:
        return report
    refuse(report.errors, report.total)
    report.created, report.skipped, report.months = store_sales(
        session,
        actor,
        [
            SaleRow(
                number=v["number"],
                sold_on=v["date"],
                counterparty_id=v["counterparty_id"],
                revenue=v["revenue"],
                cost=v.get("cost"),
                salesperson_id=v.get("salesperson_id"),
                product_group=v["product_group"],
            )
            for v in found.values()
        ],
        dry_run=dry_run,
    )
    if dry_run:
        return report
    log.info(
        "sales import: %d rows, %d sales stored, %d already there, %d summaries rewritten",
        report.total,
        report.created,
        report.skipped,
        report.months,
    )
    return report


@dataclass
class SaleRow:
    """A sale to store: one document's amount for one product group (``Sale``'s fields)."""

    number: str
    sold_on: date
    counterparty_id: str
    revenue: Decimal
    cost: Decimal | None = None  # None: 1C gave none
    salesperson_id: str | None = None
    product_group: str = ""


def store_sales(
    session: Session, actor: User, rows: Iterable[SaleRow], *, dry_run: bool = False
) -> tuple[int, int, int]:
    """Store these sales: (created, skipped as stored already, sales summaries rewritten).

    What the spreadsheet and the CommerceML imports share once every row is known good: rows
    of one document and group (same number, day, client and group) are summed (the cost stays
    unknown if any row's is); a sale stored already is skipped, so importing again adds
    nothing; the clients' summaries are rewritten. ``dry_run`` counts and writes nothing.
    """
    _may_import(actor, "sales")
    found: dict[tuple[str, date, str, str], SaleRow] = {}
    for row in rows:
        key = (row.number, row.sold_on, row.counterparty_id, row.product_group)
        have = found.get(key)
        if have is None:
            found[key] = replace(row)
        else:  # another line of the same document and group
            have.revenue += row.revenue
            have.cost = None if have.cost is None or row.cost is None else have.cost + row.cost
    stored: set[tuple[str, date, str, str]] = set()
    keys = list(found)
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        stored.update(
            (n, _as_date(d), c, g)
            for n, d, c, g in session.execute(
                select(
                    col(Sale.number),
                    col(Sale.sold_on),
                    col(Sale.counterparty_id),
                    col(Sale.product_group),
                ).where(
                    tuple_(
                        col(Sale.number),
                        col(Sale.sold_on),
                        col(Sale.counterparty_id),
                        col(Sale.product_group),
                    ).in_(chunk)
                )
            )
        )
    new = [row for key, row in found.items() if key not in stored]
    skipped = len(found) - len(new)
    if dry_run:
        return len(new), skipped, 0
    for row in new:
        session.add(
            Sale(
                number=row.number,
                sold_on=row.sold_on,
                counterparty_id=row.counterparty_id,
                salesperson_id=row.salesperson_id,
                revenue=row.revenue,
                cost=row.cost,
                product_group=row.product_group,
                created_by=actor.id,
                updated_by=actor.id,
            )
        )
    session.flush()
    months = refresh_summaries(session, {row.counterparty_id for row in new})
    return len(new), skipped, months


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# ----------------------------------------------------------------------------- bank statements


@dataclass
class StatementReport:
    documents: int = 0
    created: int = 0
    skipped: int = 0  # imported before
    matched: int = 0  # of the created, matched to a counterparty
    unmatched: list[str] = field(default_factory=list)  # "№ 12 от 02.10.2026: ИНН … (who)"
    errors: list[str] = field(default_factory=list)


def _inn_index(session: Session) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for cp, inn, kpp in session.execute(
        select(col(Counterparty.id), col(Counterparty.inn), col(Counterparty.kpp)).where(
            col(Counterparty.inn).is_not(None)
        )
    ):
        out[inn].append((cp, kpp or None))
    return out


def import_statement(
    session: Session,
    actor: User,
    raw: bytes,
    *,
    own_accounts: Iterable[str] = (),
    own_inns: Iterable[str] = (),
    dry_run: bool = False,
) -> StatementReport:
    """Keep the payments of a ``1CClientBankExchange`` statement (see the module); all or nothing.

    Which side is the company: ``own_accounts`` (the statement's own account is added) and
    ``own_inns``. Payments are matched across all counterparties: the books are the company's.
    """
    _may_import(actor, "bank statements")
    statement = bank.parse_statement(raw)
    report = StatementReport(documents=len(statement.documents))
    report.errors = [f"line {e.line}: {e.message}" for e in statement.errors]
    if report.errors:
        if dry_run:
            return report
        raise ImportFailed(
            f"{len(statement.errors)} documents of the statement are broken; nothing was imported",
            details=report.errors[:MAX_DETAILS],
        )
    accounts = {a for a in own_accounts if a} | (
        {statement.account} if statement.account else set()
    )
    inns = set(own_inns)
    index = _inn_index(session)
    # The keys kept already, of the statement's days: one range read through the date's index (a
    # statement covers days or weeks), where asking for the keys themselves in chunks made
    # PostgreSQL scan the table once per chunk.
    days = [d.date for d in statement.documents]
    known: set[str] = (
        set(
            session.execute(
                select(col(Payment.key)).where(
                    col(Payment.paid_on) >= min(days), col(Payment.paid_on) <= max(days)
                )
            ).scalars()
        )
        if days
        else set()
    )
    seen: set[str] = set()
    rows = []
    for doc in statement.documents:
        if doc.key in known or doc.key in seen:
            report.skipped += 1
            continue
        seen.add(doc.key)
        way = bank.direction(doc, accounts, inns)
        cp = bank.match_counterparty(doc, way, index)
        if cp is not None:
            report.matched += 1
        else:
            who = doc.payer_name if way != "out" else doc.payee_name
            inn = doc.payer_inn if way != "out" else doc.payee_inn
            report.unmatched.append(
                f"№ {doc.number} от {doc.date:%d.%m.%Y}, {doc.amount}: {who} (ИНН {inn or '—'})"
            )
        rows.append(
            {
                "id": new_id(),
                "key": doc.key,
                "number": doc.number[:60],
                "paid_on": doc.date,
                "amount": doc.amount,
                "direction": way,
                "payer_name": doc.payer_name[:500],
                "payer_inn": doc.payer_inn or None,
                "payer_kpp": doc.payer_kpp or None,
                "payee_name": doc.payee_name[:500],
                "payee_inn": doc.payee_inn or None,
                "payee_kpp": doc.payee_kpp or None,
                "purpose": doc.purpose,
                "counterparty_id": cp,
                "imported_by": actor.id,
            }
        )
    report.created = len(rows)
    if not dry_run and rows:
        table: Any = Payment.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
        for start in range(0, len(rows), 1000):
            session.execute(table.insert(), rows[start : start + 1000])
        # The new incoming payments settle their clients' invoices (crm.invoices).
        from crm import invoices  # crm.invoices builds on this module

        invoices.settle(
            session,
            {
                str(r["counterparty_id"])
                for r in rows
                if r["counterparty_id"] and r["direction"] == "in"
            },
        )
    log.info(
        "bank statement: %d documents, %d kept, %d imported before, %d matched",
        report.documents,
        report.created,
        report.skipped,
        report.matched,
    )
    return report


def match_payments(session: Session, actor: User) -> int:
    """Match the payments kept unmatched to counterparties that arrived since; how many matched."""
    _may_import(actor, "bank statements")
    index = _inn_index(session)
    matched = 0
    touched: set[str] = set()
    for payment in session.execute(
        select(Payment).where(col(Payment.counterparty_id).is_(None))
    ).scalars():
        inn, kpp = (
            (payment.payee_inn, payment.payee_kpp)
            if payment.direction == "out"
            else (payment.payer_inn, payment.payer_kpp)
        )
        found = index.get(inn or "", [])
        if len(found) > 1:
            found = [f for f in found if f[1] == kpp]
        if len(found) == 1:
            payment.counterparty_id = found[0][0]
            matched += 1
            if payment.direction == "in":
                touched.add(payment.counterparty_id)
    session.flush()
    from crm import invoices  # crm.invoices builds on this module

    invoices.settle(session, touched)
    return matched


# ----------------------------------------------------------------------------- classifications


def may_keep(actor: User) -> None:
    """Only the office and administrators keep a classification of the whole company."""
    if actor.role not in IMPORTERS:
        raise PermissionDenied(
            "only the office and administrators keep a classification of the company"
        )


def store_classification(
    session: Session, actor: User, result: analytics.Classification, *, apply: bool = True
) -> ClassRun:
    """Keep a computation (and with ``apply``, put its classes on the cards) — the office's,
    over the whole company: a salesperson's view of their own clients is computed, not kept."""
    may_keep(actor)
    t = result.thresholds
    run = ClassRun(
        computed_by=actor.id,
        starts=result.starts,
        ends=result.ends,
        basis=result.basis,
        settings={"a": t.a, "b": t.b, "x": t.x, "y": t.y, "min_months": t.min_months},
        clients=len(result.clients),
        total=result.total,
    )
    session.add(run)
    session.flush()
    table: Any = ClassMark.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    marks = [
        {
            "run_id": run.id,
            "counterparty_id": c.counterparty_id,
            "abc": c.abc,
            "xyz": c.xyz,
            "amount": c.amount,
            "share": round(c.share, 4),
            "variation": None if c.variation is None else round(c.variation, 4),
        }
        for c in result.clients
    ]
    for start in range(0, len(marks), 1000):
        session.execute(table.insert(), marks[start : start + 1000])
    if apply:
        _apply(session, result)
    return run


def _apply(session: Session, result: analytics.Classification) -> None:
    """Put the classes on the cards: only those that changed are written (and logged for laptops)."""
    classes = {c.counterparty_id: (c.abc, c.xyz) for c in result.clients}
    for cp in session.execute(
        select(Counterparty).where(
            (col(Counterparty.abc_class).is_not(None)) | col(Counterparty.id).in_(list(classes))
        )
    ).scalars():
        abc, xyz = classes.get(cp.id, (None, None))
        if (cp.abc_class, cp.xyz_class) != (abc, xyz):
            cp.abc_class, cp.xyz_class = abc, xyz
            cp.version += 1
    session.flush()


@dataclass
class Move:
    counterparty_id: str
    name: str
    before: str | None  # None: not classified then
    after: str | None
    amount_before: Decimal | None
    amount_after: Decimal | None


def runs(session: Session, limit: int = 50) -> list[ClassRun]:
    return list(
        session.execute(
            select(ClassRun).order_by(col(ClassRun.computed_at).desc()).limit(limit)
        ).scalars()
    )


def moves(
    session: Session,
    actor: User,
    *,
    since: date,
    until_run: str | None = None,
    what: str = "abc",
) -> tuple[ClassRun | None, ClassRun | None, list[Move]]:
    """Who changed class between the last run computed before ``since`` and the newest (or
    ``until_run``): the runs compared and the moves among the clients ``actor`` sees."""
    newest = (
        session.get(ClassRun, until_run)
        if until_run
        else session.execute(
            select(ClassRun).order_by(col(ClassRun.computed_at).desc()).limit(1)
        ).scalar()
    )
    older = session.execute(
        select(ClassRun)
        .where(col(ClassRun.computed_at) < datetime.combine(since, time(), tzinfo=UTC))
        .order_by(col(ClassRun.computed_at).desc())
        .limit(1)
    ).scalar()
    if newest is None or older is None or newest.id == older.id:
        return older, newest, []
    rt = records.record_type("counterparties")
    names = dict(
        session.execute(
            select(col(Counterparty.id), col(Counterparty.legal_name)).where(
                records.visible(rt, actor)
            )
        ).all()
    )

    def marks(run: ClassRun) -> dict[str, tuple[str | None, Decimal]]:
        return {
            cp: (abc if what == "abc" else xyz, amount)
            for cp, abc, xyz, amount in session.execute(
                select(
                    col(ClassMark.counterparty_id),
                    col(ClassMark.abc),
                    col(ClassMark.xyz),
                    col(ClassMark.amount),
                ).where(col(ClassMark.run_id) == run.id)
            )
            if cp in names
        }

    before, after = marks(older), marks(newest)
    out = []
    for cp in sorted(set(before) | set(after), key=lambda i: names[i]):
        b, a = before.get(cp), after.get(cp)
        if (b[0] if b else None) != (a[0] if a else None):
            out.append(
                Move(
                    cp, names[cp], b[0] if b else None, a[0] if a else None, b and b[1], a and a[1]
                )
            )
    return older, newest, out


__all__ = [
    "SaleRow",
    "SalesReport",
    "StatementReport",
    "import_sales",
    "import_statement",
    "match_payments",
    "moves",
    "refresh_summaries",
    "store_classification",
    "store_sales",
]
