"""The deal and activity sections of ``/reports`` and their exports, on SQLite and PostgreSQL: the
funnel (with its bars), lost reasons, sources and activity over what the user sees, in Russian
and English, the same numbers as the domain's, and a hostile query gets the 400 page."""

from __future__ import annotations

import io
import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import col

from crm.models import User
from tests.conftest import SQLITE_ONLY
from tests.crm.test_pipeline import pipeline_company
from tests.web.conftest import Web, user

QUERY = "?from=2026-01&to=2026-03"


def _section(html: str, name: str) -> str:
    start = html.index(f'id="{name}-section"')
    return html[start : html.index("</section>", start)]


def test_the_sections_show_what_the_user_sees(web: Web, tmp_path: Path) -> None:
    pipeline_company(web.database, tmp_path)
    web.sign_in("ivanov")
    page = web.get("/reports" + QUERY)
    assert page.status_code == 200, page.text
    html = page.text
    for name in ("funnel", "lost", "sources", "activity"):  # the table of contents
        assert f'href="#{name}-section" id="tab-{name}"' in html
    funnel = _section(html, "funnel")
    reached = dict(re.findall(r'id="funnel-(\w+)" data-deals="\d+" data-reached="(\d+)"', funnel))
    assert reached == {
        "new": "10",
        "qualification": "4",
        "proposal": "3",
        "negotiation": "2",
        "won": "1",
        "lost": "5",
    }
    assert funnel.count("<svg") == 6 and 'width="100" height="8" fill="#3b6fb6"' in funnel
    assert "Проиграна" in funnel and "Воронка сделок" in funnel
    lost = _section(html, "lost")
    assert "дорого" in lost and "не указана" in lost and "Выбрали конкурента" not in lost
    sources = _section(html, "sources")
    assert "Сайт" in sources and "Выставка" not in sources and "источник не указан" in sources
    activity = _section(html, "activity")
    assert 'id="activity-ivanov"' in activity and 'id="activity-petrov"' not in activity

    web.client.cookies.clear()
    web.sign_in("office")
    html = web.get("/reports" + QUERY).text
    assert "Выбрали конкурента" in _section(html, "lost")
    assert 'id="activity-petrov"' in _section(html, "activity")
    assert 'data-reached="13"' in _section(html, "funnel")


def test_the_exports_and_an_empty_period(web: Web, tmp_path: Path) -> None:
    pipeline_company(web.database, tmp_path)
    web.sign_in("ivanov")
    for name in ("funnel", "lost", "sources", "activity"):
        r = web.get(f"/reports/export/{name}.xlsx" + QUERY)
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-disposition"].startswith(f'attachment; filename="{name}-')
        assert web.get(f"/reports/export/{name}.csv" + QUERY).status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(web.get("/reports/export/lost.xlsx" + QUERY).content))
    assert sheet.active is not None
    assert [row[0] for row in sheet.active.iter_rows(min_row=2, values_only=True)] == [
        "дорого",
        "не указана / not given",
        "Нет бюджета",
    ]
    html = web.get("/reports?from=2020-01&to=2020-03").text
    for name in ("funnel", "lost", "sources", "activity"):
        assert f'id="{name}-empty"' in html, name


def test_the_sections_speak_english(web: Web, tmp_path: Path) -> None:
    pipeline_company(web.database, tmp_path)
    with web.database.write() as db:
        db.execute(update(User).where(col(User.login) == "ivanov").values(locale="en"))
    web.sign_in("ivanov")
    html = web.get("/reports" + QUERY).text
    assert "Deals funnel" in html and "Lost reasons" in html
    assert "Where the clients come from" in html and "Overdue" in html
    assert "Воронка" not in html and "source not given" in html


@SQLITE_ONLY  # the query is read and refused before any SQL decides anything
@pytest.mark.parametrize(
    "path",
    [
        "/reports/export/funnel.pdf",
        "/reports/export/funnel.xlsx?from=9999-01&to=9999-12",
        "/reports/export/lost.csv?from=2026-05&to=2026-01",
        "/reports/export/sources.xlsx?to=banana",
        "/reports/export/activity.xlsx?days=0",
    ],
)
def test_a_hostile_export_gets_the_400_page(web: Web, path: str) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    r = web.get(path)
    assert r.status_code == 400, (path, r.status_code)
    assert "text/html" in r.headers["content-type"]
