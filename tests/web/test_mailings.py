"""Mailings on the screens (SQLite and PostgreSQL): the event's page links to a mailing to its
participants; the form drafts one (a letter template fills its subject and text; refusals in
Russian beside their fields); the mailing's page shows who gets it and who is left out and why;
queueing asks a ticked confirmation, writes one letter per address once, and a colleague who does
not keep the mailing is refused. And in Chromium: from the event to the queued mailing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from crm import accounts
from crm.database import Database
from crm.models import Interaction, LetterTemplate, Mailing, User
from server import migrate
from server.process import running_server
from tests.web.conftest import Web, create, user
from tests.web.test_browser import PASSWORD, browser, playwright, sign_in

__all__ = ["browser", "playwright"]  # fixtures used below


def _company(database: Database, ivanov: User) -> dict[str, str]:
    client = create(database, ivanov, "counterparties", legal_name="ООО «Лотос»")
    for name, address, opted in (
        ("Орлов Пётр", "orlov@lotos.ru", False),
        ("Белова Анна", "belova@lotos.ru", True),
    ):
        create(
            database,
            ivanov,
            "contact-persons",
            counterparty_id=client.id,
            full_name=name,
            contacts=[{"kind": "email", "value": address}],
            no_mailings=opted,
        )
    event = create(database, ivanov, "events", name="JUNWEX Москва")
    create(
        database,
        ivanov,
        "event-participants",
        event_id=event.id,
        counterparty_id=client.id,
        status="attended",
    )
    return {"client": client.id, "event": event.id}


def test_a_mailing_to_an_events_participants(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrov")
    ids = _company(web.database, ivanov)
    with web.database.write() as session:
        session.add(LetterTemplate(name="Приглашение", subject="Ждём вас", body="Приходите!"))
    web.sign_in("ivanov")
    assert 'id="mailings-link"' in web.get("/").text
    event_page = web.get(f"/events/{ids['event']}").text
    assert f"/mailings/new?event_id={ids['event']}" in event_page
    assert "Рассылка участникам" in event_page
    form = web.get(f"/mailings/new?event_id={ids['event']}")
    assert form.status_code == 200 and "Рассылка: JUNWEX Москва" in form.text
    with web.database.read() as session:
        (template_id,) = session.execute(select(LetterTemplate.id)).scalars()
    filled = web.post(
        "/mailings",
        {
            "name": "Приглашение",
            "event_id": ids["event"],
            "template_id": template_id,
            "use_template": "1",
        },
    )
    assert filled.status_code == 200 and "Ждём вас" in filled.text and "Приходите!" in filled.text
    bad = web.post("/mailings", {"name": "Без адресата", "subject": "Т", "body": "Б"})
    assert bad.status_code == 422 and 'id="m-segment_id-error"' in bad.text
    assert "Выберите сегмент или мероприятие" in bad.text
    r = web.post(
        "/mailings",
        {
            "name": "Приглашение",
            "event_id": ids["event"],
            "statuses": "attended",
            "subject": "Ждём вас, {{contact.first_name}}",
            "body": "Приходите!",
        },
    )
    assert r.status_code == 303, r.text
    mailing_id = r.headers["location"].rsplit("/", 1)[1]
    page = web.get(f"/mailings/{mailing_id}").text
    assert "orlov@lotos.ru" in page and 'id="queue-form"' in page
    assert "Белова Анна" in page and "отказался от рассылок" in page
    assert 'id="count-recipients">1<' in page

    # petrov sees it, not its button, and is refused the queueing.
    web.sign_in("petrov")
    theirs = web.get(f"/mailings/{mailing_id}").text
    assert 'id="queue-form"' not in theirs and "orlov@lotos.ru" not in theirs
    assert web.post(f"/mailings/{mailing_id}/queue", {"confirm": "1"}).status_code == 403

    web.sign_in("ivanov")
    unconfirmed = web.post(f"/mailings/{mailing_id}/queue", {})
    assert unconfirmed.status_code == 422 and "Поставьте отметку" in unconfirmed.text
    done = web.post(f"/mailings/{mailing_id}/queue", {"confirm": "1"})
    assert done.status_code == 303
    again = web.post(f"/mailings/{mailing_id}/queue", {"confirm": "1"})
    assert again.status_code == 303
    with web.database.read() as session:
        assert session.get_one(Mailing, mailing_id).status == "queued"
        assert session.execute(select(func.count()).select_from(Interaction)).scalar_one() == 1
    page = web.get(f"/mailings/{mailing_id}").text
    assert 'id="letter-list"' in page and "ждёт отправки" in page
    listing = web.get("/mailings").text
    assert "Приглашение" in listing and "в очереди" in listing


@pytest.fixture(scope="module")
def mailing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('mailings') / 'satchel.db'}"
    database = Database(url)
    migrate.upgrade(database)
    with database.write() as db:
        accounts.create_user(
            db, login="ivanov", full_name="Иванов Тест", password=PASSWORD, team="Москва"
        )
    with database.read() as db:
        ivanov = db.execute(select(User)).scalar_one()
    ids = _company(database, ivanov)
    database.dispose()
    with running_server(url, timeout=90) as base:
        yield base, ids["event"]


@pytest.fixture
def mailing_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def test_a_mailing_queued_in_a_browser(mailing_page: Any, mailing_server: tuple[str, str]) -> None:
    page = mailing_page
    base, event_id = mailing_server
    sign_in(page, base, "ivanov")
    page.goto(base + f"/events/{event_id}")
    page.click("#event-mailing")
    page.wait_for_url(base + f"/mailings/new?event_id={event_id}")
    assert page.locator("#m-event_id").input_value() == event_id
    page.fill("#m-subject", "Ждём вас, {{contact.first_name}}")
    page.fill("#m-body", "Приходите на стенд!")
    page.click("#mailing-save")
    page.wait_for_selector("#queue-form")
    assert "orlov@lotos.ru" in page.locator("#recipient-list").inner_text()
    assert page.locator("#count-opted_out").inner_text() == "1"
    page.click("#queue")  # not confirmed: asked again
    assert "Поставьте отметку" in page.locator("#queue-form").inner_text()
    page.check("#queue-confirm")
    page.click("#queue")
    page.wait_for_selector("#letter-list")
    assert "в очереди" in page.locator("#mailing-about").inner_text()
    assert page.locator("#count-recipients").inner_text() == "1"
    assert not page.dialogs
