"""What an outside trial found over REST and a laptop's push (SQLite and PostgreSQL): money in
scientific form refused for event costs and budgets as for sales; the suppliers' compare refuses a
day outside the years 1900–2200 with 400."""

from __future__ import annotations

import uuid
from typing import Any

from sync import protocol
from tests.conftest import PASSWORD
from tests.server.conftest import Api


def test_money_in_scientific_form_is_refused(api: Api) -> None:
    ivanov = api.user("ivanov")
    for body in ({"budget": "1.5E+3"}, {"budget": "1e5"}, {"budget": "1_000"}):
        r = api.client.post(
            "/api/v1/events", json={"name": "JUNWEX", "kind": "exhibition", **body}, headers=ivanov
        )
        assert r.status_code == 422, r.text
        assert "scientific form" in r.json()["details"]["budget"], r.text
    event = api.create(ivanov, "events", name="JUNWEX", kind="exhibition", budget="1500.50")
    assert event["budget"] == "1500.50"
    r = api.client.post(
        "/api/v1/event-costs",
        json={"event_id": event["id"], "item": "Стенд", "amount": "1,5E+3"},
        headers=ivanov,
    )
    assert r.status_code == 422 and "amount" in r.json()["details"], r.text
    r = api.client.patch(
        f"/api/v1/events/{event['id']}",
        json={"budget": "2E3"},
        headers={**ivanov, "If-Match": str(event["version"])},
    )
    assert r.status_code == 422, r.text

    # A laptop's push is refused alike.
    login = api.client.post(
        "/api/v1/auth/login",
        json={"login": "ivanov", "password": PASSWORD, "device_name": "Ноут"},
    ).json()
    headers = {"Authorization": f"Bearer {login['token']}", **protocol.headers()}
    mutation: dict[str, Any] = {
        "seq": 1,
        "client_time": "2026-11-20T10:00:00Z",
        "op": "create",
        "type": "event-costs",
        "id": str(uuid.uuid4()),
        "fields": {"event_id": event["id"], "item": "Стенд", "amount": "1.5e3"},
    }
    r = api.client.post(
        "/sync/v1/push",
        json={"device_id": login["device"]["id"], "mutations": [mutation]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert result["status"] != "applied" and "scientific form" in str(result), result
    costs = api.client.get(f"/api/v1/event-costs?event_id={event['id']}", headers=ivanov).json()
    assert costs["items"] == []


def test_compare_refuses_a_day_outside_the_years(api: Api) -> None:
    ivanov = api.user("ivanov")
    for day in ("0001-01-01", "2300-01-01", "1899-12-31"):
        r = api.client.get(f"/api/v1/suppliers/compare?product=кольцо&on={day}", headers=ivanov)
        assert r.status_code == 400, r.text
        assert "between the years 1900 and 2200" in r.json()["message"], r.text
    ok = api.client.get("/api/v1/suppliers/compare?product=кольцо&on=2026-01-01", headers=ivanov)
    assert ok.status_code == 200, ok.text
