"""Receivables in the browser, on SQLite and PostgreSQL: the reports screen's section (a
salesperson's own clients only, overdue amounts marked, both languages) and its XLSX/CSV exports,
and the card's open invoices, overdue ones marked; a client that owes nothing shows no section."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import select, update
from sqlmodel import col

from crm import invoices, records
from crm.invoices import InvoiceRow
from crm.models import User
from tests.crm.test_duplicates import inn10
from tests.web.conftest import Web, user

D = Decimal
MSK = ZoneInfo("Europe/Moscow")  # the server's home shows its reports for Moscow's today


def _company(web: Web) -> dict[str, str]:
    """Ivanov's Альфа owes 1,000 overdue 40 days and 300 not yet due; Бета owes nothing; Petrov's
    private Гамма owes 5,000 overdue 100 days."""
    for login, role in (("office", "office"), ("ivanov", "salesperson"), ("petrov", "salesperson")):
        user(web.database, login, role=role, team=None if role == "office" else "Москва")
    rt = records.record_type("counterparties")
    today = datetime.now(MSK).date()
    ids: dict[str, str] = {}
    with web.database.write() as db:
        users = {u.login: u for u in db.execute(select(User)).scalars()}
        for n, (name, owner) in enumerate(
            (("ООО Альфа", "ivanov"), ("ООО Бета", "ivanov"), ("ООО Гамма", "petrov"))
        ):
            ids[name] = records.create(
                db,
                users[owner],
                rt,
                {"legal_name": name, "inn": inn10(f"76{n:07d}"), "visibility": "private"},
            ).id
        invoices.store_invoices(
            db,
            users["office"],
            [
                InvoiceRow(
                    "А-1",
                    today - timedelta(days=50),
                    ids["ООО Альфа"],
                    D("1000.00"),
                    today - timedelta(days=40),
                ),
                InvoiceRow("А-2", today, ids["ООО Альфа"], D("300.00"), today + timedelta(days=14)),
                InvoiceRow(
                    "Г-1",
                    today - timedelta(days=110),
                    ids["ООО Гамма"],
                    D("5000.00"),
                    today - timedelta(days=100),
                ),
            ],
        )
    return ids


def _section(html: str, name: str) -> str:
    start = html.index(f'id="{name}"')
    return html[start : html.index("</section>", start)]


def _plain(html: str) -> str:
    return html.replace("\xa0", " ").replace("\u202f", " ")


def test_the_reports_screen_shows_what_a_salespersons_clients_owe(web: Web) -> None:
    ids = _company(web)
    web.sign_in("ivanov")
    html = web.get("/reports").text
    section = _plain(_section(html, "receivables-section"))
    assert "Дебиторская задолженность" in section and 'id="tab-receivables"' in html
    assert "ООО Альфа" in section and "ООО Гамма" not in section and "ООО Бета" not in section
    row = section[section.index(f'id="receivables-{ids["ООО Альфа"]}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="overdue"' in row and '<span class="tag warning">1 000,00' in row
    assert "1 300,00" in row and "300,00" in row and "40" in row  # owed, not yet due, days
    assert "Должников" in section and 'id="receivables-owner-ivanov"' in section

    web.client.cookies.clear()
    web.sign_in("office")
    everyone = _plain(_section(web.get("/reports").text, "receivables-section"))
    assert everyone.index("ООО Гамма") < everyone.index("ООО Альфа")  # the most overdue first
    assert "6 300,00" in everyone  # owed in all

    with web.database.write() as db:
        db.execute(update(User).where(col(User.login) == "office").values(locale="en"))
    en = _section(web.get("/reports").text, "receivables-section")
    assert "Receivables" in en and "Over 90 days" in en and "Дебиторская" not in en


def test_the_receivables_export_as_files(web: Web) -> None:
    _company(web)
    web.sign_in("ivanov")
    r = web.get("/reports/export/receivables.xlsx")
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2 and rows[1][0] == "ООО Альфа"  # the header and his one debtor
    overdue = rows[0].index("Просрочено / Overdue")
    assert rows[1][overdue] == 1000
    text = web.get("/reports/export/receivables-owners.csv")
    assert text.status_code == 200 and "ivanov" in text.content.decode("utf-8-sig")


def test_the_card_lists_its_open_invoices_overdue_ones_marked(web: Web) -> None:
    ids = _company(web)
    web.sign_in("ivanov")
    card = _plain(web.get(f"/counterparties/{ids['ООО Альфа']}").text)
    section = _section(card, "open-invoices")
    assert "Счета к оплате" in section and "Долг: 1 300,00" in section
    assert "№ А-1" in section and "№ А-2" in section
    first = section[section.index("№ А-1") :]
    assert "просрочен на 40 дн." in first[: first.index("</tr>")]
    second = section[section.index("№ А-2") :]
    assert "просрочен" not in second[: second.index("</tr>")]
    assert 'id="open-invoices"' not in web.get(f"/counterparties/{ids['ООО Бета']}").text
    assert web.get(f"/counterparties/{ids['ООО Гамма']}").status_code == 404
