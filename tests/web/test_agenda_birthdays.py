"""The agenda's birthdays: the nearest first, at most a few, the rest counted; only of clients I see.
And my own reminders, on a client I no longer see too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm import agenda, diary, records
from crm.models import User
from tests.web.conftest import Web, create, user

TODAY = date(2026, 12, 30)


def _born(days_ahead: int, year: int = 1980) -> str:
    return (TODAY + timedelta(days=days_ahead)).replace(year=year).isoformat()


def test_the_nearest_birthdays_are_shown_and_the_rest_counted(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО «Моё»")
    open_to_all = create(
        web.database, petrova, "counterparties", legal_name="ООО «Общее»", visibility="company"
    )
    hidden = create(web.database, petrova, "counterparties", legal_name="ООО «Чужое»")
    for name, cp, ahead in (
        ("Б Своя послезавтра", mine, 2),
        ("А Общая послезавтра", open_to_all, 2),
        ("В Своя сегодня", mine, 0),
        ("Г Своя через неделю", mine, 7),
        ("Д Своя через восемь", mine, 8),
        ("Е Чужая сегодня", hidden, 0),
    ):
        create(
            web.database,
            ivanov if cp is mine else petrova,
            "contact-persons",
            counterparty_id=cp.id,
            full_name=name,
            birthday=_born(ahead),
        )
    with web.database.read() as db:
        me = db.get_one(User, ivanov.id)
        shown, more = agenda.upcoming_birthdays(db, me, TODAY, 7, limit=3)
        # Today first; on the same day my own clients before the others.
        assert [(b.person.full_name, b.days_left) for b in shown] == [
            ("В Своя сегодня", 0),
            ("Б Своя послезавтра", 2),
            ("А Общая послезавтра", 2),
        ]
        assert more == 1  # the one in a week; not the one in eight days, not the hidden client's
        assert [b.counterparty.id for b in shown] == [mine.id, mine.id, open_to_all.id]
        everything, none_more = agenda.upcoming_birthdays(db, me, TODAY, 7)
        assert len(everything) == 4 and none_more == 0
        assert agenda.birthdays_within(db, me, TODAY, 7) == everything
        # The hidden client's person is her owner's: petrova sees it today.
        hers = [
            b.person.full_name
            for b in agenda.birthdays_within(db, db.get_one(User, petrova.id), TODAY, 0)
        ]
        assert hers == ["Е Чужая сегодня"]


def test_my_reminder_on_a_client_i_do_not_see_stays_on_my_agenda_without_the_client(
    web: Web,
) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    manager = user(web.database, "manager", role="manager")
    hers = create(web.database, petrova, "counterparties", legal_name="ООО «Чужое»")
    due = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    # Given to him while the client was shared with him (work goes only to who sees the client), unshared since.
    lend = create(web.database, petrova, "shares", counterparty_id=hers.id, user_id=ivanov.id)
    create(
        web.database,
        manager,
        "reminders",
        title="Поручение",
        due_at=due,
        assignee_id=ivanov.id,
        subject_type="counterparty",
        subject_id=hers.id,
    )
    with web.database.write() as session:
        records.delete(
            session, session.get_one(User, petrova.id), records.record_type("shares"), lend.id
        )
    create(
        web.database,
        petrova,
        "reminders",
        title="Её своё",
        due_at=due,
        subject_type="counterparty",
        subject_id=hers.id,
    )
    with web.database.read() as db:
        me = db.get_one(User, ivanov.id)
        day = agenda.for_user(db, me, ZoneInfo("Europe/Moscow"))
        assert [(r.title, c) for r, c in day.reminders] == [("Поручение", None)]
        assert day.more_birthdays == 0
        boss = db.get_one(User, manager.id)
        now = datetime.now(UTC)
        # A manager's view of the team: the rule still decides for other people's reminders.
        team = diary.reminders(db, boss, [ivanov.id, petrova.id], now - timedelta(days=1), now)
        assert sorted(r.title for r, _ in team) == sorted(["Поручение", "Её своё"])
        alone = diary.reminders(db, me, [ivanov.id, petrova.id], now - timedelta(days=1), now)
        assert [r.title for r, _ in alone] == ["Поручение"]


def test_the_agenda_says_how_many_more_birthdays_there_are(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agenda, "MAX_BIRTHDAYS", 2)
    ivanov = user(web.database, "ivanov")
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО «Моё»")
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    for n in range(5):
        born = (today + timedelta(days=n % 3)).replace(year=1980)  # a leap year: 29 February exists
        create(
            web.database,
            ivanov,
            "contact-persons",
            counterparty_id=mine.id,
            full_name=f"Именинник {n}",
            birthday=born.isoformat(),
        )
    web.sign_in("ivanov")
    page = web.get("/").text
    assert page.count("Именинник") == 2
    assert 'id="birthdays-more"' in page and "и ещё 3" in page


def test_the_agenda_shows_the_latest_reminders_and_links_to_the_earlier_ones(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agenda, "MAX_REMINDERS", 3)
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    now = datetime.now(UTC)
    for n in range(6):  # due 6 … 1 hours ago: "Напоминание 5" is the latest
        create(
            web.database,
            ivanov,
            "reminders",
            title=f"Напоминание {n}",
            due_at=(now - timedelta(hours=6 - n)).isoformat(),
        )
    create(web.database, ivanov, "reminders", title="Давно забытое", due_at="2020-01-01T09:00:00Z")
    create(web.database, petrova, "reminders", title="Не моё", due_at=now.isoformat())
    web.sign_in("ivanov")
    page = web.get("/").text
    shown = [f"Напоминание {n}" for n in range(6) if f"Напоминание {n}<" in page]
    assert shown == ["Напоминание 3", "Напоминание 4", "Напоминание 5"]  # the latest, in due order
    assert 'id="reminders-more"' in page and "и ещё 3 раньше" in page
    assert "/?reminders=all#reminders" in page
    assert "Не моё" not in page and "Давно забытое" not in page
    every = web.get("/?reminders=all").text
    assert [n for n in range(6) if f"Напоминание {n}<" in every] == list(range(6))
    assert "Не моё" not in every and "Давно забытое" not in every
    assert 'id="reminders-more"' not in every
