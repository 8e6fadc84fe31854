"""The complaints journal (issue 15) over REST and sync push: defaults, the way a complaint moves,
what closing it needs, who sees and changes it, the agenda's reminder and the calendar feed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import select
from typer.testing import CliRunner

from crm import agenda
from crm.models import User
from server.commands import app
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop

TODAY = datetime.now(UTC).date()


def _client(api: Api, h: dict[str, str], name: str = "ООО «Ромашка»") -> dict[str, Any]:
    return api.create(h, "counterparties", legal_name=name, kinds=["client"])


def _complaint(api: Api, h: dict[str, str], cp: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return api.create(
        h,
        "complaints",
        counterparty_id=cp["id"],
        subject="product",
        product="Кольцо 585, арт. 1024",
        description="Покупатель вернул кольцо: камень выпал через неделю",
        **extra,
    )


def _me(api: Api, h: dict[str, str]) -> dict[str, Any]:
    return api.client.get("/api/v1/me", headers=h).json()["user"]  # type: ignore[no-any-return]


def test_register_work_and_resolve_a_complaint(api: Api) -> None:
    ivanov = api.user("ivanov")
    office = api.user("office", role="office", team=None)
    cp = _client(api, ivanov)
    person = api.create(ivanov, "contact-persons", counterparty_id=cp["id"], full_name="Петров")
    # The office takes the call: the complaint goes to the client's owner, due in ten days.
    made = _complaint(api, office, cp, contact_person_id=person["id"])
    assert made["status"] == "new" and made["responsible_id"] == _me(api, ivanov)["id"]
    assert made["registered_by"] == _me(api, office)["id"]
    assert made["deadline"] == (TODAY + timedelta(days=10)).isoformat()
    assert made["resolved_at"] is None and made["cause"] is None
    url = f"/api/v1/complaints/{made['id']}"

    r = api.client.patch(url, json={"status": "in_work"}, headers=ivanov)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_work" and r.json()["version"] == 2

    r = api.client.patch(
        url,
        json={"status": "resolved", "resolution": "Кольцо заменено", "cause": "product_quality"},
        headers=ivanov,
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "resolved" and closed["resolved_at"] is not None

    listed = api.client.get(
        "/api/v1/complaints",
        params={"cause": "product_quality", "status": "resolved", "counterparty_id": cp["id"]},
        headers=office,
    ).json()["items"]
    assert [c["id"] for c in listed] == [made["id"]]
    assert (
        api.client.get("/api/v1/complaints", params={"status": "new"}, headers=office).json()[
            "items"
        ]
        == []
    )


def test_closing_needs_a_resolution_and_a_cause_and_moves_go_forward_only(api: Api) -> None:
    h = api.user("ivanov")
    cp = _client(api, h)
    made = _complaint(api, h, cp)
    url = f"/api/v1/complaints/{made['id']}"

    r = api.client.patch(url, json={"status": "resolved"}, headers=h)
    assert r.status_code == 422
    assert set(r.json()["details"]) == {"resolution", "cause"}
    r = api.client.patch(
        url, json={"status": "rejected", "resolution": "  ", "cause": "weather"}, headers=h
    )
    assert r.status_code == 422
    assert set(r.json()["details"]) == {"resolution", "cause"}
    assert "product_quality" in r.json()["details"]["cause"]
    assert api.client.get(url, headers=h).json()["version"] == 1  # nothing changed

    assert api.client.patch(url, json={"status": "in_work"}, headers=h).status_code == 200
    r = api.client.patch(url, json={"status": "new"}, headers=h)
    assert r.status_code == 422 and "status" in r.json()["details"]
    r = api.client.patch(
        url,
        json={
            "status": "rejected",
            "resolution": "Повреждение по вине покупателя",
            "cause": "other",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    for status in ("in_work", "new", "resolved"):
        r = api.client.patch(url, json={"status": status}, headers=h)
        assert r.status_code == 422, status
        assert "closed" in r.json()["details"]["status"]
    # A closed one keeps its resolution and cause.
    r = api.client.patch(url, json={"cause": None}, headers=h)
    assert r.status_code == 422 and "cause" in r.json()["details"]
    got = api.client.get(url, headers=h).json()
    assert (got["status"], got["cause"], got["version"]) == ("rejected", "other", 3)

    # Created closed at once (settled on the phone): the same rule.
    r = api.client.post(
        "/api/v1/complaints",
        headers=h,
        json={"counterparty_id": cp["id"], "description": "Опоздала машина", "status": "resolved"},
    )
    assert r.status_code == 422 and set(r.json()["details"]) == {"resolution", "cause"}
    r = api.client.post(
        "/api/v1/complaints",
        headers=h,
        json={"counterparty_id": cp["id"], "description": " ", "subject": "weather"},
    )
    assert r.status_code == 422 and set(r.json()["details"]) == {"description", "subject"}


def test_a_contact_person_of_another_counterparty_is_refused(api: Api) -> None:
    h = api.user("ivanov")
    cp, other = _client(api, h), _client(api, h, "ООО «Вектор»")
    stranger = api.create(h, "contact-persons", counterparty_id=other["id"], full_name="Сидоров")
    r = api.client.post(
        "/api/v1/complaints",
        headers=h,
        json={
            "counterparty_id": cp["id"],
            "contact_person_id": stranger["id"],
            "description": "Не та партия",
        },
    )
    assert r.status_code == 422
    assert "at this counterparty" in r.json()["details"]["contact_person_id"]


def test_who_sees_and_changes_a_complaint(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova", team="Казань")  # another team: does not see ivanov's clients
    cp = _client(api, ivanov)
    made = _complaint(api, ivanov, cp)
    url = f"/api/v1/complaints/{made['id']}"

    assert api.client.get(url, headers=petrova).status_code == 404
    assert api.client.patch(url, json={"status": "in_work"}, headers=petrova).status_code == 404
    assert api.client.delete(url, headers=petrova).status_code == 404
    assert api.client.get("/api/v1/complaints", headers=petrova).json()["items"] == []
    r = api.client.post(
        "/api/v1/complaints",
        headers=petrova,
        json={"counterparty_id": cp["id"], "description": "Чужая жалоба"},
    )
    assert r.status_code == 422
    assert r.json()["details"] == {"counterparty_id": f"no Counterparty with id {cp['id']}"}

    # Seen by the company: anyone registers a complaint, only the owner's side works it.
    api.client.patch(
        f"/api/v1/counterparties/{cp['id']}", json={"visibility": "company"}, headers=ivanov
    )
    theirs = _complaint(api, petrova, cp)
    assert theirs["responsible_id"] == _me(api, ivanov)["id"]
    assert api.client.get(url, headers=petrova).status_code == 200
    r = api.client.patch(url, json={"status": "in_work"}, headers=petrova)
    assert r.status_code == 403
    # Nor does she make someone else (not the owner, not herself) responsible.
    kuz = api.user("kuznetsova", team="Москва")
    kuz_id = _me(api, kuz)["id"]
    r = api.client.post(
        "/api/v1/complaints",
        headers=petrova,
        json={"counterparty_id": cp["id"], "description": "Жалоба", "responsible_id": kuz_id},
    )
    assert r.status_code == 403
    # She may take it herself, and then works it.
    mine = _complaint(api, petrova, cp, responsible_id=_me(api, petrova)["id"])
    r = api.client.patch(
        f"/api/v1/complaints/{mine['id']}", json={"status": "in_work"}, headers=petrova
    )
    assert r.status_code == 200, r.text
    # Working it is not owning it: she neither moves it to a client of her own (out of the
    # sight of ivanov's side) nor deletes it from the journal; the counterparty's editor may delete.
    own = _client(api, petrova, "ООО «Своя»")
    mine_url = f"/api/v1/complaints/{mine['id']}"
    r = api.client.patch(mine_url, json={"counterparty_id": own["id"]}, headers=petrova)
    assert r.status_code == 422 and "counterparty_id" in r.json()["details"], r.text
    r = api.client.patch(mine_url, json={"counterparty_id": cp["id"]}, headers=petrova)
    assert r.status_code == 200, r.text  # the same counterparty again is no move
    assert api.client.delete(mine_url, headers=petrova).status_code == 403
    assert api.client.get(mine_url, headers=ivanov).json()["counterparty_id"] == cp["id"]
    assert api.client.delete(mine_url, headers=ivanov).status_code == 204


def test_a_sync_push_is_held_to_the_same_rules(api: Api) -> None:
    ivanov = api.user("ivanov")
    api.user("petrova", team="Казань")
    cp = _client(api, ivanov)
    stranger = Laptop(api, "petrova")
    hidden = {
        "op": "create",
        "type": "complaints",
        "id": str(uuid.uuid4()),
        "fields": {"counterparty_id": cp["id"], "description": "С ноутбука"},
    }
    answer = stranger.push(hidden)
    assert answer["results"][0]["status"] == "refused"
    assert api.client.get(f"/api/v1/complaints/{hidden['id']}", headers=ivanov).status_code == 404

    laptop = Laptop(api, "ivanov")
    made = {
        "op": "create",
        "type": "complaints",
        "id": str(uuid.uuid4()),
        "fields": {"counterparty_id": cp["id"], "description": "С ноутбука", "subject": "delivery"},
    }
    assert laptop.push(made)["results"][0]["status"] == "applied"
    laptop.pull()
    assert laptop.records[made["id"]]["responsible_id"] == laptop.user_id
    closing = laptop.update(made["id"], "complaints", status="resolved")
    answer = laptop.push(closing)
    assert answer["results"][0]["status"] == "refused"
    got = api.client.get(f"/api/v1/complaints/{made['id']}", headers=ivanov).json()
    assert (got["status"], got["version"]) == ("new", 1)
    closing = laptop.update(
        made["id"],
        "complaints",
        status="resolved",
        resolution="Довезли в тот же день",
        cause="delivery_delay",
    )
    assert laptop.push(closing)["results"][0]["status"] == "applied"
    assert api.client.get(f"/api/v1/complaints/{made['id']}", headers=ivanov).json()["status"] == (
        "resolved"
    )


def _agenda(api: Api, login: str) -> agenda.Agenda:
    with api.database.read() as db:
        user = db.execute(select(User).where(User.login == login)).scalar_one()
        return agenda.for_user(db, user, ZoneInfo("UTC"))


def test_the_agenda_reminds_the_responsible_person_only(api: Api) -> None:
    ivanov = api.user("ivanov")
    api.user("manager", role="manager")  # sees ivanov's clients, answers for none of these
    cp = _client(api, ivanov)
    late = _complaint(api, ivanov, cp, deadline=(TODAY - timedelta(days=2)).isoformat())
    due = _complaint(api, ivanov, cp, deadline=TODAY.isoformat())
    _complaint(api, ivanov, cp)  # in ten days: not yet
    day = _agenda(api, "ivanov")
    assert [c.id for c, _ in day.complaints] == [late["id"], due["id"]]
    assert [day.overdue(c) for c, _ in day.complaints] == [True, False]
    assert _agenda(api, "manager").complaints == []

    api.client.patch(
        f"/api/v1/complaints/{late['id']}",
        json={"status": "resolved", "resolution": "Вернули деньги", "cause": "price"},
        headers=ivanov,
    )
    assert [c.id for c, _ in _agenda(api, "ivanov").complaints] == [due["id"]]
    overdue = api.client.get(
        "/api/v1/complaints",
        params={"deadline__lt": TODAY.isoformat(), "status__in": "new,in_work"},
        headers=ivanov,
    ).json()["items"]
    assert overdue == []


def test_the_plan_feed_shows_an_open_complaint_until_it_is_closed(api: Api) -> None:
    ivanov = api.user("ivanov")
    cp = _client(api, ivanov)
    made = _complaint(api, ivanov, cp)
    r = api.client.post("/api/v1/feeds", headers=ivanov, json={"kind": "plan"})
    path = r.json()["url"].split("://", 1)[1].split("/", 1)[1]

    def events() -> dict[str, Any]:
        body = api.client.get(f"/{path}").content
        return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}

    event = events()[f"{made['id']}@satchel"]
    assert event.decoded("DTSTART") == date.fromisoformat(made["deadline"])
    assert event.decoded("DTEND") == date.fromisoformat(made["deadline"]) + timedelta(days=1)
    assert "Ромашка" in str(event["SUMMARY"]) and "Кольцо 585" in str(event["SUMMARY"])
    assert "камень выпал" in str(event["DESCRIPTION"])
    assert str(event["URL"]).endswith(f"/counterparties/{cp['id']}")

    api.client.patch(
        f"/api/v1/complaints/{made['id']}",
        json={"status": "rejected", "resolution": "Не наш товар", "cause": "wrong_goods"},
        headers=ivanov,
    )
    assert f"{made['id']}@satchel" not in events()


def test_the_report_by_cause_subject_and_product(api: Api, tmp_path: Path) -> None:
    ivanov = api.user("ivanov")
    api.user("petrova", team="Казань")
    cp = _client(api, ivanov)
    one = _complaint(api, ivanov, cp)
    _complaint(api, ivanov, cp, deadline=(TODAY - timedelta(days=1)).isoformat())  # overdue
    api.create(
        ivanov,
        "complaints",
        counterparty_id=cp["id"],
        subject="delivery",
        description="Опоздали",
        status="rejected",
        resolution="Опоздание по вине перевозчика клиента",
        cause="delivery_delay",
    )
    api.client.patch(
        f"/api/v1/complaints/{one['id']}",
        json={"status": "resolved", "resolution": "Заменили", "cause": "product_quality"},
        headers=ivanov,
    )
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()
    shown = runner.invoke(app, ["report", "complaints", "--as", "ivanov", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["about"]["total"] == 3 and body["about"]["overdue"] == 1
    assert (body["about"]["resolved"], body["about"]["rejected"]) == (1, 1)
    assert body["about"]["median_days_to_resolve"] == 0.0  # resolved at once
    rows = {(r["by"], r["value"]): r for r in body["rows"]}
    assert rows[("причина / cause", "качество товара / product quality")]["resolved"] == 1
    assert rows[("о чём / subject", "товар / product")]["total"] == 2
    assert rows[("о чём / subject", "товар / product")]["open"] == 1
    assert rows[("товар / product", "Кольцо 585, арт. 1024")]["total"] == 2

    hers = runner.invoke(app, ["report", "complaints", "--as", "petrova", "--json"], env=env)
    assert json.loads(hers.output)["about"]["total"] == 0  # she sees none of his clients
    out = tmp_path / "complaints.xlsx"
    exported = runner.invoke(
        app, ["report", "complaints", "--as", "ivanov", "--export", str(out)], env=env
    )
    assert exported.exit_code == 0 and out.stat().st_size > 0, exported.output
    for args in (["--from", "2026-13-01"], ["--from", "2026-10-01", "--to", "2026-01-01"]):
        bad = runner.invoke(app, ["report", "complaints", "--as", "ivanov", *args], env=env)
        assert bad.exit_code == 2 and "Traceback" not in bad.output, (args, bad.output)
