"""Editing a card and logging a contact: problems beside their fields, nothing saved until all is right."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from crm import accounts
from crm.models import Counterparty, Interaction, User
from tests.conftest import SQLITE_ONLY
from tests.web.conftest import Web, create, read, user

FORM = {"legal_name": "ООО «Ромашка»", "stage": "active", "visibility": "team", "version": "1"}


@pytest.fixture
def card(web: Web) -> Counterparty:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    return cp  # type: ignore[no-any-return]


def beside(html: str, field: str) -> str:
    """The text of the error element tied to ``field``'s input by aria-describedby."""
    assert re.search(
        rf'id="f-{field}"[^>]*aria-invalid="true"[^>]*aria-describedby="f-{field}-error"', html
    ), html
    found = re.search(rf'<span class="field-error" id="f-{field}-error">([^<]*)</span>', html)
    assert found, html
    return found.group(1)


def test_an_invalid_inn_is_shown_beside_the_field_and_nothing_is_saved(
    web: Web, card: Counterparty
) -> None:
    r = web.post(f"/counterparties/{card.id}/edit", {**FORM, "inn": "7707083894", "kpp": "77070"})
    assert r.status_code == 422
    assert beside(r.text, "inn") == "Неверная контрольная цифра ИНН (ожидалась 3, указана 4)"
    assert beside(r.text, "kpp") == "КПП должен содержать 9 знаков; указано 5"
    assert 'value="7707083894"' in r.text  # what was typed stays in the form
    stored = read(web.database, Counterparty, card.id)
    assert stored.inn is None and stored.stage == "lead" and stored.version == 1

    r = web.post(
        f"/counterparties/{card.id}/edit", {**FORM, "inn": "7707 083 893", "kpp": "770701001"}
    )
    assert r.status_code == 303 and r.headers["location"] == f"/counterparties/{card.id}"
    stored = read(web.database, Counterparty, card.id)
    assert (stored.inn, stored.kpp, stored.stage, stored.visibility, stored.version) == (
        "7707083893",
        "770701001",
        "active",
        "team",
        2,
    )
    assert "7707083893" in web.get(f"/counterparties/{card.id}").text


@SQLITE_ONLY  # refused by the form's validation before any SQL
def test_an_empty_name_is_required(web: Web, card: Counterparty) -> None:
    r = web.post(f"/counterparties/{card.id}/edit", {**FORM, "legal_name": "  "})
    assert r.status_code == 422 and beside(r.text, "legal_name") == "Обязательное поле"


def test_an_edit_over_a_newer_version_is_refused(web: Web, card: Counterparty) -> None:
    assert (
        web.post(f"/counterparties/{card.id}/edit", {**FORM, "notes": "first"}).status_code == 303
    )
    r = web.post(f"/counterparties/{card.id}/edit", {**FORM, "notes": "second", "version": "1"})
    assert r.status_code == 409 and 'id="conflict"' in r.text
    assert read(web.database, Counterparty, card.id).notes == "first"


def test_logging_a_call_adds_it_to_the_history(web: Web, card: Counterparty) -> None:
    r = web.post(
        f"/counterparties/{card.id}/interactions",
        {
            "kind": "call",
            "direction": "incoming",
            "status": "done",
            "starts_at": "2026-12-01T10:30",
            "subject": "Спросили про скидку",
            "notes": "Перезвонить в пятницу",
            "result": "Выслать прайс",
        },
    )
    assert r.status_code == 303
    with web.database.read() as db:
        [item] = db.execute(select(Interaction)).scalars()
    # the wall-clock time typed in the form is Moscow time
    assert item.starts_at == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert (item.kind, item.direction, item.status, item.counterparty_id) == (
        "call",
        "incoming",
        "done",
        card.id,
    )
    page = web.get(f"/counterparties/{card.id}").text
    assert "Спросили про скидку" in page and "Выслать прайс" in page and "01.12.2026, 10:30" in page


def test_a_contact_without_a_time_is_refused_beside_the_field(web: Web, card: Counterparty) -> None:
    r = web.post(
        f"/counterparties/{card.id}/interactions", {"kind": "call", "starts_at": "", "subject": "x"}
    )
    assert r.status_code == 422
    assert (
        '<span class="field-error" id="log-starts_at-error">Укажите дату и время</span>' in r.text
    )
    assert 'value="x"' in r.text
    with web.database.read() as db:
        assert db.execute(select(Interaction)).first() is None


def test_hostile_input_gets_a_4xx(web: Web, card: Counterparty) -> None:
    r = web.post(f"/counterparties/{card.id}/edit", {**FORM, "notes": "x" * 300_000})
    assert r.status_code == 413
    r = web.post(f"/counterparties/{card.id}/edit", {**FORM, "legal_name": "Я" * 600})
    assert r.status_code == 422 and "Не более 500 символов" in r.text
    r = web.post(
        f"/counterparties/{card.id}/interactions",
        {"starts_at": "2026-12-01T10:30", "duration_minutes": "-5"},
    )
    assert r.status_code == 422
    assert web.get("/search/results", params={"q": "Я" * 5000}).status_code == 200
    # A pasted paragraph is cut to the words a search takes, not answered with an error page.
    for q in (" ".join(["слово"] * 900), "ромашка\x00", "a " * 30):
        assert web.get("/search", params={"q": q}).status_code == 200
        assert web.get("/search/results", params={"q": q}).status_code == 200


def test_logging_a_contact_can_plan_the_next_one(web: Web, card: Counterparty) -> None:
    r = web.post(
        f"/counterparties/{card.id}/interactions",
        {
            "kind": "call",
            "status": "done",
            "starts_at": "2026-12-01T10:30",
            "subject": "Обсудили заказ",
            "next_at": "2026-12-04T15:00",
            "next_kind": "meeting",
            "next_subject": "Подписать договор",
        },
    )
    assert r.status_code == 303
    with web.database.read() as db:
        made = {i.subject: i for i in db.execute(select(Interaction)).scalars()}
    assert made["Обсудили заказ"].status == "done"
    planned = made["Подписать договор"]
    assert (planned.status, planned.kind, planned.starts_at) == (
        "planned",
        "meeting",
        datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )


def test_a_bad_next_contact_saves_neither(web: Web, card: Counterparty) -> None:
    r = web.post(
        f"/counterparties/{card.id}/interactions",
        {
            "kind": "call",
            "starts_at": "2026-12-01T10:30",
            "subject": "Обсудили",
            "next_at": "завтра",
        },
    )
    assert r.status_code == 422
    assert '<span class="field-error" id="log-next_at-error">Укажите дату и время</span>' in r.text
    r = web.post(
        f"/counterparties/{card.id}/interactions",
        {
            "kind": "call",
            "starts_at": "2026-12-01T10:30",
            "subject": "Обсудили",
            "next_at": "2026-12-04T15:00",
            "next_kind": "telepathy",
        },
    )
    assert r.status_code == 422 and "next_kind" in r.text
    with web.database.read() as db:
        assert db.execute(select(Interaction)).first() is None


def _ivanov(web: Web) -> User:
    with web.database.read() as db:
        return accounts.find_user(db, "ivanov")


def test_the_next_meeting_can_go_to_the_contact_person_as_an_invitation(
    web: Web, card: Counterparty
) -> None:
    person = create(
        web.database,
        _ivanov(web),
        "contact-persons",
        counterparty_id=card.id,
        full_name="Петров Пётр Петрович",
        contacts=[{"kind": "email", "value": "petr@romashka.ru"}],
    )
    r = web.post(
        f"/counterparties/{card.id}/interactions",
        {
            "kind": "call",
            "status": "done",
            "starts_at": "2026-12-01T10:30",
            "subject": "Договорились о встрече",
            "contact_person_id": person.id,
            "next_at": "2026-12-04T15:00",
            "next_kind": "meeting",
            "next_subject": "Подписать договор",
            "next_invite": "1",
        },
    )
    assert r.status_code == 303, r.text
    with web.database.read() as db:
        planned = db.execute(
            select(Interaction).where(Interaction.subject == "Подписать договор")
        ).scalar_one()
    assert planned.mail_status == "queued"  # the mail bridge's outbox sends it as an iTIP REQUEST
    assert planned.participants == [
        {
            "role": "attendee",
            "address": "petr@romashka.ru",
            "name": "Петров Пётр Петрович",
            "status": "NEEDS-ACTION",
        }
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"next_kind": "call"}, "Приглашение можно отправить только на встречу"),
        ({"contact_person_id": ""}, "Выберите контактное лицо, которое пригласить"),
        ({"no_email": True}, "У контактного лица нет адреса почты"),
        ({"elsewhere": True}, "Выберите контактное лицо, которое пригласить"),
    ],
)
def test_an_invitation_that_cannot_go_saves_nothing_and_says_why(
    web: Web, card: Counterparty, change: dict[str, object], message: str
) -> None:
    ivanov = _ivanov(web)
    change = dict(change)  # the parameter is shared by both databases' runs
    where = card.id
    if change.pop("elsewhere", False):  # a person of another client (its email must not be used)
        where = create(web.database, ivanov, "counterparties", legal_name="ООО «Другое»").id
    contacts = (
        [] if change.pop("no_email", False) else [{"kind": "email", "value": "petr@romashka.ru"}]
    )
    person = create(
        web.database,
        ivanov,
        "contact-persons",
        counterparty_id=where,
        full_name="Петров Пётр",
        contacts=contacts,
    )
    form = {
        "kind": "call",
        "status": "done",
        "starts_at": "2026-12-01T10:30",
        "subject": "Звонок",
        "contact_person_id": person.id,
        "next_at": "2026-12-04T15:00",
        "next_kind": "meeting",
        "next_subject": "Встреча",
        "next_invite": "1",
        **change,
    }
    r = web.post(f"/counterparties/{card.id}/interactions", form)
    assert r.status_code == 422
    assert f'<span class="field-error" id="log-next_invite-error">{message}</span>' in r.text
    with web.database.read() as db:
        assert db.execute(select(Interaction)).first() is None
