"""The complaints journal on the screens: registered from a card, listed open first with the overdue
marked, worked and closed through the rules of the API, shown on the card and the agenda."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm.models import Complaint, Counterparty, User
from tests.web.conftest import Web, create, read, user


@pytest.fixture
def client(web: Web) -> Counterparty:
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrova", team="Питер")
    user(web.database, "office", role="office")
    return create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")  # type: ignore[no-any-return]


def _only(web: Web) -> Complaint:
    with web.database.read() as db:
        (found,) = db.execute(select(Complaint)).scalars().all()
        return found


def test_the_office_registers_a_complaint_from_the_card(web: Web, client: Counterparty) -> None:
    web.sign_in("office")
    card = web.get(f"/counterparties/{client.id}").text
    assert 'id="new-complaint"' in card and "Жалоб нет." in card
    form = web.get(f"/counterparties/{client.id}/complaints/new")
    assert form.status_code == 200 and "Суть жалобы" in form.text
    r = web.post(
        f"/counterparties/{client.id}/complaints", {"subject": "product", "description": " "}
    )
    assert r.status_code == 422 and "aria-invalid" in r.text
    r = web.post(
        f"/counterparties/{client.id}/complaints",
        {"subject": "delivery", "product": "Мука, 50 кг", "description": "Привезли мокрые мешки"},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("#complaints")
    made = _only(web)
    assert made.responsible_id == client.owner_id and made.subject == "delivery"
    card = web.get(f"/counterparties/{client.id}").text
    assert "Привезли мокрые мешки" in card and "новая" in card


def test_who_may_not_see_the_card_gets_404(web: Web, client: Counterparty) -> None:
    web.sign_in("petrova")
    assert web.get(f"/counterparties/{client.id}/complaints/new").status_code == 404
    r = web.post(f"/counterparties/{client.id}/complaints", {"description": "Чужая"})
    assert r.status_code == 404
    with web.database.read() as db:
        assert db.execute(select(Complaint)).first() is None


def test_the_journal_lists_open_first_and_closes_with_a_cause(
    web: Web, client: Counterparty
) -> None:
    ivanov = user_of(web, client)
    late = create(
        web.database,
        ivanov,
        "complaints",
        counterparty_id=client.id,
        description="Камень выпал",
        deadline=(datetime.now(UTC).date() - timedelta(days=3)).isoformat(),
    )
    web.sign_in("ivanov")
    page = web.get("/complaints").text
    assert f'id="complaint-{late.id}"' in page and "просрочено" in page.lower()
    agenda = web.get("/").text
    assert "Жалобы к сроку" in agenda and "Камень выпал" in agenda

    r = web.post(f"/complaints/{late.id}/status", {"status": "resolved", "version": "1"})
    assert r.status_code == 422 and "Выберите причину" in r.text
    assert read(web.database, Complaint, late.id).status == "new"
    r = web.post(
        f"/complaints/{late.id}/status",
        {
            "status": "resolved",
            "version": "1",
            "cause": "product_quality",
            "resolution": "Заменили",
        },
    )
    assert r.status_code == 303
    closed = read(web.database, Complaint, late.id)
    assert (closed.status, closed.cause, closed.resolution) == (
        "resolved",
        "product_quality",
        "Заменили",
    )
    assert "Камень выпал" not in web.get("/").text
    page = web.get("/complaints").text
    assert "Открытых жалоб нет." in page and "Качество товара: Заменили" in page

    # The office sees it, but may not work a complaint on a card it may not change.
    other = create(web.database, ivanov, "complaints", counterparty_id=client.id, description="Ещё")
    web.sign_in("office")
    page = web.get("/complaints").text
    assert "Ещё" in page and f'action="/complaints/{other.id}/status"' not in page
    r = web.post(f"/complaints/{other.id}/status", {"status": "in_work", "version": "1"})
    assert r.status_code == 403
    assert read(web.database, Complaint, other.id).status == "new"


def user_of(web: Web, cp: Counterparty) -> User:
    with web.database.read() as db:
        return db.get_one(User, cp.owner_id)
