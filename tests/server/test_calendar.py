"""Calendar feeds as Outlook, Google and phones fetch them: content, validators, tokens, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import icalendar
import pytest

from tests.server.conftest import Api

SOON = (datetime.now(UTC) + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _feed(api: Api, headers: dict[str, str], kind: str = "plan", **extra: Any) -> str:
    r = api.client.post("/api/v1/feeds", headers=headers, json={"kind": kind, **extra})
    assert r.status_code == 201, r.text
    return r.json()["url"].split("://", 1)[1].split("/", 1)[1]  # the path, for the test client


def _events(body: bytes) -> dict[str, Any]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


@pytest.fixture
def plan(api: Api) -> dict[str, Any]:
    h = api.user("ivanov")
    cp = api.create(
        h,
        "counterparties",
        legal_name="ООО «Ромашка»",
        short_name="Ромашка",
        actual_address="г. Казань, ул. Баумана, д. 12",
        contacts=[{"kind": "phone", "value": "+7 843 123-45-67"}],
    )
    person = api.create(
        h,
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Петров Пётр",
        contacts=[
            {"kind": "phone", "value": "8 916 123 45 67"},
            {"kind": "email", "value": "petrov@romashka.ru"},
        ],
    )
    meeting = api.create(
        h,
        "interactions",
        counterparty_id=cp["id"],
        contact_person_id=person["id"],
        kind="meeting",
        status="planned",
        subject="Новая коллекция",
        starts_at=_iso(SOON),
        duration_minutes=90,
        remind_at=_iso(SOON - timedelta(hours=1)),
    )
    api.create(
        h,
        "interactions",
        counterparty_id=cp["id"],
        kind="call",
        status="done",
        starts_at=_iso(SOON),
    )
    reminder = api.create(
        h,
        "reminders",
        title="Выставить счёт",
        due_at=_iso(SOON + timedelta(hours=3)),
        subject_type="counterparty",
        subject_id=cp["id"],
    )
    return {
        "h": h,
        "cp": cp,
        "person": person,
        "meeting": meeting,
        "reminder": reminder,
        "path": _feed(api, h),
    }


def test_plan_feed_content(api: Api, plan: dict[str, Any]) -> None:
    r = api.client.get(plan["path"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert b"\r\n" in r.content and b"\n" not in r.content.replace(b"\r\n", b"")
    events = _events(r.content)
    assert set(events) == {f"{plan['meeting']['id']}@satchel", f"{plan['reminder']['id']}@satchel"}
    meeting = events[f"{plan['meeting']['id']}@satchel"]
    assert str(meeting["SUMMARY"]).startswith("Встреча: Ромашка — Петров Пётр")
    assert meeting.decoded("DTSTART") == SOON
    assert meeting.decoded("DTEND") == SOON + timedelta(minutes=90)
    assert "+79161234567" in str(meeting["DESCRIPTION"]) and "petrov@romashka.ru" in str(
        meeting["DESCRIPTION"]
    )
    assert str(meeting["LOCATION"]) == "г. Казань, ул. Баумана, д. 12"
    alarms = meeting.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == -timedelta(hours=1)


def test_conditional_gets_as_real_clients_make_them(api: Api, plan: dict[str, Any]) -> None:
    first = api.client.get(plan["path"])
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"')  # strong
    # ICSx5 sends both validators; Outlook sends If-None-Match; Apple revalidates by date.
    assert (
        api.client.get(
            plan["path"], headers={"If-None-Match": etag, "If-Modified-Since": modified}
        ).status_code
        == 304
    )
    assert api.client.get(plan["path"], headers={"If-None-Match": etag}).status_code == 304
    assert api.client.get(plan["path"], headers={"If-Modified-Since": modified}).status_code == 304
    # A validator that does not match gets the feed, even when the date would have matched.
    assert (
        api.client.get(
            plan["path"], headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
        ).status_code
        == 200
    )
    old = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert api.client.get(plan["path"], headers={"If-Modified-Since": old}).status_code == 200
    assert api.client.get(plan["path"]).content == first.content  # same data, same bytes

    moved = SOON + timedelta(days=2)
    api.client.patch(
        f"/api/v1/interactions/{plan['meeting']['id']}",
        headers=plan["h"],
        json={"starts_at": _iso(moved)},
    )
    changed = api.client.get(plan["path"], headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    meeting = _events(changed.content)[f"{plan['meeting']['id']}@satchel"]
    assert meeting.decoded("DTSTART") == moved
    assert int(meeting["SEQUENCE"]) > int(
        _events(first.content)[f"{plan['meeting']['id']}@satchel"]["SEQUENCE"]
    )


def test_head_answers_headers_only(api: Api, plan: dict[str, Any]) -> None:
    r = api.client.head(plan["path"])
    assert r.status_code == 200 and r.content == b"" and r.headers["etag"]


def test_done_and_cancelled_leave_the_feed(api: Api, plan: dict[str, Any]) -> None:
    api.client.patch(
        f"/api/v1/interactions/{plan['meeting']['id']}",
        headers=plan["h"],
        json={"status": "cancelled"},
    )
    api.client.patch(
        f"/api/v1/reminders/{plan['reminder']['id']}", headers=plan["h"], json={"status": "done"}
    )
    assert _events(api.client.get(plan["path"]).content) == {}


def test_revoked_and_regenerated_tokens(api: Api, plan: dict[str, Any]) -> None:
    feeds = api.client.get("/api/v1/feeds", headers=plan["h"]).json()["items"]
    assert "url" not in feeds[0]  # never shown again
    r = api.client.post(f"/api/v1/feeds/{feeds[0]['id']}/regenerate", headers=plan["h"])
    new_path = r.json()["url"].split("://", 1)[1].split("/", 1)[1]
    assert api.client.get(plan["path"]).status_code == 404
    assert api.client.get(new_path).status_code == 200
    assert (
        api.client.delete(f"/api/v1/feeds/{r.json()['id']}", headers=plan["h"]).status_code == 200
    )
    assert api.client.get(new_path).status_code == 404
    assert api.client.get("/calendar/made-up-token.ics").status_code == 404


def test_feed_shows_only_what_its_user_may_see(api: Api, plan: dict[str, Any]) -> None:
    petrova = api.user("petrova")
    other = api.create(petrova, "counterparties", legal_name="ООО Чужая")
    api.create(
        petrova,
        "interactions",
        counterparty_id=other["id"],
        kind="call",
        status="planned",
        starts_at=_iso(SOON),
    )
    own = _events(api.client.get(plan["path"]).content)
    assert all("Чужая" not in str(e["SUMMARY"]) for e in own.values())
    assert (
        api.client.post("/api/v1/feeds", headers=petrova, json={"kind": "team"}).status_code == 403
    )
    manager = api.user("manager", role="manager")
    team = _events(api.client.get(_feed(api, manager, "team")).content)
    summaries = [str(e["SUMMARY"]) for e in team.values()]
    assert any("Ромашка" in s and s.startswith("[Пользователь ivanov]") for s in summaries)
    assert any("Чужая" in s for s in summaries)


def test_free_busy_feed_hides_details(api: Api, plan: dict[str, Any]) -> None:
    events = _events(api.client.get(_feed(api, plan["h"], free_busy=True)).content)
    assert len(events) == 2
    for event in events.values():
        assert "Ромашка" not in event.to_ical().decode()
        assert "DESCRIPTION" not in event


def test_birthdays_feed(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", legal_name="ООО «Ромашка»")
    leap = api.create(
        h,
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Високосный Иван",
        birthday="1988-02-29",
        birthday_remind_days=3,
    )
    api.create(h, "contact-persons", counterparty_id=cp["id"], full_name="Без даты")
    petrova = api.user("petrova")
    hidden = api.create(petrova, "counterparties", legal_name="ООО Чужая")
    api.create(
        petrova,
        "contact-persons",
        counterparty_id=hidden["id"],
        full_name="Чужой",
        birthday="1990-05-15",
    )
    events = _events(api.client.get(_feed(api, h, "birthdays")).content)
    assert list(events) == [f"birthday-{leap['id']}@satchel"]
    event = events[f"birthday-{leap['id']}@satchel"]
    assert "Високосный Иван" in str(event["SUMMARY"])
    assert event["RRULE"]["BYMONTHDAY"] == [-1]
    assert event.walk("VALARM")[0].decoded("TRIGGER") == -timedelta(days=3)


def test_line_breaks_in_a_title_cannot_inject_properties(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", legal_name="ООО Инъекция")
    api.create(
        h,
        "interactions",
        counterparty_id=cp["id"],
        status="planned",
        starts_at=_iso(SOON),
        subject="Звонок\r\nATTENDEE:mailto:evil@example.com\r\nX-EVIL:1",
    )
    body = api.client.get(_feed(api, h)).content
    assert b"\r\nATTENDEE" not in body and b"\r\nX-EVIL" not in body
    (event,) = _events(body).values()
    assert "ATTENDEE" not in event and "X-EVIL" not in event


def test_guessing_tokens_is_rate_limited(api: Api) -> None:
    for i in range(20):
        assert api.client.get(f"/calendar/guess-{i}.ics").status_code == 404
    assert api.client.get("/calendar/guess-21.ics").status_code == 429


def test_served_feeds_pass_three_parsers(api: Api, plan: dict[str, Any]) -> None:
    import vobject
    from ical.calendar_stream import IcsCalendarStream

    api.create(
        plan["h"],
        "contact-persons",
        counterparty_id=plan["cp"]["id"],
        full_name="Февральский Олег",
        birthday="1992-02-29",
    )
    for path in (
        plan["path"],
        _feed(api, plan["h"], "birthdays"),
        _feed(api, plan["h"], free_busy=True),
    ):
        body = api.client.get(path).content
        text = body.decode("utf-8")
        icalendar.Calendar.from_ical(body)
        assert IcsCalendarStream.calendar_from_ics(text).prodid == "-//Satchel//CRM//RU"
        parsed = vobject.readOne(text)
        assert parsed.name == "VCALENDAR"
        assert all(len(line) <= 75 for line in body.split(b"\r\n"))


def test_polls_without_validators_get_the_same_bytes_and_changes_at_once(
    api: Api, plan: dict[str, Any]
) -> None:
    first = api.client.get(plan["path"])
    again = api.client.get(plan["path"])
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    api.client.patch(
        f"/api/v1/interactions/{plan['meeting']['id']}",
        headers=plan["h"],
        json={"subject": "Перенос"},
    )
    changed = api.client.get(plan["path"])
    assert changed.headers["etag"] != first.headers["etag"]
    assert "(Перенос)" in str(
        _events(changed.content)[f"{plan['meeting']['id']}@satchel"]["SUMMARY"]
    )


def test_feed_cache_keeps_the_newest() -> None:
    from server.api.calendar import FeedCache

    cache = FeedCache(size=2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # now the newest
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
