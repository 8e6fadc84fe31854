"""Search by name fragment in any case (Cyrillic too), INN, phone typed any way, and email."""

from __future__ import annotations

import pytest

from tests.server.conftest import Api


@pytest.fixture
def found(api: Api):  # type: ignore[no-untyped-def]
    h = api.user("ivanov")
    romashka = api.create(
        h,
        "counterparties",
        legal_name="ООО «Ромашка»",
        short_name="Ромашка",
        inn="7707083893",
        contacts=[{"kind": "phone", "value": "+7 (916) 123-45-67"}],
    )
    api.create(
        h,
        "counterparties",
        legal_name="АО Ёлочка",
        inn="7736207543",
        contacts=[{"kind": "email", "value": "Sales@Elochka.ru"}],
    )
    api.create(
        h,
        "contact-persons",
        counterparty_id=romashka["id"],
        full_name="Петров Пётр",
        contacts=[
            {"kind": "phone", "value": "8 812 555 66 77"},
            {"kind": "email", "value": "petrov@mail.ru"},
        ],
    )

    def names(q: str) -> set[str]:
        r = api.client.get("/api/v1/counterparties", headers=h, params={"q": q})
        assert r.status_code == 200, r.text
        return {c["legal_name"] for c in r.json()["items"]}

    return names


# The queries of one test share its company (a company per query was most of this file's time); every
# query that finds something else is named.
def test_beginning_of_any_word_in_any_case(found) -> None:  # type: ignore[no-untyped-def]
    queries = ["ромашка", "РОМАШКА", "Ромаш", "«ромашка»", "ооо ром", "Ром ООО"]
    assert {q: found(q) for q in queries} == {q: {"ООО «Ромашка»"} for q in queries}


def test_every_word_of_the_query_must_match(found) -> None:  # type: ignore[no-untyped-def]
    assert found("ромашка ёлочка") == set()
    assert found("омаш") == set()  # the middle of a word is not a beginning


def test_yo_and_ye_are_the_same_letter(found) -> None:  # type: ignore[no-untyped-def]
    assert found("елочка") == {"АО Ёлочка"}
    assert found("ЁЛОЧ") == {"АО Ёлочка"}


def test_phone_any_format(found) -> None:  # type: ignore[no-untyped-def]
    queries = [
        "+79161234567",
        "89161234567",
        "8 (916) 123-45-67",
        "+7 916 123 45 67",
        "916-123-45-67",
        "123-45-67",
        "1234567",
        "+7 916",
        "45-67",
        # the beginning typed as people say it, with the trunk 8 or the code alone
        "8 (916)",
        "8 916 12",
        "8916123",
        "916 123",
        "(916) 1",
    ]
    assert {q: found(q) for q in queries} == {q: {"ООО «Ромашка»"} for q in queries}


def test_phone_and_email_of_a_contact_person_find_the_counterparty(found) -> None:  # type: ignore[no-untyped-def]
    assert found("+7 (812) 555-66-77") == {"ООО «Ромашка»"}
    assert found("PETROV@MAIL.RU") == {"ООО «Ромашка»"}


def test_inn_and_email(found) -> None:  # type: ignore[no-untyped-def]
    assert found("7736207543") == {"АО Ёлочка"}
    assert found("7707083893") == {"ООО «Ромашка»"}
    assert found("sales@elochka") == {"АО Ёлочка"}
    assert found("@elochka.ru") == {"АО Ёлочка"}
    assert found("@mail.ru") == {"ООО «Ромашка»"}


def test_wildcards_are_literal(found) -> None:  # type: ignore[no-untyped-def]
    assert found("%") == set()
    assert found("_") == set()


def test_no_match(found) -> None:  # type: ignore[no-untyped-def]
    assert found("василёк") == set()
    assert found("+7 999 000-00-00") == set()


def test_contact_persons_searchable_by_name(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", legal_name="ООО Альфа")
    api.create(h, "contact-persons", counterparty_id=cp["id"], full_name="Фёдорова Анна")
    r = api.client.get("/api/v1/contact-persons", headers=h, params={"q": "федорова"})
    assert [p["full_name"] for p in r.json()["items"]] == ["Фёдорова Анна"]


def test_edit_reindexes_phones(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(
        h,
        "counterparties",
        legal_name="ООО Бета",
        contacts=[{"kind": "phone", "value": "+74951112233"}],
    )
    api.client.patch(
        f"/api/v1/counterparties/{cp['id']}",
        headers=h,
        json={"contacts": [{"kind": "phone", "value": "+74954445566"}]},
    )
    assert (
        api.client.get("/api/v1/counterparties", headers=h, params={"q": "111-22-33"}).json()[
            "total"
        ]
        == 0
    )
    assert (
        api.client.get("/api/v1/counterparties", headers=h, params={"q": "444-55-66"}).json()[
            "total"
        ]
        == 1
    )


def test_index_follows_owner_and_visibility_changes(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    cp = api.create(ivanov, "counterparties", legal_name="ООО Видимость")
    api.create(
        ivanov,
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Лебедев Олег",
        contacts=[{"kind": "phone", "value": "+74957778899"}],
    )

    def petrova_finds(q: str) -> int:
        return api.client.get("/api/v1/counterparties", headers=petrova, params={"q": q}).json()[
            "total"
        ]

    assert petrova_finds("видимость") == petrova_finds("777-88-99") == 0
    api.client.patch(
        f"/api/v1/counterparties/{cp['id']}", headers=ivanov, json={"visibility": "company"}
    )
    assert petrova_finds("видимость") == petrova_finds("777-88-99") == 1
    r = api.client.get("/api/v1/contact-persons", headers=petrova, params={"q": "лебедев"})
    assert r.json()["total"] == 1
    api.client.patch(
        f"/api/v1/counterparties/{cp['id']}", headers=ivanov, json={"visibility": "private"}
    )
    assert petrova_finds("видимость") == petrova_finds("777-88-99") == 0


@pytest.mark.parametrize("q", ["812 555", "8 812 55", "(812) 555-66"])
def test_the_beginning_of_a_city_number_with_or_without_the_trunk_8(found, q: str) -> None:  # type: ignore[no-untyped-def]
    assert found(q) == {"ООО «Ромашка»"}  # through its contact person's +78125556677
