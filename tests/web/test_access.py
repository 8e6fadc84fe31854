"""The screens apply the access rules: another salesperson's private client does not exist for me."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm.models import Counterparty, Interaction, User
from tests.web.conftest import Web, create, read, user


@pytest.fixture
def company(web: Web) -> dict[str, Counterparty]:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    user(web.database, "office", role="office")
    mine = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="ООО «Ромашка»",
        inn="7707083893",
        contacts=[{"kind": "phone", "value": "+7 916 111-22-33"}],
    )
    hers = create(
        web.database,
        petrova,
        "counterparties",
        legal_name="ООО «Василёк»",
        inn="500100732259",
        contacts=[
            {"kind": "phone", "value": "+7 916 444-55-66"},
            {"kind": "email", "value": "info@vasilek.ru"},
        ],
    )
    create(
        web.database,
        petrova,
        "contact-persons",
        counterparty_id=hers.id,
        full_name="Сергей Васильков",
        birthday=(datetime.now(UTC) + timedelta(days=1)).date().replace(year=1980).isoformat(),
        contacts=[{"kind": "phone", "value": "+7 903 777-88-99"}],
    )
    return {"mine": mine, "hers": hers}


@pytest.mark.parametrize("path", ["/counterparties/{id}", "/counterparties/{id}/edit"])
def test_another_salespersons_private_card_is_not_found(
    web: Web, company: dict[str, Counterparty], path: str
) -> None:
    web.sign_in("ivanov")
    r = web.get(path.format(id=company["hers"].id))
    assert r.status_code == 404
    assert "Василёк" not in r.text and "500100732259" not in r.text
    # the same answer as for a record that does not exist at all
    assert web.get(path.format(id="00000000-0000-0000-0000-000000000000")).status_code == 404


def test_writing_to_it_is_not_found_and_changes_nothing(
    web: Web, company: dict[str, Counterparty]
) -> None:
    web.sign_in("ivanov")
    hers = company["hers"]
    r = web.post(
        f"/counterparties/{hers.id}/edit",
        {"legal_name": "Моё теперь", "stage": "lead", "visibility": "company"},
    )
    assert r.status_code == 404
    r = web.post(
        f"/counterparties/{hers.id}/interactions", {"starts_at": "2026-12-01T10:00", "subject": "x"}
    )
    assert r.status_code == 404
    assert read(web.database, Counterparty, hers.id).legal_name == "ООО «Василёк»"
    with web.database.read() as db:
        assert db.execute(select(func.count()).select_from(Interaction)).scalar_one() == 0


@pytest.mark.parametrize(
    "q",
    [
        "Василёк",
        "васил",
        "500100732259",
        "444-55-66",
        "+7 903 777",
        "info@vasilek.ru",
        "@vasilek.ru",
    ],
)
def test_it_never_appears_in_search(web: Web, company: dict[str, Counterparty], q: str) -> None:
    web.sign_in("ivanov")
    for path in ("/search", "/search/results"):
        r = web.get(path, params={"q": q})
        assert r.status_code == 200
        assert (
            f"/counterparties/{company['hers'].id}" not in r.text
        )  # the query itself is echoed in the box
    assert "Найдено: 0" in web.get("/search", params={"q": q}).text
    web.client.cookies.clear()
    web.sign_in("petrova")  # she finds it the same way
    assert company["hers"].id in web.get("/search/results", params={"q": q}).text


def test_its_birthdays_do_not_reach_my_agenda(web: Web, company: dict[str, Counterparty]) -> None:
    web.sign_in("ivanov")
    assert "Васильков" not in web.get("/").text
    web.client.cookies.clear()
    web.sign_in("petrova")
    assert "Васильков" in web.get("/").text


def test_office_sees_every_card_but_edits_none_of_them(
    web: Web, company: dict[str, Counterparty]
) -> None:
    web.sign_in("office")
    hers = company["hers"]
    card = web.get(f"/counterparties/{hers.id}")
    assert card.status_code == 200 and "Василёк" in card.text
    assert 'id="edit-link"' not in card.text
    r = web.post(
        f"/counterparties/{hers.id}/edit",
        {"legal_name": "Офисное", "stage": "lead", "visibility": "private", "version": "1"},
    )
    assert r.status_code == 403
    assert read(web.database, Counterparty, hers.id).legal_name == "ООО «Василёк»"


FORMS = [
    "/counterparties/{id}/edit",
    "/counterparties/{id}/deals/new",
    "/counterparties/{id}/people/new",
]


@pytest.mark.parametrize("path", FORMS)
def test_a_form_is_not_shown_to_whoever_may_only_read_the_card(
    web: Web, company: dict[str, Counterparty], path: str
) -> None:
    """Office sees a salesperson's private card, another salesperson a company-visible one: neither may
    change it, so neither gets a form that would only be refused (403, as the submit is)."""
    shared = create(
        web.database,
        read_user(web, "petrova"),
        "counterparties",
        legal_name="ООО «Лютик»",
        visibility="company",
    )
    for login, cp_id in (("office", company["hers"].id), ("ivanov", shared.id)):
        web.client.cookies.clear()
        web.sign_in(login)
        assert (
            web.get(f"/counterparties/{cp_id}").status_code == 200
        )  # the card itself is theirs to read
        r = web.get(path.format(id=cp_id))
        assert r.status_code == 403, (login, path)
        assert (
            'name="legal_name"' not in r.text
            and 'name="title"' not in r.text
            and 'name="full_name"' not in r.text
        )
    web.client.cookies.clear()
    web.sign_in("petrova")  # the owner gets the form
    assert web.get(path.format(id=shared.id)).status_code == 200


def test_a_reader_may_still_log_an_interaction_and_write_a_letter(
    web: Web, company: dict[str, Counterparty]
) -> None:
    web.sign_in("office")
    hers = company["hers"].id
    card = web.get(f"/counterparties/{hers}").text
    assert 'id="log-form"' in card and 'id="new-deal"' not in card and 'id="new-person"' not in card
    assert web.get(f"/counterparties/{hers}/letters/new").status_code == 200


def read_user(web: Web, login: str) -> User:
    with web.database.read() as db:
        return db.execute(select(User).where(User.login == login)).scalar_one()
