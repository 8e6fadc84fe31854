"""A salesperson's laptop, offline, gives the server's events report for that salesperson row for
row (events and their costs are everyone's; the participants, deals and sales those of the clients
it holds), and enters an event, its cost and an invitation that the next sync sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crm import reports
from crm.database import Database
from crm.models import EventCost, EventParticipant, MarketingEvent, User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.crm.test_marketing import events_company

MARCH = ["--from", "2026-03-01", "--to", "2026-03-01"]


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def test_the_laptop_gives_the_servers_events_report(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    ids = events_company(database, tmp_path)
    home = tmp_path / "home"
    login = ["login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        ivanov = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        march = reports.period("2026-03-01", "2026-03-01", ivanov.created_at.date())
        expected = reports.pipeline(session, ivanov, "events", *march).as_json()
    live.stop()  # offline from here

    shown = field(home, "report", "show", "events", *MARCH, "--json")
    assert shown.exit_code == 0, shown.output
    laptop = json.loads(shown.output)
    assert laptop["rows"] == expected["rows"] and laptop["about"] == expected["about"]
    assert laptop["rows"][0]["revenue"] == "150000.00"  # his clients' only

    # Offline: his own event, its cost and an invitation, queued.
    added = field(
        home, "events", "add", "Семинар в Туле", "--kind", "seminar", "--starts-on", "2026-04-02"
    )
    assert added.exit_code == 0, added.output
    event_id = added.output.split()[1]
    assert field(home, "event-costs", "add", event_id, "Зал", "15000").exit_code == 0
    invited = field(home, "events", "invite", event_id, "-c", ids["A"])
    assert invited.exit_code == 0, invited.output
    # A colleague's event is not his to cost.
    refused = field(home, "event-costs", "add", ids["Z"], "Печать", "100")
    assert refused.exit_code != 0
    listed = field(home, "events", "list", "--json")
    assert "Семинар в Туле" in listed.output

    live.start()
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        event = session.get(MarketingEvent, event_id)
        assert event is not None and event.owner_id == ivanov.id
        assert [
            c.item
            for c in session.execute(
                select(EventCost).where(EventCost.event_id == event_id)
            ).scalars()
        ] == ["Зал"]
        guests = (
            session.execute(select(EventParticipant).where(EventParticipant.event_id == event_id))
            .scalars()
            .all()
        )
        assert [g.counterparty_id for g in guests] == [ids["A"]]
