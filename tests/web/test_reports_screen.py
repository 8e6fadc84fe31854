"""The reports screen (``/reports``) and its exports, on SQLite and PostgreSQL: a salesperson's
matrix, lists and files hold only their own clients; the matrix counts are the domain's; the
office sees who moved between classes; a hostile query gets a 400 page; both languages; the
laptop shows the same screen without the class history; and in Chromium the xlsx downloads."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from crm import accounts, analytics, periods, records, reports, trade
from crm.database import Database
from crm.models import User
from crm.models.trade import ClassMark, ClassRun
from server.process import running_server
from tests.clients.test_laptop_ui import laptops, server
from tests.conftest import SQLITE_ONLY, make_user
from tests.crm.test_duplicates import inn10
from tests.web.conftest import Web, user
from tests.web.test_browser import PASSWORD as BROWSER_PASSWORD
from tests.web.test_browser import _seed, browser, playwright, sign_in
from web.routes.reports import quarter_start

MSK = ZoneInfo("Europe/Moscow")  # the server's home shows its reports for Moscow's today

__all__ = ["browser", "laptops", "playwright", "server"]  # fixtures used below

COUNTERPARTIES = records.record_type("counterparties")
# name: (owner, monthly amounts over the last twelve full months, oldest first)
CLIENTS: dict[str, tuple[str, list[int]]] = {
    "ООО Альфа": ("ivanov", [1000] * 12),
    "ООО Бета": ("ivanov", [600, 0] * 6),
    "ООО Эпсилон": ("ivanov", [0] * 11 + [150]),
    "ООО Гамма": ("petrov", [440, 360] * 6),
    "ООО Дельта": ("petrov", [0, 0, 2000] + [0] * 9),
}


def _today() -> date:
    return datetime.now(MSK).date()


def _period() -> list[date]:
    starts, ends = reports.default_period(_today())
    return periods.months(starts, ends)


def _seed_sales(database: Database, tmp_path: Path) -> dict[str, str]:
    """The clients above, owned by ivanov and petrov (private), and their sales imported by the
    office from a 1C-style cp1251 CSV; the ids by name."""
    ids: dict[str, str] = {}
    inns: dict[str, str] = {}
    with database.write() as db:
        users = {u.login: u for u in db.execute(select(User)).scalars()}
        for n, (name, (owner, _sales)) in enumerate(CLIENTS.items()):
            inns[name] = inn10(f"77{n:07d}")
            cp = records.create(
                db,
                users[owner],
                COUNTERPARTIES,
                {"legal_name": name, "inn": inns[name], "visibility": "private"},
            )
            ids[name] = cp.id
    lines = ["Номер;Дата;ИНН;Сумма;Себестоимость"]
    for name, (_owner, sales) in CLIENTS.items():
        for i, (month, amount) in enumerate(zip(_period(), sales, strict=True)):
            if amount:
                day = month.replace(day=15).strftime("%d.%m.%Y")
                lines.append(f"{name[4:6]}-{i};{day};{inns[name]};{amount},00;{amount * 7 // 10}")
    path = tmp_path / "sales.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1251"))
    with database.write() as db:
        office = db.execute(select(User).where(col(User.login) == "office")).scalar_one()
        report = trade.import_sales(db, office, path)
        assert not report.errors and report.created == sum(
            1 for _o, sales in CLIENTS.values() for a in sales if a
        )
    return ids


def _company(web: Web, tmp_path: Path) -> dict[str, str]:
    user(web.database, "office", role="office", team=None)
    user(web.database, "ivanov")
    user(web.database, "petrov")
    return _seed_sales(web.database, tmp_path)


def _cells(html: str) -> dict[tuple[str, str], int]:
    return {
        (a, "-" if x == "none" else x): int(n)
        for a, x, n in re.findall(r'id="cell-([ABC])(X|Y|Z|none)" data-clients="(\d+)"', html)
    }


def test_a_salesperson_sees_only_their_own_clients_and_the_domains_matrix(
    web: Web, tmp_path: Path
) -> None:
    ids = _company(web, tmp_path)
    web.sign_in("ivanov")
    r = web.get("/reports")
    assert r.status_code == 200, r.text
    html = r.text
    assert "ООО Альфа" in html and "ООО Бета" in html
    assert "ООО Гамма" not in html and "ООО Дельта" not in html  # petrov's private clients
    assert f"/counterparties/{ids['ООО Альфа']}" in html
    assert f"/counterparties/{ids['ООО Гамма']}" not in html
    assert 'href="/reports"' in html  # the navigation's link
    assert 'href="/reports" id="reports-link"' in web.get("/").text  # and the agenda's

    starts, ends = reports.default_period(_today())
    with web.database.read() as db:
        ivanov = db.execute(select(User).where(col(User.login) == "ivanov")).scalar_one()
        result = analytics.classify(db, ivanov, starts, ends)
    expected = {(a, x): 0 for a in "ABC" for x in ("X", "Y", "Z", "-")}
    for (a, x), (count, _amount) in result.matrix().items():
        expected[(a, x)] = count
    assert _cells(html) == expected
    assert sum(expected.values()) == 3
    assert expected[("A", "X")] == 1  # Альфа buys the same every month
    # the amounts are money as on the other screens, and the salesperson sees no moves section
    assert "12 000,00" in html.replace("\xa0", " ").replace("\u202f", " ")
    assert 'id="moves-section"' not in html or "ООО Гамма" not in html

    # The office sees everyone's clients.
    web.client.cookies.clear()
    web.sign_in("office")
    assert "ООО Гамма" in web.get("/reports").text


def test_the_exports_are_the_reports_as_files(web: Web, tmp_path: Path) -> None:
    _company(web, tmp_path)
    web.sign_in("ivanov")
    first, last = _period()[0].isoformat()[:7], _period()[-1].isoformat()[:7]
    query = f"?from={first}&to={last}&basis=revenue&days=60"
    r = web.get("/reports/export/abc.xlsx" + query)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert r.headers["content-disposition"] == (
        f'attachment; filename="abc-{_today().isoformat()}.xlsx"'
    )
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 4  # the header and ivanov's three clients
    names = [row[1] for row in rows[1:]]
    assert names[0] == "ООО Альфа" and set(names) == {"ООО Альфа", "ООО Бета", "ООО Эпсилон"}

    csv = web.get("/reports/export/neglected.csv" + query)
    assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
    text = csv.content.decode("utf-8-sig")
    assert "ООО Альфа" in text and "ООО Гамма" not in text
    for name in ("matrix", "rfm"):
        for kind in ("xlsx", "csv"):
            assert web.get(f"/reports/export/{name}.{kind}").status_code == 200, (name, kind)
    matrix = openpyxl.load_workbook(io.BytesIO(web.get("/reports/export/matrix.xlsx").content))
    assert matrix.active is not None and matrix.active.max_row == 4  # header, A, B, C


def test_the_office_sees_who_moved_between_classes(web: Web, tmp_path: Path) -> None:
    ids = _company(web, tmp_path)
    web.sign_in("office")
    page = web.get("/reports").text
    assert 'id="moves-none"' in page  # nothing kept before this quarter to compare with

    starts, ends = reports.default_period(_today())
    with web.database.write() as db:
        office = db.execute(select(User).where(col(User.login) == "office")).scalar_one()
        result = analytics.classify(db, office, starts, ends)
        older = trade.store_classification(db, office, result, apply=False)
        db.execute(
            update(ClassRun)
            .where(col(ClassRun.id) == older.id)
            .values(
                computed_at=datetime.combine(
                    quarter_start(_today()) - timedelta(days=10),
                    datetime.min.time(),
                    tzinfo=UTC,
                )
            )
        )
        db.execute(
            update(ClassMark)
            .where(col(ClassMark.run_id) == older.id)
            .where(col(ClassMark.counterparty_id) == ids["ООО Альфа"])
            .values(abc="C")
        )
        trade.store_classification(db, office, result, apply=False)
    page = web.get("/reports").text
    moves = page[page.index('id="moves-section"') : page.index('id="neglected-section"')]
    assert "ООО Альфа" in moves and "<td>C</td><td>A</td>" in moves
    assert "ООО Бета" not in moves
    r = web.get("/reports/export/moves.xlsx")
    assert r.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(r.content)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert [row[:3] for row in rows[1:]] == [("ООО Альфа", "C", "A")]


def test_the_neglected_clients_and_their_days(web: Web, tmp_path: Path) -> None:
    ids = _company(web, tmp_path)
    with web.database.write() as db:
        ivanov = db.execute(select(User).where(col(User.login) == "ivanov")).scalar_one()
        records.create(
            db,
            ivanov,
            records.record_type("interactions"),
            {
                "counterparty_id": ids["ООО Альфа"],
                "kind": "call",
                "status": "done",
                "subject": "Звонок",
                "starts_at": (datetime.now(UTC) - timedelta(days=20)).isoformat(),
            },
        )
    web.sign_in("ivanov")
    section = _section(web.get("/reports").text, "neglected")
    assert "ООО Бета" in section and "ООО Альфа" not in section  # called 20 days ago
    section = _section(web.get("/reports?days=10").text, "neglected")
    assert "ООО Альфа" in section


def _between(html: str, start: str, end: str) -> str:
    first = html.index(start)
    return html[first : html.index(end, first)]


def _section(html: str, name: str) -> str:
    start = html.index(f'id="{name}-section"')
    return html[start : html.index("</section>", start)]


@SQLITE_ONLY  # the query is read and refused before any SQL decides anything
@pytest.mark.parametrize(
    "path",
    [
        "/reports?from=2025-13-01",
        "/reports?from=2025-13",
        "/reports?to=banana",
        "/reports?from=2026-05&to=2026-01",
        "/reports?from=1900-01&to=2026-01",
        "/reports?from=1950-01&to=1950-06",  # before any company's history (crm.periods.YEARS)
        "/reports?from=9999-01&to=9999-12",
        "/reports?days=0",
        "/reports?days=3651",
        "/reports?days=-5",
        "/reports?days=1e3",
        "/reports?days=%D9%A3",  # an Arabic-Indic digit is a digit to str.isdigit
        "/reports?basis=x",
        "/reports?basis=%3Cscript%3E",
        "/reports/export/abc.pdf",
        "/reports/export/secret.xlsx",
        "/reports/export/abc.xlsx?days=0",
        "/reports/export/abc.xlsx.csv",
        "/reports/export/ABC.XLSX",
    ],
)
def test_a_hostile_query_gets_the_400_page(web: Web, path: str) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    r = web.get(path)
    assert r.status_code == 400, (path, r.status_code)
    assert "Traceback" not in r.text and "<script>" not in r.text
    assert "text/html" in r.headers["content-type"]


def test_the_screen_speaks_russian_and_english(web: Web, tmp_path: Path) -> None:
    _company(web, tmp_path)
    web.sign_in("ivanov")
    ru = web.get("/reports").text
    assert "<h1>Отчёты</h1>" in ru and "Матрица ABC × XYZ" in ru and "Сегменты RFM" in ru
    assert "Без контакта 60 дней" in ru
    segments = _between(ru, 'id="segments"', "</ul>")
    assert segments.count("<li") == len(set(re.findall(r'id="segment-(\w+)"', segments)))
    starts, ends = reports.default_period(_today())
    with web.database.read() as db:
        ivanov = db.execute(select(User).where(col(User.login) == "ivanov")).scalar_one()
        expected = {c.segment for c in analytics.rfm(db, ivanov, starts, ends)}
    assert set(re.findall(r'id="segment-(\w+)"', segments)) == expected
    russian = {"at_risk": "Под угрозой ухода", "lost": "Потерянные", "hibernating": "Спящие"}
    english = {"at_risk": "At risk", "lost": "Lost clients", "hibernating": "Hibernating"}
    assert all(russian[s] in segments for s in expected if s in russian)
    with web.database.write() as db:
        db.execute(update(User).where(col(User.login) == "ivanov").values(locale="en"))
    en = web.get("/reports").text
    assert '<html lang="en">' in en and "<h1>Reports</h1>" in en
    assert "ABC × XYZ matrix" in en and "Not contacted for 60 days" in en
    assert "Матрица" not in en
    segments = _between(en, 'id="segments"', "</ul>")
    assert all(english[s] in segments for s in expected if s in english)


def test_signed_out_the_screen_asks_to_sign_in(web: Web) -> None:
    r = web.client.get("/reports?days=5", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
    assert web.client.get("/reports/export/abc.xlsx", follow_redirects=False).status_code == 303


@SQLITE_ONLY  # the laptop's screens over its own replica; the server's database does not matter
def test_the_laptop_shows_the_reports_without_the_class_history(
    database: Database, server: Any, laptops: Any, tmp_path: Path
) -> None:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    _seed_sales(database, tmp_path)
    laptop = laptops("ivanov")
    laptop.launch()
    # The header has no room for it on a laptop; the agenda leads there.
    assert f'href="{laptop.prefix}/reports" id="reports-link"' in laptop.ui.get("/").text
    r = laptop.ui.get("/reports")
    assert r.status_code == 200, r.text
    assert "ООО Альфа" in r.text and "ООО Гамма" not in r.text
    assert 'id="moves-section"' not in r.text
    assert f'href="{laptop.prefix}/reports/export/abc.xlsx?' in r.text
    assert sum(_cells(r.text).values()) == 3
    assert laptop.ui.get("/reports/export/moves.xlsx").status_code == 404
    xlsx = laptop.ui.get("/reports/export/abc.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


# -- in Chromium


@pytest.fixture(scope="module")
def sales_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The browser tests' company (``_seed``) with sales of ivanov's clients."""
    folder = tmp_path_factory.mktemp("reports-browser")
    url = f"sqlite:///{folder / 'satchel.db'}"
    ids = _seed(url)
    database = Database(url)
    with database.write() as db:  # who signs in here has the browser tests' password
        accounts.create_user(
            db,
            login="office",
            full_name="Офисная Александра Вячеславовна",
            password=BROWSER_PASSWORD,
            role="office",
            team=None,
        )
    make_user(database, "petrov")
    ids |= _seed_sales(database, folder)
    database.dispose()
    with running_server(url, timeout=90) as base:
        yield base, ids


@pytest.fixture
def page(browser: Any, sales_server: tuple[str, dict[str, str]]) -> Iterator[Any]:
    """A Chromium tab at 1366×768 in Russian, as ``tests/web/test_browser.py`` opens one."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="ru-RU", accept_downloads=True
    )
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()


def test_the_matrix_in_a_browser_and_its_xlsx_download(
    page: Any, sales_server: tuple[str, dict[str, str]]
) -> None:
    base, _ids = sales_server
    sign_in(page, base, "ivanov")
    page.get_by_role("link", name="Отчёты", exact=True).click()
    page.wait_for_url(base + "/reports")
    assert page.get_by_role("heading", name="Матрица ABC × XYZ").is_visible()
    assert page.locator("#matrix tbody tr").count() == 3
    assert page.locator("#cell-AX").get_attribute("data-clients") == "1"
    assert page.locator("#abc").get_by_text("ООО Альфа").is_visible()
    with page.expect_download() as event:
        page.locator("#export-abc-xlsx").click()
    download = event.value
    assert download.suggested_filename == f"abc-{_today().isoformat()}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    assert book.active is not None
    assert [row[1] for row in book.active.iter_rows(min_row=2, values_only=True)][0] == "ООО Альфа"


@pytest.mark.parametrize("login", ["ivanov", "office"])
def test_the_reports_fit_a_1366_by_768_laptop(
    page: Any, sales_server: tuple[str, dict[str, str]], login: str
) -> None:
    """No sideways scrolling, and the header, with the office's longest menu, stays one line."""
    base, _ids = sales_server
    sign_in(page, base, login)
    page.goto(base + "/reports")
    assert page.get_by_role("heading", name="Отчёты", exact=True).is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    header = page.evaluate("document.querySelector('header.top').getBoundingClientRect().height")
    assert (width <= 1366, header < 60) == (True, True), (width, header)
