"""Marketing events on the screens (SQLite and PostgreSQL): a salesperson enters an event, its costs
and invitations, marks a client attended, names the event on a new deal, and the event's page shows
what it earned; a colleague sees the event and is refused its costs; refusals are in Russian beside
their fields; the reports screen has the events section with its exports."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update
from sqlmodel import col

from crm.models import Deal, EventCost, EventParticipant, MarketingEvent
from tests.web.conftest import Web, create, user


def test_an_exhibition_its_costs_guests_deals_and_return(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrov")
    client = create(web.database, ivanov, "counterparties", legal_name="ООО «Лотос»")
    web.sign_in("ivanov")
    assert 'id="events-link"' in web.get("/").text
    assert web.get("/events/new").status_code == 200
    bad = web.post(
        "/events",
        {
            "name": "JUNWEX",
            "kind": "exhibition",
            "starts_on": "2026-03-12",
            "ends_on": "2026-03-10",
        },
    )
    assert bad.status_code == 422 and 'id="e-ends_on-error"' in bad.text
    assert "Не раньше первого дня" in bad.text
    r = web.post(
        "/events",
        {
            "name": "JUNWEX Москва",
            "kind": "exhibition",
            "starts_on": "2026-03-10",
            "ends_on": "2026-03-12",
            "place": "Крокус Экспо",
            "budget": "600 000",
        },
    )
    assert r.status_code == 303, r.text
    event_id = r.headers["location"].rsplit("/", 1)[1]
    page = web.get(f"/events/{event_id}")
    assert page.status_code == 200 and 'id="cost-form"' in page.text

    refused = web.post(f"/events/{event_id}/costs", {"item": "Стенд", "amount": "-5"})
    assert refused.status_code == 422 and 'id="c-amount-error"' in refused.text
    assert "Не может быть отрицательным" in refused.text
    r = web.post(
        f"/events/{event_id}/costs",
        {"item": "Стенд", "amount": "350 000", "spent_on": "2026-03-01"},
    )
    assert r.status_code == 303
    r = web.post(f"/events/{event_id}/participants", {"counterparty_id": client.id})
    assert r.status_code == 303
    twice = web.post(f"/events/{event_id}/participants", {"counterparty_typed": client.id})
    assert twice.status_code == 422 and "Уже участвует в этом мероприятии" in twice.text
    with web.database.read() as session:
        (guest,) = session.execute(select(EventParticipant)).scalars()
    assert guest.status == "invited"
    r = web.post(f"/events/{event_id}/participants/{guest.id}/status", {"status": "attended"})
    assert r.status_code == 303
    with web.database.read() as session:
        assert session.get_one(EventParticipant, guest.id).status == "attended"

    # A new deal names the event; won, it earns 700,000 against 350,000: a return of 100 %.
    form = web.get(f"/counterparties/{client.id}/deals/new")
    assert 'id="d-event_id"' in form.text and "JUNWEX Москва" in form.text
    r = web.post(
        f"/counterparties/{client.id}/deals",
        {"title": "Цепи к сезону", "amount": "700000", "currency": "RUB", "event_id": event_id},
    )
    assert r.status_code == 303, r.text
    with web.database.write() as session:
        deal = session.execute(select(Deal)).scalar_one()
        assert deal.event_id == event_id
        session.execute(update(Deal).where(col(Deal.id) == deal.id).values(stage="won"))
    page = web.get(f"/events/{event_id}")
    assert "Цепи к сезону" in page.text and "ООО «Лотос»" in page.text
    assert 'id="event-return">100,00 %' in page.text
    listing = web.get("/events")
    assert "JUNWEX Москва" in listing.text and "100,00" in listing.text
    reports = web.get("/reports?from=2026-03-01&to=2026-03-31")
    assert 'id="events-section"' in reports.text and "JUNWEX Москва" in reports.text
    assert 'id="export-events-xlsx"' in reports.text
    xlsx = web.get("/reports/export/events.xlsx?from=2026-03-01&to=2026-03-31")
    assert xlsx.status_code == 200

    # petrov sees the event, not ivanov's client at it, and may not add its costs.
    web.client.cookies.clear()
    web.sign_in("petrov")
    page = web.get(f"/events/{event_id}")
    assert page.status_code == 200 and 'id="cost-form"' not in page.text
    assert "ООО «Лотос»" not in page.text
    r = web.post(f"/events/{event_id}/costs", {"item": "Моё", "amount": "1"})
    assert r.status_code == 403
    r = web.post(f"/events/{event_id}/participants/{guest.id}/status", {"status": "declined"})
    assert r.status_code == 404
    with web.database.read() as session:
        costs = session.execute(select(EventCost)).scalars().all()
        assert [(c.item, c.amount) for c in costs] == [("Стенд", Decimal("350000.00"))]
        assert session.get_one(MarketingEvent, event_id).name == "JUNWEX Москва"
        assert session.get_one(EventParticipant, guest.id).status == "attended"
