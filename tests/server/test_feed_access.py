"""Calendar feeds apply the REST access rules at the time they are built (issue 10, item 7).

Written as the outside probe did it: subscribe, let access change behind the
feed's back, poll again as a calendar would (with the old validator, and without
one), and read the bytes. Whatever REST answers ``404`` for must not be in them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar

from tests.server.conftest import Api

SOON = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
SECRETS = ("Тайна", "Секретная ул", "+74951112233", "+79160001122", "boss@tajna.ru", "Сидоров")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _feed(api: Api, headers: dict[str, str], kind: str = "plan") -> str:
    r = api.client.post("/api/v1/feeds", headers=headers, json={"kind": kind})
    assert r.status_code == 201, r.text
    return r.json()["url"].split("://", 1)[1].split("/", 1)[1]


def _uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def _text(body: bytes) -> str:
    """The feed as one unfolded string, so a search does not miss a value split across lines."""
    return body.decode().replace("\r\n ", "").replace("\\,", ",")


def _secret_counterparty(
    api: Api, owner: dict[str, str], visibility: str = "company"
) -> dict[str, Any]:
    cp = api.create(
        owner,
        "counterparties",
        legal_name="ООО «Тайна»",
        short_name="Тайна",
        visibility=visibility,
        actual_address="г. Москва, Секретная ул., д. 1",
        contacts=[{"kind": "phone", "value": "+7 495 111-22-33"}],
    )
    person = api.create(
        owner,
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Сидоров Семён",
        contacts=[
            {"kind": "phone", "value": "+7 916 000-11-22"},
            {"kind": "email", "value": "boss@tajna.ru"},
        ],
    )
    return {"cp": cp, "person": person}


def _poll(api: Api, path: str, etag: str) -> bytes:
    """Poll as Outlook does (old validator) and as Google does (none); both must give today's bytes."""
    revalidated = api.client.get(path, headers={"If-None-Match": etag})
    assert revalidated.status_code == 200, "access changed, so the feed's validator must change too"
    plain = api.client.get(path)
    assert plain.content == revalidated.content
    return plain.content


def test_own_meeting_stays_but_a_counterparty_made_private_leaves_no_details(api: Api) -> None:
    petrova = api.user("petrova")
    ivanov = api.user("ivanov")
    secret = _secret_counterparty(api, petrova)
    meeting = api.create(
        ivanov,
        "interactions",
        counterparty_id=secret["cp"]["id"],
        kind="meeting",
        contact_person_id=secret["person"]["id"],
        status="planned",
        subject="Условия",
        starts_at=_iso(SOON),
    )
    path = _feed(api, ivanov)
    before = api.client.get(path)
    assert all(s in _text(before.content) for s in SECRETS)  # visible to everyone: all there

    r = api.client.patch(
        f"/api/v1/counterparties/{secret['cp']['id']}",
        headers=petrova,
        json={"visibility": "private"},
    )
    assert r.status_code == 200, r.text
    assert (
        api.client.get(f"/api/v1/counterparties/{secret['cp']['id']}", headers=ivanov).status_code
        == 404
    )
    assert (
        api.client.get(
            f"/api/v1/contact-persons/{secret['person']['id']}", headers=ivanov
        ).status_code
        == 404
    )

    body = _poll(api, path, before.headers["etag"])
    assert f"{meeting['id']}@satchel" in _uids(body)  # still their meeting, still in their calendar
    leaked = [s for s in SECRETS if s in _text(body)]
    assert leaked == []


def test_removed_share_takes_the_details_out_of_the_feed(api: Api) -> None:
    petrova = api.user("petrova")
    ivanov = api.user("ivanov")
    secret = _secret_counterparty(api, petrova, visibility="private")
    with api.database.read() as session:
        from crm import accounts

        ivanov_id = accounts.find_user(session, "ivanov").id
    share = api.create(petrova, "shares", counterparty_id=secret["cp"]["id"], user_id=ivanov_id)
    api.create(
        ivanov,
        "interactions",
        counterparty_id=secret["cp"]["id"],
        kind="call",
        contact_person_id=secret["person"]["id"],
        status="planned",
        starts_at=_iso(SOON),
    )
    path = _feed(api, ivanov)
    before = api.client.get(path)
    assert "Тайна" in _text(before.content)

    assert api.client.delete(f"/api/v1/shares/{share['id']}", headers=petrova).status_code in (
        200,
        204,
    )
    assert (
        api.client.get(f"/api/v1/counterparties/{secret['cp']['id']}", headers=ivanov).status_code
        == 404
    )
    body = _poll(api, path, before.headers["etag"])
    assert [s for s in SECRETS if s in _text(body)] == []


def test_reminder_for_a_counterparty_its_assignee_cannot_see_shows_only_the_reminder(
    api: Api,
) -> None:
    manager = api.user("manager", role="manager")
    petrova = api.user("petrova")
    ivanov = api.user("ivanov")
    secret = _secret_counterparty(api, petrova, visibility="private")
    with api.database.read() as session:
        from crm import accounts

        ivanov_id = accounts.find_user(session, "ivanov").id
    # The manager gave a teammate a task about a client shared with him then (work goes only to who
    # sees the client); the client was unshared since, the task stays his.
    share = api.create(petrova, "shares", counterparty_id=secret["cp"]["id"], user_id=ivanov_id)
    reminder = api.create(
        manager,
        "reminders",
        title="Позвонить насчёт долга",
        assignee_id=ivanov_id,
        due_at=_iso(SOON),
        subject_type="counterparty",
        subject_id=secret["cp"]["id"],
    )
    assert api.client.delete(f"/api/v1/shares/{share['id']}", headers=petrova).status_code == 204
    assert api.client.get(f"/api/v1/reminders/{reminder['id']}", headers=ivanov).status_code == 200
    assert (
        api.client.get(f"/api/v1/counterparties/{secret['cp']['id']}", headers=ivanov).status_code
        == 404
    )

    body = api.client.get(_feed(api, ivanov)).content
    assert f"{reminder['id']}@satchel" in _uids(body)
    assert "Позвонить насчёт долга" in _text(body)
    assert [s for s in SECRETS if s in _text(body)] == []


def test_team_feed_holds_no_personal_reminders_the_manager_cannot_read(api: Api) -> None:
    manager = api.user("manager", role="manager")
    ivanov = api.user("ivanov")
    client = api.create(ivanov, "counterparties", legal_name="ООО Ромашка", short_name="Ромашка")
    work = api.create(
        ivanov,
        "reminders",
        title="Выставить счёт",
        due_at=_iso(SOON),
        subject_type="counterparty",
        subject_id=client["id"],
    )
    personal = api.create(
        ivanov, "reminders", title="Личное: к врачу", due_at=_iso(SOON + timedelta(hours=2))
    )
    assert api.client.get(f"/api/v1/reminders/{personal['id']}", headers=manager).status_code == 404
    assert api.client.get(f"/api/v1/reminders/{work['id']}", headers=manager).status_code == 200

    body = api.client.get(_feed(api, manager, "team")).content
    assert f"{work['id']}@satchel" in _uids(body)
    assert f"{personal['id']}@satchel" not in _uids(body)
    assert "врачу" not in _text(body)
    # Their own plan still has it.
    assert f"{personal['id']}@satchel" in _uids(api.client.get(_feed(api, ivanov)).content)


def test_team_feed_stops_when_its_owner_is_no_longer_a_manager(api: Api) -> None:
    admin = api.user("admin", role="admin")
    manager = api.user("manager", role="manager")
    ivanov = api.user("ivanov")
    client = api.create(ivanov, "counterparties", legal_name="ООО Ромашка", short_name="Ромашка")
    api.create(
        ivanov,
        "interactions",
        counterparty_id=client["id"],
        kind="meeting",
        status="planned",
        starts_at=_iso(SOON),
    )
    path = _feed(api, manager, "team")
    before = api.client.get(path)
    assert before.status_code == 200 and "Ромашка" in _text(before.content)
    me = api.client.get("/api/v1/me", headers=manager).json()["user"]

    r = api.client.patch(f"/api/v1/users/{me['id']}", headers=admin, json={"role": "salesperson"})
    assert r.status_code == 200, r.text
    for headers in ({"If-None-Match": before.headers["etag"]}, {}):
        after = api.client.get(path, headers=headers)
        assert after.status_code in (404, 410)
        assert "Ромашка" not in after.text
    # Their own plan feed is not a manager's privilege and keeps working.
    assert api.client.get(_feed(api, manager)).status_code == 200


def test_a_contact_person_moved_out_of_sight_leaves_a_visible_meeting(api: Api) -> None:
    petrova = api.user("petrova")
    ivanov = api.user("ivanov")
    mine = api.create(ivanov, "counterparties", legal_name="ООО Ромашка", short_name="Ромашка")
    person = api.create(
        ivanov,
        "contact-persons",
        counterparty_id=mine["id"],
        full_name="Сидоров Семён",
        contacts=[{"kind": "email", "value": "boss@tajna.ru"}],
    )
    meeting = api.create(
        ivanov,
        "interactions",
        counterparty_id=mine["id"],
        contact_person_id=person["id"],
        kind="meeting",
        status="planned",
        starts_at=_iso(SOON),
    )
    theirs = api.create(petrova, "counterparties", legal_name="ООО «Тайна»", visibility="team")
    # A teammate may change a team-visible counterparty, so Ivanov may move the person there…
    r = api.client.patch(
        f"/api/v1/contact-persons/{person['id']}",
        headers=ivanov,
        json={"counterparty_id": theirs["id"]},
    )
    assert r.status_code == 200, r.text
    # …and then its owner makes it private.
    assert (
        api.client.patch(
            f"/api/v1/counterparties/{theirs['id']}",
            headers=petrova,
            json={"visibility": "private"},
        ).status_code
        == 200
    )
    assert (
        api.client.get(f"/api/v1/contact-persons/{person['id']}", headers=ivanov).status_code == 404
    )

    body = api.client.get(_feed(api, ivanov)).content
    assert f"{meeting['id']}@satchel" in _uids(body)
    assert "Ромашка" in _text(body)  # the meeting's own counterparty is still his
    assert "Сидоров" not in _text(body) and "boss@tajna.ru" not in _text(body)
