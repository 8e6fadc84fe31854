"""Marketing events over REST on SQLite and PostgreSQL: an event, its costs and participants created;
a salesperson cannot change a colleague's event or its costs (403, nothing changed) while the
owner's manager can; a participant is entered once (422); the events report as JSON and XLSX, and
``satchel report events``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.crm.test_marketing import events_company
from tests.server.conftest import Api

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_events_costs_and_participants_over_rest(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrov = api.user("petrov")
    boss = api.user("boss", role="manager")
    client = api.create(ivanov, "counterparties", legal_name="ООО Лотос", kinds=["client"])
    event = api.create(
        ivanov,
        "events",
        name="JUNWEX Москва",
        kind="exhibition",
        starts_on="2026-03-10",
        ends_on="2026-03-12",
        budget="600000",
    )
    assert event["owner_id"] and event["kind"] == "exhibition"
    cost = api.create(ivanov, "event-costs", event_id=event["id"], item="Стенд", amount="350000")
    guest = api.create(
        ivanov, "event-participants", event_id=event["id"], counterparty_id=client["id"]
    )
    assert guest["status"] == "invited"
    again = api.client.post(
        "/api/v1/event-participants",
        json={"event_id": event["id"], "counterparty_id": client["id"]},
        headers=ivanov,
    )
    assert again.status_code == 422 and "counterparty_id" in again.text

    # petrov sees the event and its costs, and changes neither.
    assert api.client.get(f"/api/v1/events/{event['id']}", headers=petrov).status_code == 200
    for url, body in (
        (f"/api/v1/events/{event['id']}", {"name": "Моя выставка"}),
        (f"/api/v1/event-costs/{cost['id']}", {"amount": "1"}),
    ):
        r = api.client.patch(url, json=body, headers=petrov)
        assert r.status_code == 403, r.text
    r = api.client.post(
        "/api/v1/event-costs",
        json={"event_id": event["id"], "item": "Моё", "amount": "5"},
        headers=petrov,
    )
    assert r.status_code == 403, r.text
    assert api.client.delete(f"/api/v1/events/{event['id']}", headers=petrov).status_code == 403
    assert api.client.get(f"/api/v1/events/{event['id']}", headers=ivanov).json()["name"] == (
        "JUNWEX Москва"
    )
    costs = api.client.get(f"/api/v1/event-costs?event_id={event['id']}", headers=ivanov).json()
    assert [(c["item"], c["amount"]) for c in costs["items"]] == [("Стенд", "350000.00")]
    # petrov does not see ivanov's private client, nor its participation.
    listed = api.client.get(f"/api/v1/event-participants?event_id={event['id']}", headers=petrov)
    assert listed.json()["items"] == []

    # Their manager keeps the event.
    r = api.client.patch(
        f"/api/v1/event-costs/{cost['id']}", json={"amount": "360000"}, headers=boss
    )
    assert r.status_code == 200, r.text
    r = api.client.patch(
        f"/api/v1/event-participants/{guest['id']}", json={"status": "attended"}, headers=ivanov
    )
    assert r.status_code == 200 and r.json()["status"] == "attended"
    deal = api.create(
        ivanov,
        "deals",
        counterparty_id=client["id"],
        title="Цепи",
        amount="100",
        event_id=event["id"],
    )
    assert deal["event_id"] == event["id"]
    bad = api.client.post("/api/v1/events", json={"name": "X", "kind": "party"}, headers=ivanov)
    assert bad.status_code == 422


def _world(api: Api, tmp_path: Path) -> dict[str, Any]:
    ids = events_company(api.database, tmp_path)
    return {login: api.login(login) for login in ("office", "ivanov", "petrov")} | {"ids": ids}


def test_the_events_report_over_rest(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    r = api.client.get("/api/v1/reports/events", params=MARCH, headers=w["office"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["name"] for row in body["rows"]] == ["JUNWEX Москва", "Акция"]
    first = body["rows"][0]
    assert (first["cost"], first["revenue"], first["return_on_cost"]) == (
        "200000.00",
        "455000.00",
        127.5,
    )
    his = api.client.get("/api/v1/reports/events", params=MARCH, headers=w["ivanov"]).json()
    assert (his["rows"][0]["revenue"], his["rows"][0]["return_on_cost"]) == ("150000.00", -25.0)
    only_petrov = api.client.get(
        "/api/v1/reports/events", params={**MARCH, "owner": "petrov"}, headers=w["office"]
    ).json()
    assert [row["name"] for row in only_petrov["rows"]] == ["Акция"]
    xlsx = api.client.get(
        "/api/v1/reports/events", params={**MARCH, "format": "xlsx"}, headers=w["office"]
    )
    assert xlsx.status_code == 200
    assert xlsx.headers["content-disposition"].startswith('attachment; filename="events-')
    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert "Затраты / Cost" in header and "Выручка от мероприятия / Revenue attributed" in header
    assert sheet._charts  # cost against revenue per event
    bad = api.client.get("/api/v1/reports/events", params={"from": "nope"}, headers=w["office"])
    assert bad.status_code == 400


def test_satchel_report_events(api: Api, tmp_path: Path) -> None:
    from server.commands import app

    events_company(api.database, tmp_path)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    period = ["--from", "2026-03", "--to", "2026-03"]
    result = CliRunner().invoke(
        app, ["report", "events", "--as", "ivanov", *period, "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert rows[0]["name"] == "JUNWEX Москва" and rows[0]["revenue"] == "150000.00"
    out = tmp_path / "events.xlsx"
    result = CliRunner().invoke(
        app, ["report", "events", "--as", "office", *period, "--export", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert load_workbook(out).active.max_row == 3  # the header and two events
