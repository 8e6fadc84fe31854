"""A new reminder from the screens: about a counterparty (from its card) or on its own (from the agenda)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm.models import Reminder
from tests.web.conftest import Web, create, user

MSK = ZoneInfo("Europe/Moscow")


def reminders(web: Web) -> list[Reminder]:
    with web.database.read() as db:
        return list(db.execute(select(Reminder)).scalars())


def test_a_reminder_about_a_counterparty_is_made_from_its_card(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    card = web.get(f"/counterparties/{cp.id}").text
    assert f'href="/reminders/new?counterparty_id={cp.id}" id="new-reminder"' in card
    form = web.get(f"/reminders/new?counterparty_id={cp.id}")
    assert form.status_code == 200 and "Новое напоминание" in form.text
    assert "ООО «Ромашка»" in form.text and f'name="counterparty_id" value="{cp.id}"' in form.text
    assert 'name="assignee_id"' not in form.text  # a salesperson's reminders are their own
    r = web.post(
        "/reminders",
        {
            "counterparty_id": cp.id,
            "title": "Выставить счёт",
            "due_at": "2030-03-04T15:00",  # Moscow time, the home's zone
            "notes": "на 50%",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/counterparties/{cp.id}#history"
    [made] = reminders(web)
    assert (made.title, made.notes, made.assignee_id, made.counterparty_id, made.status) == (
        "Выставить счёт",
        "на 50%",
        ivanov.id,
        cp.id,
        "open",
    )
    assert made.subject_type == "counterparty" and made.subject_id == cp.id
    assert made.due_at == datetime(2030, 3, 4, 12, 0, tzinfo=UTC)
    history = web.get(f"/counterparties/{cp.id}").text
    assert "Выставить счёт" in history and "04.03.2030, 15:00" in history


def test_a_reminder_of_ones_own_from_the_agenda(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    agenda = web.get("/").text
    assert 'href="/reminders/new" id="new-reminder"' in agenda
    form = web.get("/reminders/new")
    assert form.status_code == 200 and 'name="counterparty_id" value=""' in form.text
    today = datetime.combine(datetime.now(MSK).date(), time(23, 59), MSK)
    r = web.post(
        "/reminders",
        {
            "counterparty_id": "",
            "title": "Позвонить в банк",
            "due_at": today.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/#reminders"
    [made] = reminders(web)
    assert made.counterparty_id is None and made.subject_type is None
    assert "Позвонить в банк" in web.get("/").text  # due today: on the agenda


def test_problems_are_shown_beside_the_fields_in_the_users_language(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    sent = {"counterparty_id": cp.id, "title": "  ", "due_at": "завтра", "notes": "что-то"}
    r = web.post("/reminders", sent)
    assert r.status_code == 422
    assert 'id="r-title-error">Обязательное поле<' in r.text
    assert 'id="r-due_at-error">Укажите дату и время<' in r.text
    assert 'aria-describedby="r-title-error"' in r.text and "что-то</textarea>" in r.text
    assert f'name="counterparty_id" value="{cp.id}"' in r.text  # still about the card
    assert reminders(web) == []
    web.post("/settings/language", {"locale": "en", "back": "/"})
    r = web.post("/reminders", sent)
    assert r.status_code == 422 and 'id="r-due_at-error">Enter a date and time<' in r.text
    assert "New reminder" in r.text
    r = web.post("/reminders", {**sent, "due_at": "2030-03-04T15:00"})
    assert r.status_code == 422 and 'id="r-title-error">Must not be empty<' in r.text
    assert 'id="r-due_at-error"' not in r.text
    assert reminders(web) == []


def test_another_salespersons_private_client_is_not_found(web: Web) -> None:
    user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    hers = create(web.database, petrova, "counterparties", legal_name="ООО «Василёк»")
    web.sign_in("ivanov")
    r = web.get(f"/reminders/new?counterparty_id={hers.id}")
    assert r.status_code == 404 and "Василёк" not in r.text
    r = web.post(
        "/reminders",
        {"counterparty_id": hers.id, "title": "Подглядеть", "due_at": "2030-03-04T15:00"},
    )
    assert r.status_code == 404 and "Василёк" not in r.text
    assert reminders(web) == []


def test_a_manager_gives_a_reminder_to_someone_of_the_team_and_no_one_else(web: Web) -> None:
    boss = user(web.database, "boss", role="manager")
    ivanov = user(web.database, "ivanov")
    stranger = user(web.database, "stranger", team="Питер")
    cp = create(web.database, boss, "counterparties", legal_name="ООО «Ромашка»", visibility="team")
    web.sign_in("boss")
    form = web.get(f"/reminders/new?counterparty_id={cp.id}").text
    assert f'<option value="{ivanov.id}"' in form and f'<option value="{boss.id}"' in form
    assert stranger.id not in form
    r = web.post(
        "/reminders",
        {
            "counterparty_id": cp.id,
            "title": "Позвонить",
            "due_at": "2030-03-04T15:00",
            "assignee_id": ivanov.id,
        },
    )
    assert r.status_code == 303
    assert [m.assignee_id for m in reminders(web)] == [ivanov.id]
    # Someone the manager may not assign work to: refused, nothing made.
    r = web.post(
        "/reminders",
        {"title": "Чужому", "due_at": "2030-03-04T15:00", "assignee_id": stranger.id},
    )
    assert r.status_code == 403 and len(reminders(web)) == 1


def test_a_message_to_a_colleague_from_the_card(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    user(web.database, "sidorov", team="Питер")
    cp = create(
        web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»", visibility="team"
    )
    web.sign_in("ivanov")
    form = web.get(f"/reminders/new?counterparty_id={cp.id}").text
    # Whom he may leave a message: his teammate who sees the client, not sidorov of another team.
    assert 'name="assignee_id"' in form and petrova.full_name in form
    assert "sidorov" not in form.lower()
    r = web.post(
        "/reminders",
        {
            "title": "Перезвони им по счёту",
            "due_at": "2030-03-04T15:00",
            "assignee_id": petrova.id,
            "counterparty_id": cp.id,
        },
    )
    assert r.status_code == 303
    assert [(m.assignee_id, m.created_by) for m in reminders(web)] == [(petrova.id, ivanov.id)]
