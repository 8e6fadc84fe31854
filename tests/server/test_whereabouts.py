"""Where is everyone (issue 15): absences over REST (who keeps whose, overlaps refused) and the
week's board (an absence over a meeting, meetings at clients by name only where the viewer sees
the client, weekends, the office)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm import whereabouts
from crm.models import User
from tests.server.conftest import Api

MONDAY = date(2026, 11, 30)


def _me(api: Api, h: dict[str, str]) -> dict[str, Any]:
    return api.client.get("/api/v1/me", headers=h).json()["user"]  # type: ignore[no-any-return]


def _users(api: Api) -> dict[str, User]:
    with api.database.read() as session:
        return {u.login: u for u in session.execute(select(User)).scalars()}


def test_who_enters_whose_absences_and_overlaps_are_refused(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrov = api.user("petrov")
    boss = api.user("boss", role="manager")
    office = api.user("office", role="office", team=None)
    ivanov_id = _me(api, ivanov)["id"]
    trip = api.create(
        ivanov,
        "absences",
        kind="trip",
        starts_on="2026-12-01",
        ends_on="2026-12-03",
        city="  Нижний   Новгород ",
    )
    assert trip["user_id"] == ivanov_id and trip["city"] == "Нижний Новгород"
    # A colleague may not enter, change or delete someone else's; their manager and the office may.
    for attempt in (
        api.client.post(
            "/api/v1/absences",
            json={
                "user_id": ivanov_id,
                "kind": "vacation",
                "starts_on": "2026-12-10",
                "ends_on": "2026-12-20",
            },
            headers=petrov,
        ),
        api.client.patch(f"/api/v1/absences/{trip['id']}", json={"city": "Сочи"}, headers=petrov),
        api.client.delete(f"/api/v1/absences/{trip['id']}", headers=petrov),
    ):
        assert attempt.status_code == 403, attempt.text
    assert api.client.get(f"/api/v1/absences/{trip['id']}", headers=petrov).json()["city"] == (
        "Нижний Новгород"
    )
    api.create(
        boss,
        "absences",
        user_id=ivanov_id,
        kind="vacation",
        starts_on="2026-12-10",
        ends_on="2026-12-20",
    )
    # Overlapping another of the same person: refused, saying which.
    r = api.client.post(
        "/api/v1/absences",
        json={
            "user_id": ivanov_id,
            "kind": "sick_leave",
            "starts_on": "2026-12-03",
            "ends_on": "2026-12-04",
        },
        headers=office,
    )
    assert (
        r.status_code == 422
        and "trip from 2026-12-01 to 2026-12-03" in r.json()["details"]["starts_on"]
    )
    for bad in (
        {"kind": "holiday", "starts_on": "2026-12-05", "ends_on": "2026-12-05"},
        {"kind": "trip", "starts_on": "2026-12-06", "ends_on": "2026-12-05"},
        {"kind": "trip", "starts_on": "2026-01-01", "ends_on": "2027-06-01"},
        {"kind": "trip", "starts_on": "2026-12-05"},
    ):
        r = api.client.post("/api/v1/absences", json=bad, headers=ivanov)
        assert r.status_code in (400, 422), (bad, r.text)
    # Everybody sees everybody's.
    assert len(api.client.get("/api/v1/absences", headers=petrov).json()["items"]) == 2


def test_the_board_puts_absences_over_meetings_and_hides_clients_one_may_not_see(api: Api) -> None:
    zone = "Europe/Moscow"
    ivanov = api.user("ivanov")
    api.user("sidorova", team="Питер")
    private = api.create(ivanov, "counterparties", legal_name="ООО «Тайна»", kinds=["client"])
    public = api.create(
        ivanov,
        "counterparties",
        legal_name="ООО «Ромашка»",
        short_name="Ромашка",
        kinds=["client"],
        visibility="company",
    )
    # Tuesday: meetings at both clients (10:00 Moscow); Wednesday: one on the trip's first day.
    for cp, day in ((private, 1), (public, 1), (public, 2)):
        api.create(
            ivanov,
            "interactions",
            counterparty_id=cp["id"],
            kind="meeting",
            status="planned",
            subject="Встреча",
            starts_at=datetime(2026, 12, day, 7, 0, tzinfo=UTC).isoformat(),
        )
    api.create(
        ivanov, "absences", kind="trip", starts_on="2026-12-02", ends_on="2026-12-03", city="Казань"
    )
    users = _users(api)
    with api.database.read() as session:
        seen_by_her = {
            r.name: r.days
            for r in whereabouts.board(session, users["sidorova"], MONDAY, 7, zone=ZoneInfo(zone))
        }
        seen_by_him = {
            r.name: r.days
            for r in whereabouts.board(session, users["ivanov"], MONDAY, 7, zone=ZoneInfo(zone))
        }
    his = seen_by_her["Пользователь ivanov"]
    assert [d.kind for d in his] == [
        "office",
        "client",
        "trip",
        "trip",
        "office",
        "weekend",
        "weekend",
    ]
    assert his[1].detail in ("?, Ромашка", "Ромашка, ?")  # the private client's name stays hidden
    assert his[2].detail == "Казань"
    assert sorted(seen_by_him["Пользователь ivanov"][1].detail.split(", ")) == [
        "ООО «Тайна»",  # no short name: the legal one
        "Ромашка",
    ]
    assert [d.kind for d in seen_by_her["Пользователь sidorova"]][:5] == ["office"] * 5
    with pytest.raises(ValueError):
        with api.database.read() as session:
            whereabouts.board(session, users["ivanov"], MONDAY, 0)
