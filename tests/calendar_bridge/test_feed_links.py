"""An event's link opens the counterparty's card in the web UI, not a JSON answer of the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
from sqlalchemy import select

from calendar_bridge import feeds, tokens
from crm import records
from crm.database import Database
from crm.models import Counterparty, User
from tests.conftest import make_user

BASE = "https://crm.example.ru"
SOON = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)


def _create(database: Database, actor: User, type_name: str, **data: Any) -> Any:
    with database.write() as db:
        return records.create(db, db.get_one(User, actor.id), records.record_type(type_name), data)


def _events(database: Database, login: str) -> dict[str, Any]:
    with database.write() as db:
        user = db.execute(select(User).where(User.login == login)).scalar_one()
        feed, _ = tokens.issue(db, user, "plan")
        body = feeds.build(db, feed, user, datetime.now(UTC), BASE)
    return {
        str(e["UID"]).split("@")[0]: e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")
    }


def test_an_event_links_to_its_counterparty_card(database: Database) -> None:
    ivanov = make_user(database, "ivanov")
    cp = _create(database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    meeting = _create(
        database,
        ivanov,
        "interactions",
        counterparty_id=cp.id,
        kind="meeting",
        status="planned",
        starts_at=SOON.isoformat(),
    )
    about = _create(
        database,
        ivanov,
        "reminders",
        title="Выставить счёт",
        due_at=(SOON + timedelta(hours=2)).isoformat(),
        subject_type="counterparty",
        subject_id=cp.id,
    )
    personal = _create(
        database,
        ivanov,
        "reminders",
        title="Продлить пропуск",
        due_at=(SOON + timedelta(hours=3)).isoformat(),
    )
    events = _events(database, "ivanov")
    card = f"{BASE}/counterparties/{cp.id}"
    for record in (meeting, about):
        event = events[record.id]
        assert str(event["URL"]) == card
        assert f"Открыть: {card}" in str(event["DESCRIPTION"])
        assert "/api/" not in str(event["DESCRIPTION"])
    assert (
        str(events[personal.id]["URL"]) == f"{BASE}/api/v1/reminders/{personal.id}"
    )  # no card to open


def test_a_hidden_counterparty_gives_no_link(database: Database) -> None:
    ivanov = make_user(database, "ivanov")
    petrova = make_user(database, "petrova", team="Казань")
    cp = _create(
        database, ivanov, "counterparties", legal_name="ООО «Ромашка»", visibility="private"
    )
    meeting = _create(
        database,
        ivanov,
        "interactions",
        counterparty_id=cp.id,
        kind="meeting",
        status="planned",
        starts_at=SOON.isoformat(),
    )
    with (
        database.write() as db
    ):  # handed to someone ivanov does not see: his meeting keeps only its slot
        db.get_one(Counterparty, cp.id).owner_id = petrova.id
    event = _events(database, "ivanov")[meeting.id]
    assert "URL" not in event and "DESCRIPTION" not in event
