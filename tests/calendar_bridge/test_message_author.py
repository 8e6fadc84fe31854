"""A reminder someone else left the feed's owner (a message from a colleague) says in the event's
description whom it is from; the owner's own reminders name nobody."""

from __future__ import annotations

from datetime import timedelta

from crm.database import Database
from tests.calendar_bridge.test_feed_links import SOON, _create, _events
from tests.conftest import make_user


def test_a_colleagues_message_names_its_author(database: Database) -> None:
    ivanov = make_user(database, "ivanov")
    petrov = make_user(database, "petrov")
    cp = _create(database, ivanov, "counterparties", legal_name="ООО «Общее»", visibility="company")
    message = _create(
        database,
        ivanov,
        "reminders",
        title="Перезвонить по счёту",
        assignee_id=petrov.id,
        due_at=SOON.isoformat(),
        subject_type="counterparty",
        subject_id=cp.id,
    )
    own = _create(
        database, petrov, "reminders", title="Своё", due_at=(SOON + timedelta(hours=1)).isoformat()
    )
    events = _events(database, "petrov")
    assert str(events[message.id]["DESCRIPTION"]).startswith("От: Пользователь ivanov\n")
    assert "От:" not in str(events[own.id].get("DESCRIPTION", ""))
