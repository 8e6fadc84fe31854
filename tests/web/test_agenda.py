"""The start page: today's plans, reminders due (overdue marked), birthdays of the next days."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.web.conftest import Web, create, user

MSK = ZoneInfo("Europe/Moscow")


def today_at(hour: int, minute: int = 0) -> datetime:
    """A moment of today in Moscow (the server home's zone), whatever the time of day now."""
    return datetime.combine(datetime.now(MSK).date(), time(hour, minute), MSK)


def test_the_agenda_shows_my_day(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    hers = create(web.database, petrova, "counterparties", legal_name="ООО «Василёк»")
    create(
        web.database,
        ivanov,
        "interactions",
        counterparty_id=mine.id,
        kind="meeting",
        status="planned",
        subject="Переговоры о поставке",
        starts_at=today_at(0, 1).isoformat(),
    )
    create(
        web.database,
        ivanov,
        "interactions",
        counterparty_id=mine.id,
        kind="call",
        status="planned",
        subject="Звонок завтра",
        starts_at=(today_at(0, 1) + timedelta(days=1)).isoformat(),
    )
    create(
        web.database,
        ivanov,
        "interactions",
        counterparty_id=mine.id,
        kind="call",
        status="done",
        subject="Уже сделано",
        starts_at=today_at(0, 2).isoformat(),
    )
    create(
        web.database,
        petrova,
        "interactions",
        counterparty_id=hers.id,
        kind="call",
        status="planned",
        subject="Чужой звонок",
        starts_at=today_at(0, 1).isoformat(),
    )
    create(
        web.database,
        ivanov,
        "reminders",
        title="Выставить счёт",
        subject_type="counterparty",
        subject_id=mine.id,
        due_at=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
    )
    create(
        web.database,
        ivanov,
        "reminders",
        title="Через месяц",
        due_at=(datetime.now(UTC) + timedelta(days=30)).isoformat(),
    )
    soon = (datetime.now(MSK) + timedelta(days=3)).date()
    create(
        web.database,
        ivanov,
        "contact-persons",
        counterparty_id=mine.id,
        full_name="Анна Ромашкина",
        birthday=soon.replace(year=1985).isoformat(),
    )
    create(
        web.database,
        ivanov,
        "contact-persons",
        counterparty_id=mine.id,
        full_name="Борис Нескоро",
        birthday=(soon + timedelta(days=30)).replace(year=1985).isoformat(),
    )
    web.sign_in("ivanov")
    page = web.get("/").text
    assert (
        "Переговоры о поставке" in page and "00:01" in page and f"/counterparties/{mine.id}" in page
    )
    assert "Звонок завтра" not in page and "Уже сделано" not in page and "Чужой звонок" not in page
    assert "Выставить счёт" in page and "просрочено" in page and "Через месяц" not in page
    assert "Анна Ромашкина" in page and "Борис Нескоро" not in page


def test_a_reminder_is_closed_from_the_agenda(web: Web) -> None:
    from crm.models import Reminder
    from tests.web.conftest import read

    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    due = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    mine = create(web.database, ivanov, "reminders", title="Позвонить бухгалтеру", due_at=due)
    hers = create(web.database, petrova, "reminders", title="Её дело", due_at=due)
    web.sign_in("ivanov")
    assert (
        web.client.post(f"/reminders/{mine.id}/done", data={}, follow_redirects=False).status_code
        == 403
    )
    assert read(web.database, Reminder, mine.id).status == "open"
    assert web.post(f"/reminders/{hers.id}/done", {}).status_code == 404
    assert read(web.database, Reminder, hers.id).status == "open"
    r = web.post(f"/reminders/{mine.id}/done", {})
    assert r.status_code == 303 and r.headers["location"] == "/#reminders"
    assert read(web.database, Reminder, mine.id).status == "done"
    assert "Позвонить бухгалтеру" not in web.get("/").text


def test_birthdays_cross_the_new_year_and_29_february(web: Web) -> None:
    from datetime import date

    from crm import agenda

    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    for name, born in (
        ("Новогодний", "1980-01-02"),
        ("Високосный", "1984-02-29"),
        ("Летний", "1980-07-01"),
    ):
        create(
            web.database,
            ivanov,
            "contact-persons",
            counterparty_id=cp.id,
            full_name=name,
            birthday=born,
        )
    with web.database.read() as db:
        me = db.get_one(type(ivanov), ivanov.id)
        winter = agenda.birthdays_within(db, me, date(2026, 12, 30), 7)
        assert [(b.person.full_name, b.on, b.days_left) for b in winter] == [
            ("Новогодний", date(2027, 1, 2), 3)
        ]
        common = agenda.birthdays_within(db, me, date(2027, 2, 26), 3)
        assert [(b.person.full_name, b.on) for b in common] == [("Високосный", date(2027, 2, 28))]
        leap = agenda.birthdays_within(db, me, date(2028, 2, 26), 3)
        assert [(b.person.full_name, b.on) for b in leap] == [("Високосный", date(2028, 2, 29))]
