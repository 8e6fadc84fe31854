"""Suggested contact persons on the review screen: "Создать контактное лицо" and "Отклонить"."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crm.database import Database
from crm.models import ContactPerson
from mail import filing
from mail.decode import parse_letter
from mail.models import MailSuggestion
from tests.web.conftest import Web, create, read, user

RAW = (
    b"From: =?utf-8?b?0J/RkdGC0YAg0KHQuNC00L7RgNC+0LI=?= <petr@unknown-client.ru>\r\nTo: sales@torgdom.ru\r\n"
    b"Subject: Order\r\nMessage-ID: <order-2@unknown-client.ru>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0300\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
)
ADDRESS = "petr@unknown-client.ru"


def suggest(database: Database, counterparty_id: str) -> MailSuggestion:
    """The suggestion the ingest leaves for a letter from an unknown sender filed under ``counterparty_id``."""
    found = filing.Suggestions()
    found.add(counterparty_id, parse_letter(RAW), (ADDRESS,), None)
    with database.write() as db:
        found.write(db)
    with database.read() as db:
        return db.execute(
            select(MailSuggestion).where(MailSuggestion.counterparty_id == counterparty_id)
        ).scalar_one()


def people(database: Database, counterparty_id: str) -> list[ContactPerson]:
    with database.read() as db:
        return list(
            db.execute(
                select(ContactPerson).where(ContactPerson.counterparty_id == counterparty_id)
            ).scalars()
        )


@pytest.fixture
def world(web: Web) -> dict[str, Any]:
    ivanov = user(web.database, "ivanov")
    user(web.database, "admin", role="admin")
    office = user(web.database, "office", role="office")
    user(web.database, "petrova", team="Питер")
    romashka = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    return {
        "ivanov": ivanov,
        "office": office,
        "romashka": romashka,
        "suggestion": suggest(web.database, romashka.id),
    }


def test_creating_the_contact_person_puts_it_on_the_card(web: Web, world: dict[str, Any]) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    web.sign_in("admin")
    page = web.get("/review").text
    assert f'id="suggestion-{suggestion.id}"' in page and "Пётр Сидоров" in page and ADDRESS in page
    assert "ООО «Ромашка»" in page and "Создать контактное лицо" in page and "Отклонить" in page
    r = web.post(f"/review/suggestions/{suggestion.id}/accept", {})
    assert r.status_code == 303 and r.headers["location"] == "/review"
    [person] = people(web.database, romashka.id)
    assert (person.full_name, person.contacts) == (
        "Пётр Сидоров",
        [{"kind": "email", "value": ADDRESS}],
    )
    assert read(web.database, MailSuggestion, suggestion.id).status == "accepted"
    assert f'id="suggestion-{suggestion.id}"' not in web.get("/review").text
    # its owner finds the person on the card
    web.client.cookies.clear()
    web.sign_in("ivanov")
    card = web.get(f"/counterparties/{romashka.id}").text
    assert f'id="person-{person.id}"' in card and "Пётр Сидоров" in card and ADDRESS in card


def test_pressing_twice_makes_one_person(web: Web, world: dict[str, Any]) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    web.sign_in("admin")
    assert web.post(f"/review/suggestions/{suggestion.id}/accept", {}).status_code == 303
    again = web.post(f"/review/suggestions/{suggestion.id}/accept", {})
    assert (
        again.status_code == 409 and "По этому предложению уже кто-то принял решение." in again.text
    )
    assert web.post(f"/review/suggestions/{suggestion.id}/dismiss", {}).status_code == 409
    assert len(people(web.database, romashka.id)) == 1
    assert read(web.database, MailSuggestion, suggestion.id).status == "accepted"


def test_a_person_with_that_address_already_is_not_made_again(
    web: Web, world: dict[str, Any]
) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    known = create(
        web.database,
        world["ivanov"],
        "contact-persons",
        counterparty_id=romashka.id,
        full_name="Пётр",
        contacts=[{"kind": "email", "value": "PETR@unknown-client.ru"}],
    )
    web.sign_in("admin")
    assert web.post(f"/review/suggestions/{suggestion.id}/accept", {}).status_code == 303
    assert [p.id for p in people(web.database, romashka.id)] == [known.id]
    assert read(web.database, MailSuggestion, suggestion.id).status == "accepted"


def test_dismissing_hides_it(web: Web, world: dict[str, Any]) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    web.sign_in("admin")
    assert web.post(f"/review/suggestions/{suggestion.id}/dismiss", {}).status_code == 303
    assert read(web.database, MailSuggestion, suggestion.id).status == "dismissed"
    page = web.get("/review").text
    assert f'id="suggestion-{suggestion.id}"' not in page and 'id="suggestions"' not in page
    assert people(web.database, romashka.id) == []


def test_office_staff_decide_only_on_counterparties_shared_with_them_for_editing(
    web: Web, world: dict[str, Any]
) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    web.sign_in("office")
    assert (
        f'id="suggestion-{suggestion.id}"' not in web.get("/review").text
    )  # sees the client, may not change it
    r = web.post(f"/review/suggestions/{suggestion.id}/accept", {})
    assert r.status_code == 403 and "Вы можете это видеть, но не изменять." in r.text
    assert web.post(f"/review/suggestions/{suggestion.id}/dismiss", {}).status_code == 403
    assert people(web.database, romashka.id) == []
    assert read(web.database, MailSuggestion, suggestion.id).status == "open"
    create(
        web.database,
        world["ivanov"],
        "shares",
        counterparty_id=romashka.id,
        user_id=world["office"].id,
        can_edit=True,
    )
    assert f'id="suggestion-{suggestion.id}"' in web.get("/review").text
    assert web.post(f"/review/suggestions/{suggestion.id}/accept", {}).status_code == 303
    assert len(people(web.database, romashka.id)) == 1


@pytest.mark.parametrize("login", ["ivanov", "petrova"])
def test_salespeople_are_refused_and_nothing_changes(
    web: Web, world: dict[str, Any], login: str
) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    web.sign_in(login)
    assert web.post(f"/review/suggestions/{suggestion.id}/accept", {}).status_code == 403
    assert web.post(f"/review/suggestions/{suggestion.id}/dismiss", {}).status_code == 403
    assert people(web.database, romashka.id) == []
    assert read(web.database, MailSuggestion, suggestion.id).status == "open"


def test_deciding_needs_the_token(web: Web, world: dict[str, Any]) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    web.sign_in("admin")
    r = web.client.post(
        f"/review/suggestions/{suggestion.id}/accept", data={}, follow_redirects=False
    )
    assert r.status_code == 403
    r = web.client.post(
        f"/review/suggestions/{suggestion.id}/dismiss",
        data={"csrf": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert people(web.database, romashka.id) == []
    assert read(web.database, MailSuggestion, suggestion.id).status == "open"


def test_an_unknown_suggestion_is_not_found(web: Web, world: dict[str, Any]) -> None:
    web.sign_in("admin")
    assert (
        web.post("/review/suggestions/00000000-0000-0000-0000-000000000000/accept", {}).status_code
        == 404
    )


def test_the_buttons_speak_english_too(web: Web, world: dict[str, Any]) -> None:
    web.sign_in("admin")
    assert web.post("/settings/language", {"locale": "en", "back": "/review"}).status_code == 303
    page = web.get("/review").text
    assert (
        "Suggested contact persons" in page
        and "Create contact person" in page
        and ">Dismiss<" in page
    )
