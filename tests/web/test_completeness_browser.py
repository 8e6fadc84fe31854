"""In Chromium at 1366×768: the card with its class badge and a long list of what it misses, the
search filtered by ABC class and the reports with the completeness section scroll no screen
sideways and keep the header one line (as ``tests/web/test_browser.py`` checks every screen)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col

from crm import accounts, records
from crm.database import Database
from crm.models import Counterparty
from server.process import running_server
from tests.web.test_browser import _seed, browser, playwright, sign_in

__all__ = ["browser", "playwright"]  # fixtures used below


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('completeness-browser') / 'satchel.db'}"
    ids = _seed(url)
    database = Database(url)
    with database.write() as db:
        ivanov = accounts.find_user(db, "ivanov")
        bare = records.create(
            db,
            ivanov,
            records.record_type("counterparties"),
            {"legal_name": "ООО «Очень длинное название пустой карточки без единого реквизита»"},
        )
        ids["bare"] = str(bare.id)
        db.flush()
        db.execute(
            update(Counterparty)
            .where(col(Counterparty.id) == bare.id)
            .values(abc_class="A", xyz_class="X")
        )
    database.dispose()
    with running_server(url, timeout=90) as base:
        yield base, ids


@pytest.fixture
def page(browser: Any, server: tuple[str, dict[str, str]]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()


def test_the_card_the_search_and_the_reports_fit_a_1366_by_768_laptop(
    page: Any, server: tuple[str, dict[str, str]]
) -> None:
    base, ids = server
    sign_in(page, base, "ivanov")
    page.goto(base + f"/counterparties/{ids['bare']}")
    assert page.locator("#cp-class").inner_text() == "A/X"
    assert page.locator("#cp-completeness").get_attribute("data-score") == "5"
    assert "контакт за последние 180 дней" in page.locator("#cp-missing").inner_text()
    for path in (f"/counterparties/{ids['bare']}", "/search?abc=A", "/reports#completeness"):
        page.goto(base + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        header = page.evaluate(
            "document.querySelector('header.top').getBoundingClientRect().height"
        )
        assert (path, width <= 1366, header < 60) == (path, True, True), (width, header)
    page.goto(base + "/search?abc=A")
    assert page.get_by_role("link", name="ООО «Очень длинное название", exact=False).is_visible()
    page.goto(base + "/reports")
    assert page.get_by_role("heading", name="Полнота данных").is_visible()
    assert page.locator("#completeness tbody tr").count() >= 1
