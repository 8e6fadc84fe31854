"""ABC, XYZ and RFM: known answers worked out by hand, properties over any amounts, and the
classification over a database — a salesperson gets the server's answer for their own clients."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from crm import analytics, periods, records, trade
from crm.analytics import Thresholds, abc_classes, quintiles, segment, xyz_class
from crm.database import Database
from crm.errors import ImportFailed, PermissionDenied
from crm.models import ClassMark, Counterparty, Sale, SalesSummary, User
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10

D = Decimal


def _classes(amounts: dict[str, int], a: float = 70, b: float = 20) -> dict[str, str]:
    return {
        c.counterparty_id: c.abc for c in abc_classes({k: D(v) for k, v in amounts.items()}, a, b)
    }


# -- ABC by hand


def test_abc_seventy_twenty_ten_puts_each_share_on_its_boundary_into_the_lower_class() -> None:
    # Above the second: 70 % exactly — not below 70, so B; above the third: 90 % — C.
    assert _classes({"a": 700, "b": 200, "c": 100}) == {"a": "A", "b": "B", "c": "C"}


def test_abc_the_client_crossing_the_boundary_is_still_in_the_upper_class() -> None:
    # Above b: 60 % (< 70) → A; above c: 90 % (not < 90) → C; above d: 95 % → C.
    got = _classes({"a": 60, "b": 30, "c": 5, "d": 5})
    assert got == {"a": "A", "b": "A", "c": "C", "d": "C"}
    # One client with nearly everything is still an A, the rest split as usual.
    assert _classes({"big": 95, "x": 3, "y": 2}) == {"big": "A", "x": "C", "y": "C"}
    assert _classes({"big": 80, "x": 15, "y": 5}) == {"big": "A", "x": "B", "y": "C"}


def test_abc_equal_amounts_share_a_class_and_returns_are_c() -> None:
    # Above the second 40: 40 % (< 70) → A; the third 40 would be B by its position (80 %),
    # but it ties with the second, so A too. A client whose returns exceed sales: C.
    got = _classes({"p": 40, "q": 40, "r": 40, "s": 0, "t": -10})
    assert got == {"p": "A", "q": "A", "r": "A", "s": "C", "t": "C"}
    rows = abc_classes({"p": D(40), "q": D(40), "r": D(20)}, 70, 20)
    assert [round(c.share, 6) for c in rows] == [40.0, 40.0, 20.0]
    assert [round(c.cumulative, 6) for c in rows] == [40.0, 80.0, 100.0]


def test_abc_thresholds_are_configurable() -> None:
    amounts = {"a": 50, "b": 30, "c": 15, "d": 5}
    assert _classes(amounts, 80, 15) == {"a": "A", "b": "A", "c": "B", "d": "C"}
    assert _classes(amounts, 50, 30) == {"a": "A", "b": "B", "c": "C", "d": "C"}
    assert Thresholds(a=90, b=20).problems() and not Thresholds().problems()


@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=3),
        st.integers(min_value=-50, max_value=10_000),
        max_size=40,
    ),
    st.floats(min_value=1, max_value=99),
    st.floats(min_value=0, max_value=50),
)
def test_abc_classes_partition_the_clients_in_rank_order(
    amounts: dict[str, int], a: float, b: float
) -> None:
    b = min(b, 100 - a)
    rows = abc_classes({k: D(v) for k, v in amounts.items()}, a, b)
    assert sorted(c.counterparty_id for c in rows) == sorted(amounts)  # each once
    assert {c.abc for c in rows} <= {"A", "B", "C"}
    order = "ABC"
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert earlier.amount >= later.amount
        assert order.index(earlier.abc) <= order.index(later.abc)
        if earlier.amount == later.amount:
            assert earlier.abc == later.abc
    positive = sum((D(v) for v in amounts.values() if v > 0), D(0))
    if positive > 0:
        assert rows[0].abc == "A"
        assert abs(sum(c.share for c in rows if c.amount > 0) - 100) < 1e-6
        a_total = sum((c.amount for c in rows if c.abc == "A"), D(0))
        # A holds at least its share of the total (the crossing client is in).
        assert a_total / positive * 100 >= D(str(min(a, 100))) - D("0.000001") or all(
            c.abc == "A" for c in rows if c.amount > 0
        )


# -- XYZ by hand


def test_xyz_known_variations_and_boundaries() -> None:
    t = Thresholds()
    assert xyz_class([D(100)] * 6, t) == (0.0, "X")  # constant sales
    cv, cls = xyz_class([D(v) for v in (90, 110) * 3], t)
    assert cls == "X" and cv == pytest.approx(10.0)  # σ 10 on μ 100: exactly on X's boundary
    cv, cls = xyz_class([D(v) for v in (75, 125) * 3], t)
    assert cls == "Y" and cv == pytest.approx(25.0)  # exactly on Y's boundary
    cv, cls = xyz_class([D(v) for v in (100, 0) * 3], t)
    assert cls == "Z" and cv == pytest.approx(100.0)
    assert xyz_class([D(100)] * 5, t) == (None, None)  # too short a history
    assert xyz_class([D(0)] * 6, t) == (None, "Z")  # nothing but zero months
    assert xyz_class([D(100)] * 3, Thresholds(min_months=3)) == (0.0, "X")


# -- RFM by hand


def test_quintiles_and_segments() -> None:
    assert quintiles([1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    assert quintiles([10, 10, 30, 40, 50, 60, 70, 80, 90, 100]) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintiles([7, 7, 7]) == [1, 1, 1]  # ties share a score
    assert quintiles([5]) == [1]
    assert segment(5, 5, 4) == "champions"
    assert segment(5, 1, 2) == "new"
    assert segment(3, 4, 3) == "loyal"
    assert segment(4, 2, 2) == "promising"
    assert segment(2, 4, 4) == "at_risk"
    assert segment(3, 1, 2) == "needs_attention"
    assert segment(1, 1, 1) == "lost"
    assert segment(2, 1, 2) == "hibernating"
    clients = analytics.rfm_scores(
        [
            analytics.RfmClient("recent-big", 3, 12, D(900)),
            analytics.RfmClient("old-big", 300, 10, D(800)),
            analytics.RfmClient("recent-once", 5, 1, D(10)),
            analytics.RfmClient("old-small", 400, 1, D(5)),
            analytics.RfmClient("middle", 60, 4, D(100)),
        ]
    )
    got = {c.counterparty_id: (c.score, c.segment) for c in clients}
    assert got == {
        "recent-big": ("555", "champions"),
        "old-big": ("244", "at_risk"),
        "recent-once": ("412", "new"),
        "old-small": ("111", "lost"),
        "middle": ("333", "loyal"),
    }


def test_months_and_period_edges() -> None:
    assert periods.months(date(2025, 11, 15), date(2026, 2, 3)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    assert periods.last_day(date(2024, 2, 1)) == date(2024, 2, 29)


# -- over a database


def _company(database: Database) -> dict[str, Any]:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    rt = records.record_type("counterparties")
    ids: dict[str, str] = {}
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        for n, (name, owner) in enumerate(
            [
                ("ООО Альфа", "ivanov"),
                ("ООО Бета", "ivanov"),
                ("ООО Гамма", "petrov"),
                ("ООО Дельта", "petrov"),
                ("ООО Эпсилон", "ivanov"),
            ]
        ):
            cp = records.create(
                session,
                users[owner],
                rt,
                {"legal_name": name, "inn": inn10(f"77{n:07d}"), "visibility": "private"},
            )
            ids[name] = cp.id
    return ids


def _sales_csv(path: Path, rows: list[tuple[str, str, str, str, str, str]]) -> Path:
    lines = ["Номер;Дата;ИНН;Менеджер;Сумма;Себестоимость;Номенклатурная группа"]
    lines += [";".join(r[:3]) + ";ivanov;" + ";".join(r[3:]) for r in rows]
    path.write_bytes("\r\n".join(lines).encode("cp1251"))
    return path


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _monthly_rows(ids: dict[str, str]) -> list[tuple[str, str, str, str, str, str]]:
    """Twelve months of 2025: Альфа buys 1,000 a month steadily, Бета 300 in alternate months,
    Гамма 400 every month but with 10 % swing, Дельта once 2,000 in March, Эпсилон nothing."""
    inns = {name: inn10(f"77{n:07d}") for n, name in enumerate(ids)}
    rows = []
    for m in range(1, 13):
        rows.append(
            (f"А-{m}", f"15.{m:02d}.2025", inns["ООО Альфа"], "1000,00", "700,00", "Кольца")
        )
        if m % 2:
            rows.append((f"Б-{m}", f"10.{m:02d}.2025", inns["ООО Бета"], "600", "", "Серьги"))
        swing = 440 if m % 2 else 360
        rows.append((f"Г-{m}", f"20.{m:02d}.2025", inns["ООО Гамма"], str(swing), "300", "Кольца"))
    rows.append(("Д-1", "05.03.2025", inns["ООО Дельта"], "2 000,00", "1900", "Цепи"))
    return rows


def test_sales_import_classification_and_what_a_salesperson_sees(
    database: Database, tmp_path: Path
) -> None:
    ids = _company(database)
    path = _sales_csv(tmp_path / "sales.csv", _monthly_rows(ids))
    with database.write() as session:
        report = trade.import_sales(session, _user(session, "office"), path)
    assert (report.created, report.skipped) == (31, 0)
    with database.write() as session:  # the same export again adds nothing
        again = trade.import_sales(session, _user(session, "office"), path)
    assert (again.created, again.skipped, again.months) == (0, 31, 0)
    with database.read() as session:
        assert len(session.execute(select(Sale)).all()) == 31
        summaries = {
            s.counterparty_id: (s.groups, s.months.split(";"))
            for s in session.execute(select(SalesSummary)).scalars()
        }
        # One entry per client and month (one group each here), amounts in kopecks.
        assert sorted(len(m) for _, m in summaries.values()) == [1, 6, 12, 12]
        assert summaries[ids["ООО Альфа"]][0] == ["Кольца"]
        assert summaries[ids["ООО Альфа"]][1][:2] == [
            "2025-01,0,100000,70000,1,15",
            "2025-02,0,100000,70000,1,15",
        ]
        assert summaries[ids["ООО Бета"]][1][0] == "2025-01,0,60000,,1,10"  # 1C gave no cost

    start, end = date(2025, 1, 1), date(2025, 12, 31)
    with database.read() as session:
        office = analytics.classify(session, _user(session, "office"), start, end)
    got = {c.counterparty_id: (c.abc, c.xyz, c.amount) for c in office.clients}
    # Revenue: Альфа 12,000, Гамма 4,800, Бета 3,600, Дельта 2,000 — total 22,400.
    # Above Гамма 53.6 % → A; above Бета 75 % → B; above Дельта 91.1 % → C.
    assert got[ids["ООО Альфа"]] == ("A", "X", D("12000.00"))
    assert got[ids["ООО Гамма"]] == ("A", "X", D("4800.00"))  # σ 40 on μ 400: 10 %
    assert got[ids["ООО Бета"]] == ("B", "Z", D("3600.00"))  # 600, 0, 600, …: 100 %
    assert got[ids["ООО Дельта"]][:2] == ("C", "Z")  # one month in ten since March
    assert ids["ООО Эпсилон"] not in got  # no sales: not classified
    assert office.total == D("22400.00")
    assert office.matrix()[("A", "X")] == (2, D("16800.00"))

    # Gross profit: Альфа 3,600, Гамма 1,200, Дельта 100; Бета's cost is unknown: no profit.
    with database.read() as session:
        profit = analytics.classify(
            session, _user(session, "office"), start, end, basis="profit"
        ).by_id()
    assert profit[ids["ООО Альфа"]].amount == D("3600.00")
    assert profit[ids["ООО Бета"]].amount == D(0) and profit[ids["ООО Бета"]].abc == "C"

    # Ivanov sees his clients only, and for them the server's monthly figures.
    with database.read() as session:
        mine = analytics.classify(session, _user(session, "ivanov"), start, end)
        rfm = analytics.rfm(session, _user(session, "ivanov"), start, end)
    assert {c.counterparty_id for c in mine.clients} == {ids["ООО Альфа"], ids["ООО Бета"]}
    assert {c.counterparty_id: c.series for c in mine.clients} == {
        c.counterparty_id: c.series
        for c in office.clients
        if c.counterparty_id in {ids["ООО Альфа"], ids["ООО Бета"]}
    }
    assert {c.counterparty_id for c in rfm} == {ids["ООО Альфа"], ids["ООО Бета"]}
    alpha = next(c for c in rfm if c.counterparty_id == ids["ООО Альфа"])
    assert (alpha.recency_days, alpha.frequency, alpha.monetary) == (16, 12, D("12000.00"))


def test_classes_are_kept_and_moves_shown(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    inns = {name: inn10(f"77{n:07d}") for n, name in enumerate(ids)}
    first = _sales_csv(
        tmp_path / "q1.csv",
        [
            ("1", "10.01.2026", inns["ООО Альфа"], "700", "", ""),
            ("2", "10.01.2026", inns["ООО Бета"], "200", "", ""),
            ("3", "10.01.2026", inns["ООО Гамма"], "100", "", ""),
        ],
    )
    with database.write() as session:
        office = _user(session, "office")
        trade.import_sales(session, office, first)
        run1 = trade.store_classification(
            session,
            office,
            analytics.classify(session, office, date(2026, 1, 1), date(2026, 1, 31)),
        )
        run1.computed_at = run1.computed_at.replace(year=2025)  # computed last year
    with database.read() as session:
        cards = {
            cp.id: cp.abc_class
            for cp in session.execute(select(Counterparty)).scalars()
            if cp.abc_class
        }
    assert cards == {ids["ООО Альфа"]: "A", ids["ООО Бета"]: "B", ids["ООО Гамма"]: "C"}
    with database.read() as session:  # every list filters by the class
        page = records.list_records(
            session,
            _user(session, "ivanov"),
            records.record_type("counterparties"),
            filters={"abc_class": "B"},
        )
    assert [cp.id for cp in page.items] == [ids["ООО Бета"]]

    second = _sales_csv(
        tmp_path / "q2.csv",
        [("4", "10.02.2026", inns["ООО Гамма"], "5000", "", "")],
    )
    with database.write() as session:
        office = _user(session, "office")
        trade.import_sales(session, office, second)
        trade.store_classification(
            session,
            office,
            analytics.classify(session, office, date(2026, 1, 1), date(2026, 2, 28)),
        )
    with database.read() as session:
        older, newest, moved = trade.moves(
            session, _user(session, "office"), since=date(2026, 1, 1)
        )
        assert older is not None and older.id == run1.id
        assert {(m.name, m.before, m.after) for m in moved} == {
            ("ООО Альфа", "A", "B"),
            ("ООО Гамма", "C", "A"),
            ("ООО Бета", "B", "C"),
        }
        # Ivanov sees the moves of his own clients only.
        _, _, his = trade.moves(session, _user(session, "ivanov"), since=date(2026, 1, 1))
        assert {m.name for m in his} == {"ООО Альфа", "ООО Бета"}
        assert len(session.execute(select(ClassMark)).all()) == 6


def test_a_bad_sales_file_imports_nothing_and_lists_every_line(
    database: Database, tmp_path: Path
) -> None:
    ids = _company(database)
    inns = {name: inn10(f"77{n:07d}") for n, name in enumerate(ids)}
    path = _sales_csv(
        tmp_path / "bad.csv",
        [
            ("1", "10.01.2026", inns["ООО Альфа"], "900", "", ""),
            ("2", "31.02.2026", inns["ООО Бета"], "80", "", ""),
            ("3", "10.01.2026", "7700000000", "20", "", ""),
            ("4", "10.01.2026", inns["ООО Гамма"], "12O", "", ""),
        ],
    )
    with database.write() as session, pytest.raises(ImportFailed) as failed:
        trade.import_sales(session, _user(session, "office"), path)
    details = "\n".join(failed.value.details)
    assert "row 3" in details and "31.02.2026" in details
    assert "row 4" in details and "row 5" in details and "'12O' is not an amount" in details
    assert "row 2" not in details
    with database.read() as session:
        assert session.execute(select(Sale)).first() is None
        assert session.execute(select(SalesSummary)).first() is None


def test_only_the_office_imports_and_nobody_writes_monthly_totals(
    database: Database, tmp_path: Path
) -> None:
    ids = _company(database)
    path = _sales_csv(tmp_path / "s.csv", _monthly_rows(ids)[:3])
    with database.write() as session, pytest.raises(PermissionDenied):
        trade.import_sales(session, _user(session, "ivanov"), path)
    with database.write() as session:
        trade.import_sales(session, _user(session, "office"), path)
    months = records.record_type("sales-summaries")
    with database.write() as session:
        for login in ("ivanov", "office"):
            with pytest.raises(Exception) as refused:
                records.create(
                    session,
                    _user(session, login),
                    months,
                    {"counterparty_id": ids["ООО Альфа"]},
                )
            assert type(refused.value).__name__ in ("PermissionDenied", "ValidationFailed")
    with database.read() as session:
        assert len(session.execute(select(SalesSummary)).all()) == 3


def test_deleting_a_counterparty_takes_its_sales_and_months(
    database: Database, tmp_path: Path
) -> None:
    ids = _company(database)
    with database.write() as session:
        trade.import_sales(
            session, _user(session, "office"), _sales_csv(tmp_path / "s.csv", _monthly_rows(ids))
        )
    make_user(database, "admin", role="admin", team=None)
    with database.write() as session:
        records.delete(
            session,
            _user(session, "admin"),
            records.record_type("counterparties"),
            ids["ООО Бета"],
        )
    with database.read() as session:
        assert not session.execute(
            select(Sale).where(col(Sale.counterparty_id) == ids["ООО Бета"])
        ).first()
        assert not session.execute(
            select(SalesSummary).where(col(SalesSummary.counterparty_id) == ids["ООО Бета"])
        ).first()


def test_a_sales_file_is_held_to_what_a_sale_can_be(database: Database, tmp_path: Path) -> None:
    """Found by an outside trial: kopecks past the second decimal were rounded away, amounts and
    dates no sale has were taken, a KPP no branch has matched by the INN alone; and a real 1C
    export's extra columns stopped the import."""
    ids = _company(database)
    inns = {name: inn10(f"77{n:07d}") for n, name in enumerate(ids)}
    with database.write() as session:  # Альфа has a KPP now; Бета has none
        alpha = session.get_one(Counterparty, ids["ООО Альфа"])
        alpha.kpp = "770101001"
    lines = [
        "Номер;Дата;ИНН;КПП;Сумма;Склад;Количество",
        f"1;10.01.2026;{inns['ООО Альфа']};770101001;500,001;Основной;3",
        f"2;10.01.2026;{inns['ООО Альфа']};770101001;10000000000000;Основной;3",
        f"3;12.11.1850;{inns['ООО Альфа']};770101001;100;Основной;3",
        f"4;12.11.2099;{inns['ООО Альфа']};770101001;100;Основной;3",
        f"5;10.01.2026;{inns['ООО Альфа']};999999999;100;Основной;3",
        f"6;10.01.2026;{inns['ООО Бета']};999999999;100;Основной;3",
        f"7;10.01.2026;{inns['ООО Альфа']};770101001;1 234,50;Основной;3",
    ]
    path = tmp_path / "sales.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1251"))
    with database.write() as session:
        report = trade.import_sales(session, _user(session, "office"), path, dry_run=True)
    problems = {e.row: e.message for e in report.errors}
    assert sorted(problems) == [2, 3, 4, 5, 6], problems
    assert "more than two decimals" in problems[2]
    assert "more than a sale can be" in problems[3]
    assert "shipment's date" in problems[4] and "shipment's date" in problems[5]
    assert "КПП 999999999" in problems[6]
    assert report.ignored == ["Склад", "Количество"]
    good = tmp_path / "good.csv"
    good.write_bytes("\r\n".join([lines[0], lines[6], lines[7]]).encode("cp1251"))
    with database.write() as session:
        report = trade.import_sales(session, _user(session, "office"), good)
    assert report.created == 2  # Бета has no KPP stored: any KPP is its
    with database.read() as session:
        amounts = sorted(s.revenue for s in session.execute(select(Sale)).scalars())
    assert amounts == [D("100.00"), D("1234.50")]


def _statement(*documents: tuple[str, str, str, str, str]) -> bytes:
    """A 1CClientBankExchange statement: (number, date, amount, payer INN, payer name) each, paid to us."""
    lines = [
        "1CClientBankExchange",
        "ВерсияФормата=1.03",
        "Кодировка=Windows",
        "РасчСчет=40702810900000000001",
    ]
    for number, day, amount, inn, name in documents:
        lines += [
            "СекцияДокумент=Платежное поручение",
            f"Номер={number}",
            f"Дата={day}",
            f"Сумма={amount}",
            f"ПлательщикСчет=407028100000000{number:0>5}",
            f"Плательщик={name}",
            f"ПлательщикИНН={inn}",
            "ПолучательСчет=40702810900000000001",
            "Получатель=ООО «Сатчел Трейд»",
            "НазначениеПлатежа=Оплата по счёту",
            "КонецДокумента",
        ]
    lines.append("КонецФайла")
    return "\r\n".join(lines).encode("cp1251")


def test_a_bank_statement_is_kept_once_matched_by_inn(database: Database) -> None:
    from crm.models import Payment

    ids = _company(database)
    inns = {name: inn10(f"77{n:07d}") for n, name in enumerate(ids)}
    raw = _statement(
        ("11", "02.10.2026", "150000.00", inns["ООО Альфа"], "ООО Альфа"),
        ("12", "03.10.2026", "2 500,50", inns["ООО Гамма"], "ООО Гамма"),
        ("13", "04.10.2026", "990.00", "7712345679", "ООО Незнакомец"),
    )
    with database.write() as session, pytest.raises(PermissionDenied):
        trade.import_statement(session, _user(session, "ivanov"), raw)
    with database.write() as session:
        report = trade.import_statement(session, _user(session, "office"), raw)
    assert (report.documents, report.created, report.matched, report.skipped) == (3, 3, 2, 0)
    assert len(report.unmatched) == 1 and "Незнакомец" in report.unmatched[0]
    with database.write() as session:  # the same statement again, and one overlapping it
        again = trade.import_statement(session, _user(session, "office"), raw)
        more = trade.import_statement(
            session,
            _user(session, "office"),
            _statement(
                ("12", "03.10.2026", "2500.50", inns["ООО Гамма"], "ООО Гамма"),
                ("14", "05.10.2026", "10.00", inns["ООО Бета"], "ООО Бета"),
            ),
        )
    assert (again.created, again.skipped) == (0, 3)
    assert (more.created, more.skipped, more.matched) == (1, 1, 1)
    with database.read() as session:
        kept = {p.number: p for p in session.execute(select(Payment)).scalars()}
    assert sorted(kept) == ["11", "12", "13", "14"]
    assert kept["11"].counterparty_id == ids["ООО Альфа"] and kept["11"].direction == "in"
    assert kept["12"].amount == D("2500.50") and kept["13"].counterparty_id is None
    # A statement with a broken document keeps nothing and says where.
    broken = _statement(
        ("15", "06.10.2026", "1.00", inns["ООО Альфа"], "ООО Альфа"),
        ("16", "31.02.2026", "1.00", inns["ООО Альфа"], "ООО Альфа"),
    )
    with database.write() as session, pytest.raises(ImportFailed) as failed:
        trade.import_statement(session, _user(session, "office"), broken)
    assert "31.02.2026" in " ".join(failed.value.details)
    with database.read() as session:
        assert len(session.execute(select(Payment)).all()) == 4


def test_a_merge_keeps_the_duplicates_sales_and_payments(
    database: Database, tmp_path: Path
) -> None:
    """The merged-away counterparty is deleted, and a deletion takes its sales: a merge moves them
    to the survivor first, so its revenue and its summary are whole."""
    from crm import merge
    from crm.models import Payment

    ids = _company(database)
    inns = {name: inn10(f"77{n:07d}") for n, name in enumerate(ids)}
    path = _sales_csv(
        tmp_path / "s.csv",
        [
            ("1", "10.01.2026", inns["ООО Альфа"], "700", "", ""),
            ("2", "10.02.2026", inns["ООО Бета"], "300", "", ""),
        ],
    )
    with database.write() as session:
        office = _user(session, "office")
        trade.import_sales(session, office, path)
        trade.import_statement(
            session, office, _statement(("9", "12.02.2026", "300.00", inns["ООО Бета"], "Бета"))
        )
    make_user(database, "admin", role="admin", team=None)
    with database.write() as session:  # Бета turns out to be Альфа entered twice, its INN a typo
        session.get_one(Counterparty, ids["ООО Бета"]).inn = None
    with database.write() as session:
        row = merge.merge(session, _user(session, "admin"), ids["ООО Альфа"], ids["ООО Бета"])
        assert row.moved["sales"] == 1 and row.moved["payments"] == 1
    with database.read() as session:
        owners = {s.counterparty_id for s in session.execute(select(Sale)).scalars()}
        assert owners == {ids["ООО Альфа"]}
        assert session.execute(select(Payment)).scalar_one().counterparty_id == ids["ООО Альфа"]
        summaries = {
            s.counterparty_id: s.months for s in session.execute(select(SalesSummary)).scalars()
        }
        assert list(summaries) == [ids["ООО Альфа"]]
        assert len(summaries[ids["ООО Альфа"]].split(";")) == 2
        result = analytics.classify(
            session, _user(session, "office"), date(2026, 1, 1), date(2026, 2, 28)
        )
    assert [(c.counterparty_id, c.amount) for c in result.clients] == [
        (ids["ООО Альфа"], D("1000.00"))
    ]
