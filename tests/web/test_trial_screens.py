"""What an outside trial found on the screens (SQLite and PostgreSQL): inviting a hidden client —
invited already or not — reads as inviting one that does not exist, in Russian; the invite list
leaves out those invited; the new-event form says «Название», «С», «По»; an amount in scientific
form is refused; the supplier terms' stale-version answer is Russian; the compare page refuses a
day outside 1900–2200 and an overlong product as the API does, and shows prices to four
decimals; a colleague's message on the agenda says whom it is from."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

from crm import suppliers
from crm.models import EventCost, EventParticipant, MarketingEvent, User
from tests.web.conftest import Web, create, user


def _invite_answer(web: Web, event_id: str, typed: str) -> str:
    r = web.post(f"/events/{event_id}/participants", {"counterparty_typed": typed})
    assert r.status_code == 422, r.text
    found = re.search(r'<span class="field-error" id="i-counterparty-error">([^<]*)</span>', r.text)
    assert found, r.text
    return found.group(1).replace(typed, "<ID>")


def test_inviting_a_hidden_client_reads_as_inviting_nobody(web: Web) -> None:
    owner = user(web.database, "owner")
    ivanov = user(web.database, "ivanov")
    pet = create(web.database, owner, "counterparties", legal_name="ООО Пэт")
    quiet = create(web.database, owner, "counterparties", legal_name="ООО Тихое")
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО Моё")
    event = create(web.database, owner, "events", name="Выставка", kind="exhibition")
    create(web.database, owner, "event-participants", event_id=event.id, counterparty_id=pet.id)
    web.sign_in("ivanov")
    invited = _invite_answer(web, event.id, pet.id)
    not_invited = _invite_answer(web, event.id, quiet.id)
    missing = _invite_answer(web, event.id, str(uuid.uuid4()))
    assert invited == not_invited == missing == "Такого контрагента нет"
    with web.database.read() as session:
        assert session.execute(select(func.count()).select_from(EventParticipant)).scalar() == 1

    # The list to pick from leaves out his clients invited already.
    page = web.get(f"/events/{event.id}").text
    assert f'<option value="{mine.id}"' in page
    assert web.post(f"/events/{event.id}/participants", {"counterparty_id": mine.id}).is_redirect
    assert f'<option value="{mine.id}"' not in web.get(f"/events/{event.id}").text


def test_the_new_event_form_and_amounts_in_scientific_form(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    form = web.get("/events/new").text
    assert '<label for="e-name">Название</label>' in form
    assert (
        '<label for="e-starts_on">С</label>' in form and '<label for="e-ends_on">По</label>' in form
    )
    refused = web.post("/events", {"name": "JUNWEX", "kind": "exhibition", "budget": "1,5E+3"})
    assert refused.status_code == 422 and 'id="e-budget-error"' in refused.text
    assert "Напишите сумму цифрами" in refused.text
    made = web.post("/events", {"name": "JUNWEX", "kind": "exhibition", "budget": "1 500,50"})
    assert made.status_code == 303, made.text
    event_id = made.headers["location"].rsplit("/", 1)[1]
    cost = web.post(f"/events/{event_id}/costs", {"item": "Стенд", "amount": "1,5E+3"})
    assert cost.status_code == 422 and 'id="c-amount-error"' in cost.text
    assert "Напишите сумму цифрами" in cost.text
    with web.database.read() as session:
        assert session.execute(select(func.count()).select_from(EventCost)).scalar() == 0
        assert str(session.get_one(MarketingEvent, event_id).budget) == "1500.50"


def _supplier(web: Web, tmp_path: Path) -> str:
    office = user(web.database, "office", role="office", team=None)
    user(web.database, "ivanov")
    cp = create(
        web.database,
        office,
        "counterparties",
        legal_name="ООО Ювелир-Опт",
        kinds=["supplier"],
        visibility="company",
    )
    path = tmp_path / "p.csv"
    path.write_bytes("Наименование;Цена\r\nКольцо 585;12,3456".encode("cp1251"))
    with web.database.write() as session:
        who = session.execute(select(User).where(col(User.login) == "office")).scalar_one()
        suppliers.import_prices(session, who, path, supplier_id=cp.id, valid_from=date(2026, 1, 1))
    return str(cp.id)


def test_terms_changed_meanwhile_are_said_in_russian(web: Web, tmp_path: Path) -> None:
    cp = _supplier(web, tmp_path)
    web.sign_in("office")
    url = f"/counterparties/{cp}/supplier-terms"
    assert web.post(url, {"rating": "4"}).status_code == 303
    assert web.post(url, {"version": "1", "rating": "5"}).status_code == 303
    stale = web.post(url, {"version": "1", "rating": "3"})
    assert stale.status_code == 409
    assert "кто-то другой" in stale.text and "changed meanwhile" not in stale.text


def test_the_compare_page_refuses_what_the_api_refuses(web: Web, tmp_path: Path) -> None:
    cp = _supplier(web, tmp_path)
    web.sign_in("ivanov")
    for day in ("0001-01-01", "2300-01-01"):
        page = web.get(f"/suppliers/compare?product=кольцо&on={day}")
        assert page.status_code == 400 and 'id="compare-on-error"' in page.text
        assert "Год должен быть от 1900 до 2200" in page.text
    long = web.get("/suppliers/compare?product=" + "к" * 300)
    assert long.status_code == 400 and 'id="compare-product-error"' in long.text
    assert "Не более 200 символов; указано 300" in long.text
    assert 'id="compare-table"' not in long.text
    # Prices to four decimals, on the compare page and on the supplier's card.
    compared = web.get("/suppliers/compare?product=кольцо&on=2026-02-01").text
    assert "12,3456" in compared
    assert "12,3456" in web.get(f"/counterparties/{cp}").text


def test_a_message_from_a_colleague_says_whom_it_is_from(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrov = user(web.database, "petrov")
    cp = create(
        web.database, ivanov, "counterparties", legal_name="ООО Общее", visibility="company"
    )
    # A few minutes overdue: shown on the day's screen whatever the hour (five minutes ahead fell
    # on tomorrow in the last minutes before midnight, Moscow time).
    due = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    create(
        web.database,
        ivanov,
        "reminders",
        title="Перезвонить по счёту",
        assignee_id=petrov.id,
        due_at=due,
        subject_type="counterparty",
        subject_id=cp.id,
    )
    create(web.database, petrov, "reminders", title="Своё дело", due_at=due)
    web.sign_in("petrov")
    page = web.get("/").text
    assert "Перезвонить по счёту" in page and "от Пользователь ivanov" in page
    assert page.count('class="meta author"') == 1  # his own reminder names nobody
