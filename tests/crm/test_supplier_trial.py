"""What an outside trial found in price lists (SQLite and PostgreSQL): a «Действует с» outside the
years 1900–2200 and a made-up currency are refused naming their row; a header the file got wrong
is not offered back among the known columns; a formula Excel never computed is said to be one; a
compare on a day outside those years is refused; prices are shown to four decimals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm import suppliers
from crm.console import _cell
from crm.database import Database
from crm.errors import ImportFailed, ValidationFailed
from crm.models import PriceItem
from tests.crm.test_suppliers import _company, _csv, _user

D = Decimal


def _count(database: Database) -> int:
    with database.read() as session:
        return int(session.execute(select(func.count()).select_from(PriceItem)).scalar_one())


def _refused(database: Database, path: Path, supplier: str) -> str:
    with database.write() as session, pytest.raises(ImportFailed) as caught:
        suppliers.import_prices(session, _user(session, "office"), path, supplier_id=supplier)
    return str(caught.value) + " " + " ".join(map(str, caught.value.details or []))


@pytest.mark.parametrize("day", ["01.01.0001", "2300-01-01", "31.12.1899"])
def test_a_valid_from_outside_the_years_any_day_may_be_is_refused(
    database: Database, tmp_path: Path, day: str
) -> None:
    ids = _company(database)
    path = _csv(tmp_path / "p.csv", ["Наименование;Цена;Действует с", f"Кольцо;100;{day}"])
    said = _refused(database, path, ids["ООО Альфа"])
    assert "row 2, Действует с: must lie between the years 1900 and 2200" in said, said
    assert _count(database) == 0


def test_a_made_up_currency_is_refused(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _csv(
        tmp_path / "p.csv",
        ["Наименование;Цена;Валюта", "Кольцо;100;XYZ", "Цепь;200;USD", "Серьги;300;руб."],
    )
    said = _refused(database, path, ids["ООО Альфа"])
    assert "row 2, Валюта: 'XYZ' is not a currency" in said and "ISO 4217" in said, said
    assert "USD" not in said.replace("RUB, USD, EUR", "")
    assert _count(database) == 0


def test_a_wrong_header_is_not_among_the_known_columns(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _csv(tmp_path / "p.csv", ["Наименование;Цна", "Кольцо;100"])
    with database.write() as session, pytest.raises(ImportFailed) as caught:
        suppliers.import_prices(
            session, _user(session, "office"), path, supplier_id=ids["ООО Альфа"]
        )
    known = str(caught.value).split("Known columns:", 1)[1]
    assert "Цена" in known and "Цна" not in known, str(caught.value)
    assert not any("Цна" in line for line in (caught.value.details or [])[1:] if ":" in line)


def test_a_formula_without_its_value_is_said_to_be_one(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Наименование", "Цена"])
    sheet.append(["Кольцо", "=100*2"])  # openpyxl keeps no computed value: as a program writes
    sheet.append(["Цепь", None])
    path = tmp_path / "p.xlsx"
    book.save(path)
    with database.write() as session, pytest.raises(ImportFailed) as caught:
        suppliers.import_prices(
            session, _user(session, "office"), path, supplier_id=ids["ООО Альфа"]
        )
    said = list(caught.value.details or [])
    assert said == [
        "row 2, Цена: is a formula without a computed value: open and save the file in Excel, "
        "or enter the value",
        "row 3, Цена: is empty",
    ], said


def test_compare_refuses_a_day_outside_the_years(database: Database, tmp_path: Path) -> None:
    _company(database)
    with database.read() as session:
        actor = _user(session, "ivanov")
        for day in (date(1, 1, 1), date(2300, 1, 1)):
            with pytest.raises(ValidationFailed) as caught:
                suppliers.compare(session, actor, "кольцо", on=day)
            assert caught.value.details == {
                "on": f"must lie between the years 1900 and 2200; got {day.isoformat()}"
            }


def test_prices_are_shown_to_four_decimals() -> None:
    assert _cell(D("12.3450"), "price") == "12.345"
    assert _cell(D("1234.5678"), "price") == "1 234.5678"
    assert _cell(D("1200.0000"), "price") == "1 200.00"
    assert _cell(D("0.0001"), "price") == "0.0001"
    assert _cell(D("12.3460"), "money") == "12.35"  # money stays in kopecks
    column = next(c for c in suppliers.COMPARE_COLUMNS if c.key == "price")
    assert column.kind == "price"


def test_a_four_decimal_price_reaches_the_compare_table(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _csv(tmp_path / "p.csv", ["Наименование;Цена", "Кольцо;12,3456"])
    with database.write() as session:
        suppliers.import_prices(
            session,
            _user(session, "office"),
            path,
            supplier_id=ids["ООО Альфа"],
            valid_from=date(2026, 1, 1),
        )
    with database.read() as session:
        report = suppliers.compare(session, _user(session, "ivanov"), "кольцо", on=date(2026, 2, 1))
    price = report.rows[0]["price"]
    assert price == D("12.3456") and _cell(price, "price") == "12.3456"
