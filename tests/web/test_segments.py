"""The segments screen (``/segments``), on SQLite and PostgreSQL: a segment saved from the form
shrinks the reports and their exports to its members and filters the search page; bad criteria are
refused beside their fields, in Russian and in English; a colleague's segment is not theirs to
change; the agenda and the reports link to the screen."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm.models import Segment
from tests.web.conftest import Web
from tests.web.test_browser import browser, page, playwright, server, sign_in
from tests.web.test_reports_screen import _cells, _company

__all__ = ["browser", "page", "playwright", "server"]  # fixtures used below


def _segments(web: Web) -> list[Segment]:
    with web.database.read() as db:
        return list(db.execute(select(Segment).order_by(Segment.name)).scalars())


def _form(**fields: object) -> dict[str, object]:
    blank: dict[str, object] = {
        "name": "",
        "notes": "",
        "region": "",
        "industry": "",
        "source": "",
        "segment": "",
        "tags": "",
    }
    return {**blank, **fields}


def test_a_segment_from_the_form_shrinks_the_reports_and_the_search(
    web: Web, tmp_path: Path
) -> None:
    ids = _company(web, tmp_path)
    web.sign_in("office")
    assert 'href="/segments" id="segments-link"' in web.get("/").text  # the agenda links it
    page = web.get("/segments")
    assert page.status_code == 200 and 'id="segments-none"' in page.text
    form = web.get("/segments/new").text
    for field in (
        "s-name",
        "s-kinds",
        "s-stage",
        "s-abc_class",
        "s-owner_id",
        "s-region",
        "s-tags",
    ):
        assert f'id="{field}"' in form, field
    with web.database.read() as db:
        from crm.models import User

        ivanov = db.execute(select(User).where(User.login == "ivanov")).scalar_one()
    r = web.post(
        "/segments",
        _form(name="Клиенты Иванова", owner_id=[ivanov.id], kinds=["client"], notes="для отчёта"),
    )
    assert r.status_code == 303, r.text
    (segment,) = _segments(web)
    assert r.headers["location"] == f"/segments#segment-{segment.id}"
    assert segment.criteria == {"kinds": ["client"], "owner_id": [ivanov.id]}
    listed = web.get("/segments").text
    assert f'id="segment-{segment.id}"' in listed and 'data-members="3"' in listed
    assert f'href="/reports?segment={segment.id}"' in listed

    everything = web.get("/reports").text
    within = web.get(f"/reports?segment={segment.id}")
    assert within.status_code == 200, within.text
    assert sum(_cells(everything).values()) == 5
    assert sum(_cells(within.text).values()) == 3  # Ivanov's three clients with sales
    assert "ООО Гамма" in everything and "ООО Гамма" not in within.text
    assert 'id="segment-shown"' in within.text and "Клиенты Иванова" in within.text
    assert f'<option value="{segment.id}" selected>' in within.text
    # The exports keep the segment.
    assert (
        "/reports/export/abc.xlsx?from=" in within.text and f"segment={segment.id}" in within.text
    )
    xlsx = web.get(f"/reports/export/abc.xlsx?segment={segment.id}")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == 1 + 3
    names = {sheet.cell(row=r, column=2).value for r in range(2, 5)}
    assert names == {"ООО Альфа", "ООО Бета", "ООО Эпсилон"}
    csv = web.get(f"/reports/export/neglected.csv?segment={segment.id}").content.decode("utf-8-sig")
    assert "ООО Альфа" in csv and "ООО Гамма" not in csv
    assert web.get("/reports?segment=nonesuch").status_code == 404

    # The search page lists its members, with or without words.
    found = web.get(f"/search?segment={segment.id}").text
    assert all(ids[n] in found for n in ("ООО Альфа", "ООО Бета", "ООО Эпсилон"))
    assert ids["ООО Гамма"] not in found
    narrowed = web.get(f"/search?segment={segment.id}&q=Бета").text
    assert ids["ООО Бета"] in narrowed and ids["ООО Альфа"] not in narrowed


def test_bad_criteria_are_refused_beside_their_fields_in_both_languages(
    web: Web, tmp_path: Path
) -> None:
    _company(web, tmp_path)
    web.sign_in("ivanov")
    many = ", ".join(f"Город {n}" for n in range(201))
    r = web.post("/segments", _form(name="  ", region=many, abc_class=["A"]))
    assert r.status_code == 422
    assert re.search(r'id="s-region-error">Не более 200 значений<', r.text), r.text
    assert 'id="s-name-error"' in r.text
    assert 'value="A" selected' in r.text  # what was chosen stays chosen
    assert _segments(web) == []
    web.post("/settings/language", {"locale": "en", "back": "/segments"})
    r = web.post("/segments", _form(name="Wide", region=many))
    assert r.status_code == 422 and 'id="s-region-error">At most 200 values<' in r.text
    r = web.post("/segments", _form(name="Odd", kinds=["alien"]))
    assert r.status_code == 422 and "alien is not one of client" in r.text
    assert _segments(web) == []


def test_only_its_owner_their_manager_or_an_admin_change_a_segment(
    web: Web, tmp_path: Path
) -> None:
    from tests.web.conftest import user

    _company(web, tmp_path)
    user(web.database, "sidorova", team="Питер")
    web.sign_in("ivanov")
    assert web.post("/segments", _form(name="Казань", region="Казань")).status_code == 303
    (segment,) = _segments(web)
    listed = web.get("/segments").text
    assert f'id="segment-{segment.id}-edit"' in listed
    edit = web.get(f"/segments/{segment.id}/edit").text
    assert 'value="Казань"' in edit
    r = web.post(
        f"/segments/{segment.id}/edit",
        _form(name="Казань и Тверь", region="Казань, Тверь", version=str(segment.version)),
    )
    assert r.status_code == 303, r.text
    (segment,) = _segments(web)
    assert segment.criteria == {"region": ["Казань", "Тверь"]} and segment.name == "Казань и Тверь"

    web.client.cookies.clear()
    web.sign_in("sidorova")
    listed = web.get("/segments").text
    assert f'id="segment-{segment.id}"' in listed  # everyone sees it
    assert f'id="segment-{segment.id}-edit"' not in listed
    assert web.get(f"/segments/{segment.id}/edit").status_code == 403
    r = web.post(f"/segments/{segment.id}/edit", _form(name="Моё", region="Тверь"))
    assert r.status_code == 403
    assert web.post(f"/segments/{segment.id}/delete", {}).status_code == 403
    (kept,) = _segments(web)
    assert (kept.name, kept.version) == ("Казань и Тверь", segment.version)

    web.client.cookies.clear()
    web.sign_in("ivanov")
    r = web.post(f"/segments/{segment.id}/delete", {})
    assert r.status_code == 303 and _segments(web) == []


@pytest.mark.timeout(300)
def test_a_segment_saved_in_a_browser_and_its_screens_fit_a_laptop(
    page: Any, server: tuple[str, dict[str, str]]
) -> None:
    """In Chromium at 1366×768: the form's choices and texts make a segment, its row links to the
    reports over it, and no screen of it scrolls sideways."""
    base, ids = server
    sign_in(page, base, "ivanov")
    page.click("#segments-link")
    page.wait_for_url(base + "/segments")
    page.click("#new-segment")
    page.fill("#s-name", "Мои клиенты")
    page.select_option("#s-kinds", ["client"])
    page.fill("#s-tags", "-")
    page.click("#segment-save")
    page.wait_for_url(re.compile(re.escape(base) + r"/segments#segment-"))
    row = page.locator("#segments tbody tr").filter(has_text="Мои клиенты")
    assert row.count() == 1
    segment_id = (row.get_attribute("id") or "").removeprefix("segment-")
    assert int(row.locator("td.members").get_attribute("data-members") or "0") >= 1
    row.get_by_role("link", name="Отчёты").click()
    page.wait_for_url(base + f"/reports?segment={segment_id}")
    assert "Мои клиенты" in page.locator("#segment-shown").inner_text()
    assert page.locator("#r-segment").input_value() == segment_id
    for path in (
        "/segments",
        "/segments/new",
        f"/segments/{segment_id}/edit",
        f"/search?segment={segment_id}",
        f"/reports?segment={segment_id}",
    ):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert (path, width <= 1366) == (path, True), width
    assert ids["hers"] not in page.content()
