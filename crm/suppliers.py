"""Suppliers (issue 15): their price lists imported, and suppliers compared for a product.

**Price lists** (``import_prices``) are the XLSX or CSV (windows-1251 or UTF-8) a supplier
sends: one row a product, its columns found by their Russian or English headers
(``PRICE_FIELDS``: Наименование / Товар / Номенклатура, Артикул / Код, Ед. / Единица,
Цена / Цена, руб. / Стоимость, Валюта, Дата / Действует с; any case and spacing) or named with
``mapping``. A row's day is its own «Действует с» when it has one, else ``valid_from``, else
today. Prices are plain numbers with at most four decimals (no scientific form); a currency is
a three-letter code (руб., ₽, $ and € are understood). All or nothing: every bad row is listed
and nothing is written. A line stored already (the same supplier, product and day) is skipped,
so importing a list again adds nothing; a list from a later day adds new lines and keeps the
old ones (the history of prices).

Only the office and administrators import, and only for a counterparty they see whose kinds
include "supplier".

**Comparing** (``current_prices``, ``compare``): the price lines whose product's folded name
holds every word of the query (or whose article is the query), each supplier's price in force
on the day (its latest line from that day or earlier), with the supplier's lead time and rating
(``SupplierTerms``); only suppliers the user sees. Sorted by currency, then price (cheapest
first): prices in different currencies are not converted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import records, trade, validation
from crm.errors import NotFound, ValidationFailed
from crm.exports import Column
from crm.importing import RowError, _date, _Field
from crm.models import Counterparty, PriceItem, SupplierTerms, User
from crm.reports import Report

log = logging.getLogger(__name__)

PRICE_FIELDS = (
    _Field(
        "product",
        (
            "Наименование",
            "Товар",
            "Номенклатура",
            "Наименование товара",
            "Product",
            "product",
        ),
    ),
    _Field("article", ("Артикул", "Код", "Код товара", "Article", "article")),
    _Field("unit", ("Ед.", "Единица", "Ед. изм.", "Единица измерения", "Unit", "unit")),
    _Field("price", ("Цена", "Цена, руб.", "Стоимость", "Цена за единицу", "Price", "price")),
    _Field("currency", ("Валюта", "Currency", "currency")),
    _Field("valid_from", ("Действует с", "Дата", "Дата цены", "Valid from", "valid_from")),
)

# What a price may be: Numeric(18, 4).
MAX_PRICE = Decimal("1e13")
_PLAIN = re.compile(r"(\d+(\.\d*)?|\.\d+)")
# Currencies as price lists write them.
_CURRENCIES = {
    "руб": "RUB",
    "руб.": "RUB",
    "рубль": "RUB",
    "рублей": "RUB",
    "р": "RUB",
    "р.": "RUB",
    "₽": "RUB",
    "rur": "RUB",
    "$": "USD",
    "долл": "USD",
    "долл.": "USD",
    "€": "EUR",
    "евро": "EUR",
    "юань": "CNY",
    "¥": "CNY",
}
LIMITS = {"product": 500, "article": 100, "unit": 20}
# The most characters of a product asked to compare (the API, the screen).
MAX_QUERY = 200


@dataclass
class PricesReport:
    supplier_id: str = ""
    supplier: str = ""
    total: int = 0  # rows that hold anything
    created: int = 0  # price lines stored (with dry_run: would be)
    skipped: int = 0  # stored already (a list imported again), or repeated in the file
    errors: list[RowError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # columns of the file no price needs


def _price(text: str) -> Decimal:
    cleaned = "".join(text.replace("\u00a0", " ").split()).replace(",", ".")
    if not _PLAIN.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not a price (digits, a comma or point, up to four decimals)")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a price") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{text!r} is not a price: it must be more than zero")
    if value >= MAX_PRICE:
        raise ValueError(f"{text!r} is more than a price can be")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError(f"{text!r} has more than four decimals")
    return value.quantize(Decimal("0.0001"))


def _currency(text: str) -> str:
    word = text.strip().casefold()
    code = _CURRENCIES.get(word) or word.upper()
    if code not in validation.ISO_4217:  # as a deal's currency (``validation.currency_code``)
        raise ValueError(
            f"{text!r} is not a currency: write an ISO 4217 code such as RUB, USD, EUR"
        )
    return code


def check_day(day: date) -> date:
    """``day`` when it lies in the years any record's day may (``validation.check_year``); else
    ``ValueError`` saying so."""
    validation.check_year(day)
    return day


def _valid_from(text: str) -> date:
    """A row's «Действует с»: a date of the years 1900–2200, as every day a record holds."""
    return check_day(_date(text))


def _text(name: str) -> Any:
    limit = LIMITS[name]

    def parse(text: str) -> str:
        value = " ".join(text.split())
        if len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        return value

    return parse


def is_supplier(counterparty: Counterparty) -> bool:
    return "supplier" in (counterparty.kinds or [])


def find_supplier(session: Session, actor: User, ref: str) -> Counterparty:
    """The supplier ``ref`` names (its id or INN) among the counterparties ``actor`` sees;
    ``NotFound`` when none, ``ValidationFailed`` when it is not a supplier."""
    rt = records.record_type("counterparties")
    ref = ref.strip()
    found: Counterparty | None = None
    if re.fullmatch(r"\d{10}|\d{12}", ref):
        named = list(
            session.execute(
                select(Counterparty).where(col(Counterparty.inn) == ref, records.visible(rt, actor))
            ).scalars()
        )
        suppliers = [c for c in named if is_supplier(c)]
        if len(suppliers) > 1:
            raise ValidationFailed(
                f"several suppliers have ИНН {ref}; give the id: "
                + ", ".join(sorted(c.id for c in suppliers))
            )
        found = suppliers[0] if suppliers else (named[0] if named else None)
    if found is None:
        try:
            found = records.get(session, actor, rt, ref)
        except NotFound:
            raise NotFound(f"you see no counterparty with id or ИНН {ref}") from None
    if not is_supplier(found):
        raise ValidationFailed(
            f"{found.legal_name} is not a supplier (its kinds: {', '.join(found.kinds) or '—'}); "
            "add the kind supplier to its card first",
            details={"supplier": "is not a supplier"},
        )
    return found


def import_prices(
    session: Session,
    actor: User,
    path: Path,
    *,
    supplier_id: str,
    mapping: Mapping[str, str] | None = None,
    valid_from: date | None = None,
    dry_run: bool = False,
    progress: trade.Progress | None = None,
) -> PricesReport:
    """Store a supplier's price list (see the module); all or nothing.

    ``supplier_id`` is the supplier's id or INN. ``mapping`` names columns whose headers are not
    known: {header in the file: field}, the fields being product, article, unit, price,
    currency, valid_from. Raises ``ImportFailed`` listing every bad row; ``dry_run`` returns the
    report with its errors and writes nothing.
    """
    trade._may_import(actor, "price lists")
    if valid_from is not None:
        try:
            check_day(valid_from)
        except ValueError as exc:
            raise ValidationFailed(f"valid_from {exc}", details={"valid_from": str(exc)}) from None
    supplier = find_supplier(session, actor, supplier_id)
    day = valid_from or date.today()
    sheet = trade.read_export(path, PRICE_FIELDS, mapping, [("product",), ("price",)])
    report = PricesReport(
        supplier_id=supplier.id,
        supplier=supplier.legal_name,
        total=len(sheet.rows),
        ignored=sheet.ignored,
    )
    found: dict[tuple[str, date], tuple[int, dict[str, Any]]] = {}
    for done, (number, cells) in enumerate(sheet.rows, 1):
        problems: list[tuple[str | None, str]] = []
        values: dict[str, Any] = {}
        sheet.parse(
            cells,
            (
                ("product", _text("product"), True),
                ("article", _text("article"), False),
                ("unit", _text("unit"), False),
                ("price", _price, True),
                ("currency", _currency, False),
                ("valid_from", _valid_from, False),
            ),
            values,
            problems,
            row=number,
        )
        if not problems:
            key = (validation.fold_text(values["product"]), values.get("valid_from") or day)
            if not key[0]:
                problems.append((None, "the product has no name"))
            elif key in found:
                first, seen = found[key]
                if (seen["price"], seen.get("currency") or "RUB") != (
                    values["price"],
                    values.get("currency") or "RUB",
                ):
                    got = sheet.cell(cells, "price")
                    problems.append(
                        (
                            got[0] if got else None,
                            f"row {first} prices the same product from the same day otherwise",
                        )
                    )
                else:
                    report.skipped += 1
            else:
                found[key] = (number, values)
        report.errors += [RowError(number, column, message) for column, message in problems]
        if progress and (done % 500 == 0 or done == len(sheet.rows)):
            progress(done, len(sheet.rows))
    if report.errors and dry_run:
        return report
    trade.refuse(report.errors, report.total)
    stored = {
        (folded, day_ if isinstance(day_, date) else date.fromisoformat(str(day_)[:10]))
        for folded, day_ in session.execute(
            select(col(PriceItem.product_key), col(PriceItem.valid_from)).where(
                col(PriceItem.counterparty_id) == supplier.id
            )
        )
    }
    new = [(key, values) for key, (_, values) in found.items() if key not in stored]
    report.skipped += len(found) - len(new)
    report.created = len(new)
    if dry_run:
        return report
    for (folded, when), values in new:
        session.add(
            PriceItem(
                counterparty_id=supplier.id,
                product=values["product"],
                product_key=folded,
                article=values.get("article") or None,
                unit=values.get("unit") or None,
                price=values["price"],
                currency=values.get("currency") or "RUB",
                valid_from=when,
                created_by=actor.id,
                updated_by=actor.id,
            )
        )
    session.flush()
    log.info(
        "price list of %s: %d rows, %d lines stored, %d already there",
        supplier.id,
        report.total,
        report.created,
        report.skipped,
    )
    return report


# ----------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Offer:
    """A supplier's price for a product in force on a day."""

    supplier_id: str
    supplier: str
    product: str
    article: str | None
    unit: str | None
    price: Decimal
    currency: str
    valid_from: date
    lead_time_days: int | None
    rating: int | None

    def as_row(self) -> dict[str, Any]:
        return {
            "supplier_id": self.supplier_id,
            "supplier": self.supplier,
            "product": self.product,
            "article": self.article,
            "unit": self.unit,
            "price": self.price,
            "currency": self.currency,
            "valid_from": self.valid_from,
            "lead_time_days": self.lead_time_days,
            "rating": self.rating,
        }


def current_prices(
    session: Session,
    actor: User,
    product_query: str,
    *,
    on: date | None = None,
    only: Iterable[str] | None = None,
) -> list[Offer]:
    """Each supplier's price in force on ``on`` (today) for the products the query names: their
    folded name holds every word of it, or their article is it. Only suppliers ``actor`` sees
    (and among ``only``, a segment's members, when given); sorted by currency, then price."""
    words = validation.fold_text(product_query).split()
    if not words:
        raise ValidationFailed("name a product to compare", details={"product": "is empty"})
    day = on or date.today()
    try:
        check_day(day)
    except ValueError as exc:
        raise ValidationFailed(f"the day {exc}", details={"on": str(exc)}) from None
    rt = records.record_type("price-items")
    by_name = col(PriceItem.product_key).contains(words[0], autoescape=True)
    for word in words[1:]:
        by_name = by_name & col(PriceItem.product_key).contains(word, autoescape=True)
    query = (
        select(PriceItem)
        .where(
            by_name | (col(PriceItem.article) == product_query.strip()),
            col(PriceItem.valid_from) <= day,
            records.visible(rt, actor),
        )
        .order_by(col(PriceItem.valid_from))
    )
    if only is not None:
        query = query.where(col(PriceItem.counterparty_id).in_(sorted(set(only))))
    latest: dict[tuple[str, str], PriceItem] = {}
    for item in session.execute(query).scalars():
        latest[(item.counterparty_id, item.product_key)] = item  # later days replace earlier ones
    ids = sorted({cp for cp, _ in latest})
    names = dict(
        session.execute(
            select(col(Counterparty.id), col(Counterparty.legal_name)).where(
                col(Counterparty.id).in_(ids)
            )
        ).all()
    )
    terms = {
        t.counterparty_id: t
        for t in session.execute(
            select(SupplierTerms).where(col(SupplierTerms.counterparty_id).in_(ids))
        ).scalars()
    }
    offers = [
        Offer(
            supplier_id=item.counterparty_id,
            supplier=names.get(item.counterparty_id, ""),
            product=item.product,
            article=item.article,
            unit=item.unit,
            price=Decimal(item.price),
            currency=item.currency,
            valid_from=item.valid_from,
            lead_time_days=terms[cp].lead_time_days if cp in terms else None,
            rating=terms[cp].rating if cp in terms else None,
        )
        for (cp, _), item in latest.items()
    ]
    offers.sort(key=lambda o: (o.currency, o.price, o.product, o.supplier, o.supplier_id))
    return offers


COMPARE_COLUMNS = [
    Column("supplier", "Поставщик / Supplier"),
    Column("product", "Товар / Product"),
    Column("article", "Артикул / Article"),
    Column("unit", "Ед. / Unit"),
    Column("price", "Цена / Price", "price"),  # to four decimals, as stored
    Column("currency", "Валюта / Currency"),
    Column("valid_from", "Действует с / Valid from", "date"),
    Column("lead_time_days", "Срок, дней / Lead time", "int"),
    Column("rating", "Надёжность / Rating", "int"),
]


def compare(
    session: Session,
    actor: User,
    product_query: str,
    *,
    on: date | None = None,
    only: Iterable[str] | None = None,
) -> Report:
    """``current_prices`` as a report (the command's table, its export, the REST answer)."""
    day = on or date.today()
    offers = current_prices(session, actor, product_query, on=day, only=only)
    return Report(
        name="suppliers-compare",
        title="Цены поставщиков / Supplier prices",
        columns=list(COMPARE_COLUMNS),
        rows=[o.as_row() for o in offers],
        about={"product": product_query.strip(), "on": day, "offers": len(offers)},
    )


def price_list(session: Session, actor: User, supplier_id: str, *, limit: int = 50) -> list[Any]:
    """The supplier's price lines in force today (its latest per product), by product, at most
    ``limit``; the card shows them. ``actor`` must see the supplier."""
    records.get(session, actor, records.record_type("counterparties"), supplier_id)
    today = date.today()
    latest: dict[str, PriceItem] = {}
    for item in session.execute(
        select(PriceItem)
        .where(col(PriceItem.counterparty_id) == supplier_id, col(PriceItem.valid_from) <= today)
        .order_by(col(PriceItem.valid_from))
    ).scalars():
        latest[item.product_key] = item
    return sorted(latest.values(), key=lambda i: (i.product_key, i.id))[:limit]
