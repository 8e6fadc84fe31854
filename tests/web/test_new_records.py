"""A new counterparty, and contact persons added and edited on the card: through crm.records, problems
beside their fields in the user's language, the access rules of the API, nothing saved on a refusal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from crm.models import ContactPerson, Counterparty
from tests.web.conftest import Web, create, read, user
from tests.web.test_forms import beside

NEW = {
    "legal_name": "ООО «Вектор»",
    "short_name": "Вектор",
    "legal_form": "ООО",
    "kinds": "supplier",
    "inn": "7707083893",
    "kpp": "770701001",
    "phone": "8 (916) 123-45-67",
    "email": "Info@Vector.ru",
    "legal_address": "Москва, ул. Ленина, 1",
    "website": "",
    "industry": "",
    "region": "Москва",
    "stage": "active",
    "visibility": "team",
    "notes": "",
}


def counterparties(web: Web) -> int:
    with web.database.read() as db:
        return int(db.execute(select(func.count()).select_from(Counterparty)).scalar_one())


def people(web: Web, counterparty_id: str) -> list[ContactPerson]:
    with web.database.read() as db:
        return list(
            db.execute(
                select(ContactPerson)
                .where(ContactPerson.counterparty_id == counterparty_id)
                .order_by(ContactPerson.full_name)
            ).scalars()
        )


@pytest.fixture
def ivanov(web: Web) -> Any:
    found = user(web.database, "ivanov")
    web.sign_in("ivanov")
    return found


def test_the_form_is_reachable_from_search_and_the_navigation(web: Web, ivanov: Any) -> None:
    assert 'href="/counterparties/new" id="new-counterparty"' in web.get("/search").text
    assert 'href="/counterparties/new" id="nav-new-counterparty"' in web.get("/").text
    page = web.get("/counterparties/new")
    assert page.status_code == 200 and "<h1>Новый контрагент</h1>" in page.text
    for label in (
        "Полное наименование",
        "Тип контрагента",
        "ИНН",
        "КПП",
        "Телефон",
        "Email",
        "Видимость",
    ):
        assert label in page.text, label
    # The INN and KPP boxes carry the messages the script checks with, in the user's language.
    assert (
        'data-check="inn"' in page.text
        and "Неверная контрольная цифра ИНН (ожидалась {expected}" in page.text
    )
    assert 'data-check="kpp"' in page.text


def test_a_new_counterparty_is_created_and_its_card_opens(web: Web, ivanov: Any) -> None:
    r = web.post("/counterparties", NEW)
    assert r.status_code == 303
    found = re.fullmatch(r"/counterparties/([0-9a-f-]{36})", r.headers["location"])
    assert found, r.headers["location"]
    cp = read(web.database, Counterparty, found.group(1))
    assert (
        cp.legal_name,
        cp.kinds,
        cp.inn,
        cp.kpp,
        cp.stage,
        cp.visibility,
        cp.owner_id,
        cp.created_by,
    ) == (
        "ООО «Вектор»",
        ["supplier"],
        "7707083893",
        "770701001",
        "active",
        "team",
        ivanov.id,
        ivanov.id,
    )
    assert cp.contacts == [
        {"kind": "phone", "value": "+79161234567"},
        {"kind": "email", "value": "info@vector.ru"},
    ]
    card = web.get(r.headers["location"]).text
    assert "ООО «Вектор»" in card and "Поставщик" in card and "+79161234567" in card
    # ... and the quick search finds it by a piece of its phone
    assert (
        f'{r.headers["location"]}">Вектор</a>'
        in web.get("/search/results", params={"q": "45-67"}).text
    )


def test_every_problem_is_shown_beside_its_field_and_nothing_is_created(
    web: Web, ivanov: Any
) -> None:
    r = web.post(
        "/counterparties",
        {
            **NEW,
            "legal_name": " ",
            "inn": "7707083894",
            "kpp": "77070",
            "phone": "12",
            "email": "info@@vector.ru",
        },
    )
    assert r.status_code == 422
    assert beside(r.text, "legal_name") == "Обязательное поле"
    assert beside(r.text, "inn") == "Неверная контрольная цифра ИНН (ожидалась 3, указана 4)"
    assert beside(r.text, "kpp") == "КПП должен содержать 9 знаков; указано 5"
    assert beside(r.text, "phone") == "Такого номера не бывает: неверное число цифр"
    assert beside(r.text, "email") == "В адресе электронной почты ровно один знак @"
    assert (
        'value="7707083894"' in r.text and 'value="info@@vector.ru"' in r.text
    )  # what was typed stays
    assert counterparties(web) == 0


def test_the_domain_rules_of_a_sole_trader_are_shown_beside_the_field(
    web: Web, ivanov: Any
) -> None:
    r = web.post("/counterparties", {**NEW, "legal_form": "ИП", "inn": "7707083893", "kpp": ""})
    assert r.status_code == 422 and beside(r.text, "inn") == "У ИП ИНН из 12 цифр"
    r = web.post(
        "/counterparties", {**NEW, "legal_form": "ИП", "inn": "500100732259", "kpp": "770701001"}
    )
    assert r.status_code == 422 and beside(r.text, "kpp") == "У ИП (ИНН из 12 цифр) нет КПП"
    r = web.post("/counterparties", {**NEW, "kinds": "telepathy", "visibility": "world"})
    assert r.status_code == 422
    assert (
        beside(r.text, "kinds")
        == beside(r.text, "visibility")
        == "Выберите одно из предложенных значений"
    )
    assert counterparties(web) == 0


def test_problems_are_in_english_for_an_english_user(web: Web, ivanov: Any) -> None:
    web.post("/settings/language", {"locale": "en", "back": "/settings"})
    r = web.post("/counterparties", {**NEW, "inn": "7707083894", "phone": "not a phone"})
    assert r.status_code == 422 and "<h1>New counterparty</h1>" in r.text
    assert beside(r.text, "inn") == "The INN check digit does not match (expected 3, got 4)"
    assert beside(r.text, "phone") == "Not a phone number"


def test_a_new_private_counterparty_is_not_anothers_to_see(web: Web, ivanov: Any) -> None:
    user(web.database, "petrova")
    r = web.post("/counterparties", {**NEW, "visibility": "private"})
    path = r.headers["location"]
    web.client.cookies.clear()
    web.sign_in("petrova")
    assert web.get(path).status_code == 404
    assert "Вектор" not in web.get("/search/results", params={"q": "Вектор"}).text


def test_creating_needs_the_forms_token(web: Web, ivanov: Any) -> None:
    r = web.client.post("/counterparties", data=NEW, follow_redirects=False)
    assert r.status_code == 403 and counterparties(web) == 0
    # the refusal's reason is in the reader's language too
    assert "Ключ безопасности формы отсутствует или устарел; обновите страницу." in r.text
    r = web.post("/counterparties", NEW, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and counterparties(web) == 0
    assert "Эта форма отправлена с другого сайта." in r.text


# Contact persons.


@pytest.fixture
def card(web: Web) -> Counterparty:
    ivanov = user(web.database, "ivanov")
    user(web.database, "office", role="office")
    user(web.database, "petrova")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    return cp  # type: ignore[no-any-return]


PERSON = {
    "full_name": "Пётр Сидоров",
    "position": "Закупщик",
    "phones": "8 916 123-45-67\n+7 (495) 765-43-21 доб. 12",
    "emails": "Petr@Romashka.ru\n\npetr.s@gmail.com",
    "birthday": "1980-05-14",
    "notes": "",
}


def test_a_contact_person_is_added_from_the_card(web: Web, card: Counterparty) -> None:
    page = web.get(f"/counterparties/{card.id}").text
    assert f'href="/counterparties/{card.id}/people/new" id="new-person"' in page
    form = web.get(f"/counterparties/{card.id}/people/new")
    assert form.status_code == 200 and "Новое контактное лицо" in form.text and "ФИО" in form.text
    r = web.post(f"/counterparties/{card.id}/people", PERSON)
    assert r.status_code == 303 and r.headers["location"] == f"/counterparties/{card.id}#people-h"
    [person] = people(web, card.id)
    assert (person.full_name, person.position, person.birthday.isoformat()) == (
        "Пётр Сидоров",
        "Закупщик",
        "1980-05-14",
    )
    assert person.contacts == [
        {"kind": "phone", "value": "+79161234567"},
        {"kind": "phone", "value": "+74957654321", "ext": "12"},
        {"kind": "email", "value": "petr@romashka.ru"},
        {"kind": "email", "value": "petr.s@gmail.com"},
    ]
    card_page = web.get(f"/counterparties/{card.id}").text
    assert (
        "Пётр Сидоров" in card_page
        and "+74957654321" in card_page
        and "petr@romashka.ru" in card_page
    )


def test_a_bad_phone_or_email_is_shown_beside_its_box_naming_the_line(
    web: Web, card: Counterparty
) -> None:
    r = web.post(
        f"/counterparties/{card.id}/people",
        {**PERSON, "full_name": "", "phones": "8 916 123-45-67\n12345", "emails": "petr@"},
    )
    assert r.status_code == 422
    assert beside(r.text, "full_name") == "Обязательное поле"
    assert beside(r.text, "phones") == "12345: Такого номера не бывает: неверное число цифр"
    assert beside(r.text, "emails") == "petr@: Это не адрес электронной почты"
    assert "8 916 123-45-67\n12345</textarea>" in r.text
    assert people(web, card.id) == []


def test_a_contact_person_is_edited_keeping_what_the_form_does_not_show(
    web: Web, card: Counterparty
) -> None:
    ivanov = user_id(web, "ivanov")
    person = create(
        web.database,
        ivanov,
        "contact-persons",
        counterparty_id=card.id,
        full_name="Пётр Сидоров",
        contacts=[
            {"kind": "email", "value": "petr@romashka.ru", "note": "рабочий"},
            {"kind": "phone", "value": "+7 916 123-45-67"},
            {"kind": "address", "value": "Москва, склад 3"},
        ],
    )
    page = web.get(f"/counterparties/{card.id}").text
    assert f'href="/counterparties/{card.id}/people/{person.id}/edit"' in page
    form = web.get(f"/counterparties/{card.id}/people/{person.id}/edit").text
    assert ">+79161234567</textarea>" in form and ">petr@romashka.ru</textarea>" in form
    r = web.post(
        f"/counterparties/{card.id}/people/{person.id}/edit",
        {
            "full_name": "Пётр Сидоров",
            "position": "Главный закупщик",
            "phones": "",
            "emails": "petr@romashka.ru",
            "birthday": "",
            "notes": "Любит чай",
            "version": "1",
        },
    )
    assert r.status_code == 303
    stored = read(web.database, ContactPerson, person.id)
    assert (stored.position, stored.notes, stored.version) == ("Главный закупщик", "Любит чай", 2)
    assert stored.contacts == [
        {"kind": "email", "value": "petr@romashka.ru", "note": "рабочий"},
        {"kind": "address", "value": "Москва, склад 3"},
    ]
    # an edit over someone else's newer one is refused, not silently overwritten
    r = web.post(
        f"/counterparties/{card.id}/people/{person.id}/edit",
        {
            "full_name": "Пётр Сидоров",
            "position": "Стажёр",
            "phones": "",
            "emails": "",
            "version": "1",
        },
    )
    assert r.status_code == 409 and 'id="conflict"' in r.text and 'value="Стажёр"' in r.text
    assert read(web.database, ContactPerson, person.id).position == "Главный закупщик"
    # a bad value on edit is shown beside the field, and nothing changes
    r = web.post(
        f"/counterparties/{card.id}/people/{person.id}/edit",
        {"full_name": "Пётр Сидоров", "phones": "телефон", "emails": "", "version": "2"},
    )
    assert r.status_code == 422 and beside(r.text, "phones") == "телефон: Это не номер телефона"
    assert read(web.database, ContactPerson, person.id).version == 2


def user_id(web: Web, login: str) -> Any:
    from crm import accounts

    with web.database.read() as db:
        found = accounts.find_user(db, login)
        db.expunge(found)
        return found


def test_who_may_only_see_the_card_may_not_add_or_edit_people(web: Web, card: Counterparty) -> None:
    person = create(
        web.database,
        user_id(web, "ivanov"),
        "contact-persons",
        counterparty_id=card.id,
        full_name="Пётр Сидоров",
    )
    web.client.cookies.clear()
    web.sign_in("office")  # sees every card, changes only what is shared with them
    page = web.get(f"/counterparties/{card.id}")
    assert page.status_code == 200 and "Пётр Сидоров" in page.text
    assert 'id="new-person"' not in page.text and f'id="edit-person-{person.id}"' not in page.text
    assert web.get(f"/counterparties/{card.id}/people/new").status_code == 403
    assert web.get(f"/counterparties/{card.id}/people/{person.id}/edit").status_code == 403
    r = web.post(f"/counterparties/{card.id}/people", PERSON)
    assert r.status_code == 403 and "Вы можете это видеть, но не изменять." in r.text
    r = web.post(f"/counterparties/{card.id}/people/{person.id}/edit", {**PERSON, "version": "1"})
    assert r.status_code == 403
    assert [p.full_name for p in people(web, card.id)] == ["Пётр Сидоров"]
    assert read(web.database, ContactPerson, person.id).version == 1


def test_another_salespersons_card_has_no_people_to_add_or_edit(
    web: Web, card: Counterparty
) -> None:
    person = create(
        web.database,
        user_id(web, "ivanov"),
        "contact-persons",
        counterparty_id=card.id,
        full_name="Пётр Сидоров",
    )
    web.client.cookies.clear()
    web.sign_in("petrova")  # ivanov's private client does not exist for her
    for path in (
        f"/counterparties/{card.id}/people/new",
        f"/counterparties/{card.id}/people/{person.id}/edit",
    ):
        assert web.get(path).status_code == 404
    assert web.post(f"/counterparties/{card.id}/people", PERSON).status_code == 404
    r = web.post(f"/counterparties/{card.id}/people/{person.id}/edit", {**PERSON, "version": "1"})
    assert r.status_code == 404 and "Сидоров" not in r.text
    assert (
        len(people(web, card.id)) == 1 and read(web.database, ContactPerson, person.id).version == 1
    )


def test_a_person_is_edited_only_under_their_own_card(web: Web, card: Counterparty) -> None:
    other = create(web.database, user_id(web, "ivanov"), "counterparties", legal_name="ООО «Лютик»")
    person = create(
        web.database,
        user_id(web, "ivanov"),
        "contact-persons",
        counterparty_id=other.id,
        full_name="Анна Лютикова",
    )
    assert web.get(f"/counterparties/{card.id}/people/{person.id}/edit").status_code == 404
    r = web.post(f"/counterparties/{card.id}/people/{person.id}/edit", {**PERSON, "version": "1"})
    assert (
        r.status_code == 404
        and read(web.database, ContactPerson, person.id).full_name == "Анна Лютикова"
    )


def test_people_forms_need_the_token(web: Web, card: Counterparty) -> None:
    r = web.client.post(f"/counterparties/{card.id}/people", data=PERSON, follow_redirects=False)
    assert r.status_code == 403 and people(web, card.id) == []


def test_a_likely_duplicate_is_shown_before_it_is_created_and_made_only_when_confirmed(
    web: Web, ivanov: Any
) -> None:
    assert web.post("/counterparties", NEW).status_code == 303
    first = counterparties(web)
    # The same company typed again another way: warned, with a link to the one there is.
    again = {**NEW, "legal_name": "Вектор ООО", "inn": "", "kpp": "", "phone": "+7 916 123 45 67"}
    r = web.post("/counterparties", again)
    assert r.status_code == 409
    assert 'id="similar"' in r.text and "ООО «Вектор»" in r.text and "Всё равно создать" in r.text
    assert 'name="confirm_duplicate" value="1"' in r.text
    assert counterparties(web) == first
    # A value the rules refuse is shown first, beside its field: the warning waits for valid values.
    wrong = web.post("/counterparties", {**again, "inn": "12345"})
    assert wrong.status_code == 422 and 'id="similar"' not in wrong.text
    assert beside(wrong.text, "inn")
    assert counterparties(web) == first
    # Confirmed, it is created.
    r = web.post("/counterparties", {**again, "confirm_duplicate": "1"})
    assert r.status_code == 303 and counterparties(web) == first + 1
    # A colleague's private client is never named: the same name is created at once.
    petrova = user(web.database, "petrova", team="Питер")
    create(web.database, petrova, "counterparties", legal_name="ООО «Сапфир»", visibility="private")
    sapfir = {**NEW, "legal_name": "Сапфир ООО", "inn": "", "kpp": "", "phone": "", "email": ""}
    r = web.post("/counterparties", sapfir)
    assert r.status_code == 303, r.text[:300]


def test_the_cards_people_download_as_vcards_only_for_who_sees_it(web: Web, ivanov: Any) -> None:
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    create(
        web.database,
        ivanov,
        "contact-persons",
        counterparty_id=cp.id,
        full_name="Петров Пётр Петрович",
        contacts=[{"kind": "phone", "value": "+7 495 123-45-67"}],
    )
    card = web.get(f"/counterparties/{cp.id}").text
    assert f'href="/counterparties/{cp.id}/people.vcf"' in card
    r = web.get(f"/counterparties/{cp.id}/people.vcf")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vcard")
    assert "FN:Петров Пётр Петрович" in r.text and "TEL;TYPE=WORK:+74951234567" in r.text
    user(web.database, "petrova", team="Питер")
    web.sign_in("petrova")
    assert web.get(f"/counterparties/{cp.id}/people.vcf").status_code == 404
