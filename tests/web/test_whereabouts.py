"""The whereabouts board on the screen (issue 15): a week of everybody, linked from the agenda; an
absence entered for oneself (a manager: for their people), an overlap refused beside the form."""

from __future__ import annotations

from sqlalchemy import select

from crm.models import Absence
from tests.web.conftest import Web, create, user


def _absences(web: Web) -> list[Absence]:
    with web.database.read() as db:
        return list(db.execute(select(Absence).order_by(Absence.starts_on)).scalars())


def test_a_week_of_everybody_and_an_absence_entered_from_the_board(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrov = user(web.database, "petrov")
    user(web.database, "boss", role="manager")
    web.sign_in("ivanov")
    assert 'id="whereabouts-link"' in web.get("/").text
    page = web.get("/whereabouts?from=2026-12-02")
    assert page.status_code == 200 and "Где все" in page.text
    assert "30.11.2026" in page.text or "30 нояб" in page.text  # the week starts on its Monday
    assert page.text.count('data-kind="weekend"') == 2 * 3  # three people, Saturday and Sunday
    # Only oneself in the form: ivanov keeps nobody else's absences.
    employee = page.text.split('id="a-user_id"', 1)[1].split("</select>", 1)[0]
    assert f'<option value="{ivanov.id}" selected' in employee
    assert f'<option value="{petrov.id}"' not in employee
    # Any colleague may stand in for him.
    substitute = page.text.split('id="a-substitute_id"', 1)[1].split("</select>", 1)[0]
    assert f'<option value="{petrov.id}"' in substitute

    r = web.post(
        "/absences",
        {"kind": "trip", "starts_on": "2026-12-01", "ends_on": "2026-12-02", "city": "Казань"},
    )
    assert r.status_code == 303 and "from=2026-12-01" in r.headers["location"], r.text
    page = web.get("/whereabouts?from=2026-12-01").text
    assert page.count('data-kind="trip"') == 2 and "Казань" in page
    r = web.post(
        "/absences", {"kind": "sick_leave", "starts_on": "2026-12-02", "ends_on": "2026-12-02"}
    )
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    assert "пересекается с другой отметкой: Командировка с 2026-12-01" in r.text
    # Someone else's absence, through a hand-made form: refused, nothing written.
    r = web.post(
        "/absences",
        {
            "user_id": petrov.id,
            "kind": "vacation",
            "starts_on": "2026-12-07",
            "ends_on": "2026-12-09",
        },
    )
    assert r.status_code == 403
    assert [(a.kind, a.user_id) for a in _absences(web)] == [("trip", ivanov.id)]

    web.sign_in("boss")
    page = web.get("/whereabouts").text
    assert f'<option value="{petrov.id}"' in page
    r = web.post(
        "/absences",
        {
            "user_id": petrov.id,
            "kind": "vacation",
            "starts_on": "2026-12-07",
            "ends_on": "2026-12-09",
        },
    )
    assert r.status_code == 303, r.text
    assert {a.kind for a in _absences(web)} == {"trip", "vacation"}


def test_a_wrong_week_is_a_clear_error(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    assert web.get("/whereabouts?from=вчера").status_code == 400


def test_the_agenda_and_the_card_say_who_is_away_today(web: Web) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.web.conftest import create

    ivanov = user(web.database, "ivanov")
    user(web.database, "office", role="office")
    client = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    today = datetime.now(UTC).date()
    create(
        web.database,
        ivanov,
        "absences",
        kind="vacation",
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=5),
    )
    web.sign_in("office")
    agenda = web.get("/").text
    assert 'id="away-today"' in agenda and "Пользователь ivanov — Отпуск" in agenda
    card = web.get(f"/counterparties/{client.id}").text
    assert 'id="owner-away"' in card and "Отпуск" in card


def test_a_substitute_named_on_the_board_is_told_on_their_agenda_and_the_absent_ones_card(
    web: Web,
) -> None:
    from datetime import timedelta

    from tests.web.conftest import home_today

    ivanov = user(web.database, "ivanov")
    petrov = user(web.database, "petrov", team="Казань")
    today = home_today()
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО Отпускное").id
    web.sign_in("ivanov")
    r = web.post(
        "/absences",
        {
            "kind": "vacation",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=6)).isoformat(),
            "substitute_id": petrov.id,
        },
    )
    assert r.status_code == 303, r.text
    assert [(a.user_id, a.substitute_id) for a in _absences(web)] == [(ivanov.id, petrov.id)]
    board = web.get("/whereabouts").text
    assert "замещает Пользователь petrov" in board and "substitute-away" not in board
    # The substitute away on one of those days: the board says so on that day alone.
    create(
        web.database,
        petrov,
        "absences",
        user_id=petrov.id,
        kind="sick_leave",
        starts_on=(today + timedelta(days=1)).isoformat(),
        ends_on=(today + timedelta(days=1)).isoformat(),
    )
    board = web.get(f"/whereabouts?from={(today + timedelta(days=1)).isoformat()}").text
    assert board.count("который тоже отсутствует") == 1, board
    # Naming oneself is refused beside the field.
    r = web.post(
        "/absences",
        {
            "kind": "day_off",
            "starts_on": (today + timedelta(days=30)).isoformat(),
            "ends_on": (today + timedelta(days=30)).isoformat(),
            "substitute_id": ivanov.id,
        },
    )
    assert r.status_code == 422 and "Замещает другой сотрудник" in r.text
    web.sign_in("petrov")
    agenda = web.get("/").text
    assert 'id="covering"' in agenda and "Пользователь ivanov" in agenda
    page = web.get(f"/counterparties/{cp}")
    assert page.status_code == 200 and "ООО Отпускное" in page.text
    assert "замещает Пользователь petrov" in page.text


def test_an_absence_is_changed_and_deleted_from_the_board_by_whoever_keeps_it(web: Web) -> None:
    from datetime import timedelta

    from tests.web.conftest import home_today

    ivanov = user(web.database, "ivanov")
    petrov = user(web.database, "petrov")
    user(web.database, "boss", role="manager")
    today = home_today()
    absence = create(
        web.database,
        ivanov,
        "absences",
        kind="vacation",
        starts_on=today,
        ends_on=today + timedelta(days=2),
    )
    # A colleague sees the day on the board, not a way to change it; asking anyway: 403.
    web.sign_in("petrov")
    assert f"/absences/{absence.id}" not in web.get("/whereabouts").text
    assert web.get(f"/absences/{absence.id}").status_code == 403
    # The manager changes its end and names a substitute; then takes the substitute off again.
    web.sign_in("boss")
    assert f"/absences/{absence.id}" in web.get("/whereabouts").text
    page = web.get(f"/absences/{absence.id}")
    assert page.status_code == 200 and "Пользователь ivanov" in page.text
    ends = (today + timedelta(days=4)).isoformat()
    r = web.post(
        f"/absences/{absence.id}",
        {
            "kind": "vacation",
            "starts_on": today.isoformat(),
            "ends_on": ends,
            "version": "1",
            "substitute_id": petrov.id,
        },
    )
    assert r.status_code == 303, r.text
    [stored] = _absences(web)
    assert (stored.ends_on.isoformat(), stored.substitute_id) == (ends, petrov.id)
    # Refused beside the field: the end before the start.
    r = web.post(
        f"/absences/{absence.id}",
        {"kind": "vacation", "starts_on": ends, "ends_on": today.isoformat(), "version": "2"},
    )
    assert r.status_code == 422 and 'aria-invalid="true"' in r.text
    r = web.post(f"/absences/{absence.id}/delete", {})
    assert r.status_code == 303 and _absences(web) == []
