"""Suppliers (issue 15) on SQLite and PostgreSQL: price lists imported (a cp1251 CSV and an XLSX,
known answers; every bad row listed and nothing stored; nothing twice; a later day's list keeps the
history), who may import, a non-supplier refused; comparing suppliers (the price in force on a day,
a supplier the user does not see left out); a merge and a delete of a supplier."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlmodel import col

from crm import records, suppliers
from crm.database import Database
from crm.errors import ImportFailed, NotFound, PermissionDenied, ValidationFailed
from crm.models import Counterparty, PriceItem, SupplierTerms, User
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10

D = Decimal


def _inn(n: int) -> str:
    return inn10(f"77{n:07d}")


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _company(database: Database) -> dict[str, str]:
    """Three suppliers — Альфа (ivanov's), Бета (the company's), Гамма (petrov's, private) — and a
    client, Дельта."""
    make_user(database, "office", role="office", team=None)
    make_user(database, "admin", role="admin", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov", team="Питер")
    rt = records.record_type("counterparties")
    ids: dict[str, str] = {}
    with database.write() as session:
        for n, (name, owner, kinds, visibility) in enumerate(
            [
                ("ООО Альфа", "ivanov", ["supplier"], "private"),
                ("ООО Бета", "ivanov", ["supplier", "client"], "company"),
                ("ООО Гамма", "petrov", ["supplier"], "private"),
                ("ООО Дельта", "ivanov", ["client"], "private"),
            ]
        ):
            cp = records.create(
                session,
                _user(session, owner),
                rt,
                {"legal_name": name, "inn": _inn(n), "kinds": kinds, "visibility": visibility},
            )
            ids[name] = cp.id
    return ids


def _csv(path: Path, lines: list[str], codec: str = "cp1251") -> Path:
    path.write_bytes("\r\n".join(lines).encode(codec))
    return path


def _xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def _lines(session: Any, cp: str) -> list[tuple[str, str | None, str | None, Decimal, str, date]]:
    return [
        (i.product, i.article, i.unit, D(i.price), i.currency, i.valid_from)
        for i in session.execute(
            select(PriceItem)
            .where(col(PriceItem.counterparty_id) == cp)
            .order_by(col(PriceItem.product), col(PriceItem.valid_from))
        ).scalars()
    ]


def test_a_cp1251_csv_imports_once_and_a_later_list_keeps_the_history(
    database: Database, tmp_path: Path
) -> None:
    ids = _company(database)
    path = _csv(
        tmp_path / "prices.csv",
        [
            "Артикул;Наименование;Ед.;Цена, руб.;Остаток",
            "Б-585;Цепь  Бисмарк 585;г;4 950,1234;12",
            "К-4;Кольцо обручальное 585 4 мм;шт;18500;3",
            ";;;;",
        ],
    )
    with database.write() as session:
        report = suppliers.import_prices(
            session,
            _user(session, "office"),
            path,
            supplier_id=_inn(0),  # found by its INN
            valid_from=date(2026, 3, 1),
        )
    assert (report.supplier_id, report.total, report.created, report.skipped) == (
        ids["ООО Альфа"],
        2,
        2,
        0,
    )
    assert report.ignored == ["Остаток"]
    with database.read() as session:
        assert _lines(session, ids["ООО Альфа"]) == [
            ("Кольцо обручальное 585 4 мм", "К-4", "шт", D("18500"), "RUB", date(2026, 3, 1)),
            ("Цепь Бисмарк 585", "Б-585", "г", D("4950.1234"), "RUB", date(2026, 3, 1)),
        ]
    # The same list again adds nothing.
    with database.write() as session:
        again = suppliers.import_prices(
            session,
            _user(session, "office"),
            path,
            supplier_id=ids["ООО Альфа"],
            valid_from=date(2026, 3, 1),
        )
    assert (again.created, again.skipped) == (0, 2)
    # A list from a later day: a new line, the old one kept; the price in force changes that day.
    later = _csv(
        tmp_path / "later.csv",
        ["Наименование;Цена;Действует с", "Цепь Бисмарк 585;5100;01.04.2026"],
        codec="utf-8",
    )
    with database.write() as session:
        office = _user(session, "office")
        assert (
            suppliers.import_prices(session, office, later, supplier_id=ids["ООО Альфа"]).created
            == 1
        )
    with database.read() as session:
        office = _user(session, "office")
        assert len(_lines(session, ids["ООО Альфа"])) == 3

        def price(day: date) -> Decimal:
            (offer,) = suppliers.current_prices(session, office, "бисмарк", on=day)
            return offer.price

        assert price(date(2026, 3, 31)) == D("4950.1234")
        assert price(date(2026, 4, 1)) == D("5100")
        assert suppliers.current_prices(session, office, "бисмарк", on=date(2026, 2, 28)) == []


def test_an_xlsx_with_a_mapping_and_currencies(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _xlsx(
        tmp_path / "prices.xlsx",
        [
            ["Позиция", "Код", "Стоимость", "Валюта", "Дата"],
            ["Серьги пусеты 585", "С-1", 7200.5, "руб.", date(2026, 2, 1)],
            ["Цепь Бисмарк 585", 1001, 61.25, "USD", date(2026, 2, 1)],
        ],
    )
    with database.write() as session:
        report = suppliers.import_prices(
            session,
            _user(session, "admin"),
            path,
            supplier_id=ids["ООО Бета"],
            mapping={"Позиция": "product"},
        )
    assert (report.created, report.errors) == (2, [])
    with database.read() as session:
        assert _lines(session, ids["ООО Бета"]) == [
            ("Серьги пусеты 585", "С-1", None, D("7200.5"), "RUB", date(2026, 2, 1)),
            ("Цепь Бисмарк 585", "1001", None, D("61.25"), "USD", date(2026, 2, 1)),
        ]


def test_every_bad_row_is_listed_and_nothing_is_stored(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _csv(
        tmp_path / "bad.csv",
        [
            "Наименование;Цена;Валюта;Действует с",
            "Цепь Бисмарк 585;4950;RUB;01.03.2026",  # good
            ";100;RUB;01.03.2026",  # row 3: no product
            "Кольцо 585;1,5E+3;RUB;01.03.2026",  # row 4: scientific form
            "Кольцо 586;12,34567;RUB;01.03.2026",  # row 5: five decimals
            "Кольцо 587;-5;RUB;01.03.2026",  # row 6: negative
            "Кольцо 588;100;рупии;01.03.2026",  # row 7: no currency
            "Кольцо 589;100;RUB;31.02.2026",  # row 8: no date
            "Цепь бисмарк 585;4999;RUB;01.03.2026",  # row 9: row 2's product and day, otherwise
        ],
    )
    with database.write() as session, pytest.raises(ImportFailed) as failed:
        suppliers.import_prices(
            session, _user(session, "office"), path, supplier_id=ids["ООО Альфа"]
        )
    rows = sorted({int(d.split(",")[0].removeprefix("row ")) for d in failed.value.details})
    assert rows == [3, 4, 5, 6, 7, 8, 9]
    assert "7 of 8 rows have errors" in str(failed.value)
    with database.read() as session:
        assert session.execute(select(PriceItem)).first() is None
    # A dry run reports the same and writes nothing.
    with database.write() as session:
        report = suppliers.import_prices(
            session, _user(session, "office"), path, supplier_id=ids["ООО Альфа"], dry_run=True
        )
    assert len({e.row for e in report.errors}) == 7
    with database.read() as session:
        assert session.execute(select(PriceItem)).first() is None


def test_who_imports_and_for_whom(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _csv(tmp_path / "p.csv", ["Товар;Цена", "Цепь Бисмарк 585;4950"])
    with database.write() as session, pytest.raises(PermissionDenied):
        suppliers.import_prices(
            session, _user(session, "ivanov"), path, supplier_id=ids["ООО Альфа"]
        )
    with database.write() as session, pytest.raises(ValidationFailed, match="not a supplier"):
        suppliers.import_prices(
            session, _user(session, "office"), path, supplier_id=ids["ООО Дельта"]
        )
    with database.write() as session, pytest.raises(NotFound):
        suppliers.import_prices(session, _user(session, "office"), path, supplier_id="nobody")
    with database.read() as session:
        assert session.execute(select(PriceItem)).first() is None


def _prices(database: Database, tmp_path: Path, ids: dict[str, str]) -> None:
    lists = {
        "ООО Альфа": ["Цепь Бисмарк 585;5000;RUB", "Кольцо обручальное 585 4 мм;18000;RUB"],
        "ООО Бета": ["Цепь Бисмарк 585;4800;RUB", "Цепь Бисмарк 585 (USD);60;USD"],
        "ООО Гамма": ["Цепь Бисмарк 585;4000;RUB"],
    }
    with database.write() as session:
        office = _user(session, "office")
        for n, (name, lines) in enumerate(lists.items()):
            path = _csv(tmp_path / f"{n}.csv", ["Наименование;Цена;Валюта", *lines])
            suppliers.import_prices(
                session, office, path, supplier_id=ids[name], valid_from=date(2026, 1, 1)
            )


def test_compare_the_suppliers_a_salesperson_sees(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    _prices(database, tmp_path, ids)
    rt = records.record_type("supplier-terms")
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        records.create(
            session,
            ivanov,
            rt,
            {"counterparty_id": ids["ООО Бета"], "lead_time_days": 14, "rating": 4},
        )
    with database.read() as session:
        ivanov = _user(session, "ivanov")
        got = [
            (o.supplier, o.product, o.price, o.currency, o.lead_time_days, o.rating)
            for o in suppliers.current_prices(session, ivanov, "бисмарк 585", on=date(2026, 5, 1))
        ]
        # Гамма is cheapest but petrov's own: ivanov does not see it.
        assert got == [
            ("ООО Бета", "Цепь Бисмарк 585", D("4800"), "RUB", 14, 4),
            ("ООО Альфа", "Цепь Бисмарк 585", D("5000"), "RUB", None, None),
            ("ООО Бета", "Цепь Бисмарк 585 (USD)", D("60"), "USD", 14, 4),
        ]
        office = _user(session, "office")
        report = suppliers.compare(session, office, "ЦЕПЬ бисмарк", on=date(2026, 5, 1))
        assert [r["supplier"] for r in report.rows] == [
            "ООО Гамма",
            "ООО Бета",
            "ООО Альфа",
            "ООО Бета",
        ]
        # Only a segment's members; and before the lists' day, nothing.
        only = {ids["ООО Альфа"]}
        assert [
            o.supplier for o in suppliers.current_prices(session, office, "585", only=only)
        ] == [
            "ООО Альфа",
            "ООО Альфа",
        ]
        assert suppliers.current_prices(session, office, "бисмарк", on=date(2025, 12, 31)) == []
        with pytest.raises(ValidationFailed):
            suppliers.current_prices(session, office, "  ")


def test_terms_are_for_a_supplier_and_kept_by_who_may_change_it(database: Database) -> None:
    ids = _company(database)
    rt = records.record_type("supplier-terms")
    with database.write() as session, pytest.raises(ValidationFailed, match="counterparty_id"):
        records.create(
            session, _user(session, "ivanov"), rt, {"counterparty_id": ids["ООО Дельта"]}
        )
    with database.write() as session, pytest.raises(ValidationFailed, match="rating"):
        records.create(
            session,
            _user(session, "ivanov"),
            rt,
            {"counterparty_id": ids["ООО Альфа"], "rating": 6},
        )
    with database.write() as session:
        made = records.create(
            session, _user(session, "ivanov"), rt, {"counterparty_id": ids["ООО Альфа"]}
        )
        terms_id = made.id
    with database.write() as session, pytest.raises(ValidationFailed, match="counterparty_id"):
        records.create(session, _user(session, "admin"), rt, {"counterparty_id": ids["ООО Альфа"]})
    with database.write() as session, pytest.raises(ValidationFailed, match="counterparty_id"):
        records.update(
            session, _user(session, "admin"), rt, terms_id, {"counterparty_id": ids["ООО Бета"]}
        )


def test_a_merge_keeps_the_survivors_terms_and_moves_the_price_list(
    database: Database, tmp_path: Path
) -> None:
    from crm import merge

    ids = _company(database)
    alfa, beta = ids["ООО Альфа"], ids["ООО Бета"]
    _prices(database, tmp_path, ids)
    rt = records.record_type("supplier-terms")
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        records.create(session, ivanov, rt, {"counterparty_id": alfa, "rating": 5})
        records.create(session, ivanov, rt, {"counterparty_id": beta, "rating": 2})
        session.get_one(Counterparty, beta).inn = None
    with database.write() as session:
        row = merge.merge(session, _user(session, "admin"), alfa, beta)
        # Бета's «Цепь Бисмарк 585» of the same day is Альфа's already: dropped, not doubled.
        assert row.moved.get("price-items") == 1 and "supplier-terms" not in row.moved
    with database.read() as session:
        terms = list(session.execute(select(SupplierTerms)).scalars())
        assert [(t.counterparty_id, t.rating) for t in terms] == [(alfa, 5)]
        assert [(p, d) for p, _, _, d, _, _ in _lines(session, alfa)] == [
            ("Кольцо обручальное 585 4 мм", D("18000")),
            ("Цепь Бисмарк 585", D("5000")),
            ("Цепь Бисмарк 585 (USD)", D("60")),
        ]
    # A survivor without terms takes the absorbed one's.
    with database.write() as session:
        gamma = ids["ООО Гамма"]
        session.get_one(Counterparty, gamma).inn = None
        row = merge.merge(session, _user(session, "admin"), alfa, gamma)
        assert row.moved.get("price-items") is None  # its one line is Альфа's product and day
    with database.write() as session:
        admin = _user(session, "admin")
        other = records.create(
            session,
            admin,
            records.record_type("counterparties"),
            {"legal_name": "ООО Эпсилон", "kinds": ["supplier"]},
        )
        records.delete(
            session,
            admin,
            rt,
            session.execute(select(SupplierTerms)).scalar_one().id,
        )
        session.flush()
        records.create(session, admin, rt, {"counterparty_id": other.id, "lead_time_days": 30})
        session.flush()
        merge.merge(session, admin, alfa, other.id)
    with database.read() as session:
        assert [
            (t.counterparty_id, t.lead_time_days)
            for t in session.execute(select(SupplierTerms)).scalars()
        ] == [(alfa, 30)]


def test_deleting_a_supplier_deletes_its_terms_and_price_list(
    database: Database, tmp_path: Path
) -> None:
    ids = _company(database)
    _prices(database, tmp_path, ids)
    with database.write() as session:
        admin = _user(session, "admin")
        records.create(
            session,
            admin,
            records.record_type("supplier-terms"),
            {"counterparty_id": ids["ООО Альфа"], "rating": 3},
        )
    with database.write() as session:
        records.delete(
            session,
            _user(session, "admin"),
            records.record_type("counterparties"),
            ids["ООО Альфа"],
        )
    with database.read() as session:
        assert session.execute(select(SupplierTerms)).first() is None
        assert {i.counterparty_id for i in session.execute(select(PriceItem)).scalars()} == {
            ids["ООО Бета"],
            ids["ООО Гамма"],
        }
