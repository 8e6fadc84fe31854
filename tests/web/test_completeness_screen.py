"""How complete the cards are, and their ABC/XYZ class, where people look — on SQLite and
PostgreSQL: the completeness section of ``/reports`` (per salesperson and per card, over what the
user sees, in Russian and English) and its exports, and on the counterparty card the class as a
read-only badge («A/X»; nothing when the card has none) and the score with what is missing."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import col

from crm.models import Counterparty, User
from tests.conftest import SQLITE_ONLY
from tests.crm.test_completeness import completeness_company
from tests.web.conftest import Web, home_today, user


def _section(html: str) -> str:
    start = html.index('id="completeness-section"')
    return html[start : html.index("</section>", start)]


def _scores(html: str) -> list[tuple[str, str]]:
    return re.findall(r'id="completeness-([0-9a-f-]{36})" data-score="(\d+)"', _section(html))


def test_the_section_shows_what_the_user_sees(web: Web) -> None:
    ids = completeness_company(web.database, home_today())
    web.sign_in("ivanov")
    html = web.get("/reports").text
    assert 'href="#completeness-section" id="tab-completeness"' in html
    assert _scores(html) == [(ids["empty"], "5"), (ids["full"], "100")]
    section = _section(html)
    assert "Полнота данных" in section and "Пустая" in section and "Старая" not in section
    assert 'id="completeness-owner-ivanov"' in section
    assert 'id="completeness-owner-petrov"' not in section
    # What is missing, in words, in the user's language.
    assert "телефон или e-mail контактного лица" in section and "отрасль" in section
    assert 'href="/reports/export/completeness-owners.xlsx?' in section

    web.client.cookies.clear()
    web.sign_in("office")
    html = web.get("/reports").text
    assert [score for _id, score in _scores(html)] == ["5", "42", "90", "100"]
    owners = re.findall(
        r'id="completeness-owner-(\w+)"><td>[^<]*</td><td>(\d+)</td><td>([\d,]+)</td><td>(\d+)</td>',
        _section(html),
    )
    assert owners == [("ivanov", "2", "52,5", "1"), ("petrov", "2", "66,0", "1")]


def test_the_exports(web: Web) -> None:
    completeness_company(web.database, home_today())
    web.sign_in("office")
    for name in ("completeness", "completeness-owners"):
        for kind in ("xlsx", "csv"):
            r = web.get(f"/reports/export/{name}.{kind}")
            assert r.status_code == 200, (name, kind, r.text)
            assert r.headers["content-disposition"].startswith(f'attachment; filename="{name}-')
    sheet = openpyxl.load_workbook(
        io.BytesIO(web.get("/reports/export/completeness.xlsx").content)
    ).active
    assert sheet is not None
    assert [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)] == [5, 42, 90, 100]


def test_the_section_and_the_card_speak_english(web: Web) -> None:
    ids = completeness_company(web.database, home_today())
    with web.database.write() as db:
        db.execute(update(User).where(col(User.login) == "petrov").values(locale="en"))
    web.sign_in("petrov")
    section = _section(web.get("/reports").text)
    assert "Data completeness" in section and "a contact person's phone or email" in section
    assert "Полнота" not in section and "контактного" not in section
    card = web.get(f"/counterparties/{ids['old']}").text
    assert "Completeness: 90 %" in card
    assert "missing: a contact person's phone or email, a contact in the last 180 days" in card


def test_the_card_shows_its_class_and_completeness(web: Web) -> None:
    ids = completeness_company(web.database, home_today())
    web.sign_in("petrov")
    html = web.get(f"/counterparties/{ids['old']}").text
    quality = html[
        html.index('id="cp-quality"') : html.index("</p>", html.index('id="cp-quality"'))
    ]
    assert 'id="cp-completeness" data-score="90"' in quality and "Заполнено: 90 %" in quality
    assert (
        "не хватает: телефон или e-mail контактного лица, контакт за последние 180 дней" in quality
    )
    assert 'id="cp-class"' not in quality  # no class: no badge
    full = web.get(f"/counterparties/{ids['trader']}").text
    assert 'data-score="42"' in full

    for abc, xyz, shown in (("A", "X", "A/X"), ("B", None, "B"), ("C", "Z", "C/Z")):
        with web.database.write() as db:
            db.execute(
                update(Counterparty)
                .where(col(Counterparty.id) == ids["old"])
                .values(abc_class=abc, xyz_class=xyz)
            )
        html = web.get(f"/counterparties/{ids['old']}").text
        assert f'<span class="tag" id="cp-class" title="ABC/XYZ">{shown}</span>' in html, shown

    web.client.cookies.clear()
    web.sign_in("office")
    full = web.get(f"/counterparties/{ids['full']}").text
    assert 'data-score="100"' in full and 'id="cp-missing"' not in full
    # A colleague's private card is no card at all, score included.
    web.client.cookies.clear()
    web.sign_in("ivanov")
    assert web.get(f"/counterparties/{ids['old']}").status_code == 404


@SQLITE_ONLY  # the address is read and refused before any SQL decides anything
@pytest.mark.parametrize(
    "path",
    [
        "/reports/export/completeness.pdf",
        "/reports/export/completeness-banana.xlsx",
        "/reports/export/-.csv",
    ],
)
def test_a_hostile_export_gets_the_400_page(web: Web, path: str) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    r = web.get(path)
    assert r.status_code == 400, (path, r.status_code)


def test_the_search_page_filters_by_abc_class(web: Web) -> None:
    ids = completeness_company(web.database, home_today())
    with web.database.write() as db:
        for name, abc, xyz in (("full", "A", "X"), ("empty", "A", None), ("old", "A", "Y")):
            db.execute(
                update(Counterparty)
                .where(col(Counterparty.id) == ids[name])
                .values(abc_class=abc, xyz_class=xyz)
            )
    web.sign_in("ivanov")
    html = web.get("/search?abc=A").text
    assert 'option value="A" selected' in html and "Найдено: 2" in html
    assert "Полная" in html and "Пустая" in html and "Старая" not in html  # petrov's A
    assert '<span class="tag" title="ABC/XYZ">A/X</span>' in html
    both = web.get("/search", params={"q": "Полная", "abc": "A"}).text
    assert "Найдено: 1" in both
    assert "Найдено: 0" in web.get("/search", params={"q": "Полная", "abc": "B"}).text
    plain = web.get("/search", params={"q": "ООО"}).text
    assert "Найдено: 2" in plain and 'option value="" selected' not in plain
    assert web.get("/search?abc=D").status_code == 400
    assert web.get("/search?abc=").status_code == 200
