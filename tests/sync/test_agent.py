"""The field client against the real server app in-process: login, bootstrap, push, pull, conflicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from crm import records
from crm.database import Database
from server.app import create_app
from server.config import Config
from sync import protocol
from sync.agent import NotLoggedIn, Offline, SyncAgent, UpgradeRequired
from sync.replica import EVICTED, Replica
from tests.conftest import PASSWORD, make_user


@pytest.fixture
def server(config: Config, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(config, database)) as client:
        yield client


def laptop(server: TestClient, tmp_path: Path, login: str, name: str = "Ноутбук") -> SyncAgent:
    replica = Replica.open(tmp_path / f"{login}-{name}.db")
    agent = SyncAgent(replica, server)
    agent.login("http://testserver", login, PASSWORD, name)
    return agent


def rest(server: TestClient, login: str) -> dict[str, str]:
    r = server.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD, "device_name": "web"})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def server_view(server: TestClient, headers: dict[str, str], type_name: str) -> dict[str, dict[str, Any]]:
    r = server.get(f"/api/v1/{type_name}", params={"limit": 500}, headers=headers)
    assert r.status_code == 200, r.text
    return {item["id"]: item for item in r.json()["items"]}


def assert_same_as_server(agent: SyncAgent, server: TestClient, headers: dict[str, str]) -> None:
    for name in protocol.TYPES:
        assert agent.replica.snapshot(name) == server_view(server, headers, name), name


def test_login_and_sync_of_an_empty_scope(server: TestClient, database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    agent = laptop(server, tmp_path, "ivanov")
    summary = agent.sync()
    assert summary.pushed == 0 and agent.replica.state("cursor") is not None
    assert [u["login"] for u in agent.replica.snapshot("users").values()] == ["ivanov"]
    again = agent.sync()  # nothing new: no bootstrap, an empty pull
    assert again.bootstrapped == 0 and sum(again.pulled.values()) == 0


def test_wrong_password_and_missing_login_are_clear(server: TestClient, database: Database,
                                                    tmp_path: Path) -> None:
    make_user(database, "ivanov")
    agent = SyncAgent(Replica.open(tmp_path / "r.db"), server)
    with pytest.raises(NotLoggedIn):
        agent.sync()
    with pytest.raises(NotLoggedIn, match="login refused"):
        agent.login("http://testserver", "ivanov", "wrong", "Ноутбук")


def test_bootstrap_of_a_populated_scope_then_offline_edits_reach_the_server(
        server: TestClient, database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    for i in range(30):
        r = server.post("/api/v1/counterparties", headers=web,
                        json={"legal_name": f"ООО Клиент {i}", "tags": ["опт"], "contacts": [
                            {"kind": "phone", "value": f"+7 916 000-00-{i:02d}"}]})
        assert r.status_code == 201, r.text
    first = next(iter(server_view(server, web, "counterparties")))
    server.post("/api/v1/deals", headers=web, json={"counterparty_id": first, "title": "Сделка", "amount": "10.50",
                                                     "expected_close": "2026-12-01"})
    agent = laptop(server, tmp_path, "ivanov")
    seen: list[tuple[str, int, int | None]] = []
    summary = agent.sync(lambda phase, done, total: seen.append((phase, done, total)))
    assert summary.bootstrapped >= 32
    assert ("bootstrap", summary.bootstrapped, summary.bootstrapped) in seen
    assert_same_as_server(agent, server, web)

    # Offline: create, edit, delete; the server sees none of it until the sync.
    cp = agent.replica.create("counterparties", {"legal_name": "ООО Новое"})
    agent.replica.create("interactions", {"counterparty_id": cp["id"], "subject": "Встреча",
                                          "starts_at": "2026-11-20T09:00:00Z", "kind": "meeting"})
    agent.replica.update("counterparties", first, {"notes": "записал в поезде"})
    assert cp["id"] not in server_view(server, web, "counterparties")
    summary = agent.sync()
    assert (summary.pushed, summary.applied, summary.refused) == (3, 3, 0)
    assert agent.replica.pending() == []
    assert server_view(server, web, "counterparties")[first]["notes"] == "записал в поезде"
    assert_same_as_server(agent, server, web)


def test_same_field_on_two_laptops_is_a_conflict_seen_on_both_and_resolved_from_a_laptop(
        server: TestClient, database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    cp = server.post("/api/v1/counterparties", headers=web,
                     json={"legal_name": "ООО Общий", "visibility": "team"}).json()
    a, b = laptop(server, tmp_path, "ivanov", "Ноутбук"), laptop(server, tmp_path, "petrov", "Ноутбук")
    a.sync()
    b.sync()
    a.replica.update("counterparties", cp["id"], {"notes": "от Иванова", "region": "Тверь"})
    b.replica.update("counterparties", cp["id"], {"notes": "от Петрова", "stage": "active"})
    assert a.sync().applied == 1
    result = b.sync()
    assert result.conflicts == 1
    a.sync()
    for agent in (a, b):
        [conflict] = agent.replica.conflicts()
        assert conflict["field"] == "notes" and conflict["record_id"] == cp["id"]
        assert (conflict["server"]["value"], conflict["client"]["value"]) == ("от Иванова", "от Петрова")
    # Different fields both survived; the first edit of the same field stays until resolved.
    record = server_view(server, web, "counterparties")[cp["id"]]
    assert (record["region"], record["stage"], record["notes"]) == ("Тверь", "active", "от Иванова")
    assert b.replica.get("counterparties", cp["id"])["notes"] == "от Иванова"

    b.replica.resolve(conflict["id"], "mine")  # offline: shown at once, sent later
    assert b.replica.get("counterparties", cp["id"])["notes"] == "от Петрова"
    assert b.replica.conflicts()[0]["pending_choice"] == "mine"
    b.sync()
    a.sync()
    assert b.replica.conflicts() == [] and a.replica.conflicts() == []
    assert server_view(server, web, "counterparties")[cp["id"]]["notes"] == "от Петрова"
    assert a.replica.get("counterparties", cp["id"])["notes"] == "от Петрова"
    assert_same_as_server(a, server, web)


def test_losing_access_evicts_and_keeps_the_pending_edit_in_quarantine(
        server: TestClient, database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    cp = server.post("/api/v1/counterparties", headers=web,
                     json={"legal_name": "ООО Уходящий", "visibility": "team"}).json()
    server.post("/api/v1/contact-persons", headers=web, json={"counterparty_id": cp["id"], "full_name": "Анна"})
    b = laptop(server, tmp_path, "petrov")
    b.sync()
    assert cp["id"] in b.replica.snapshot("counterparties")
    b.replica.update("counterparties", cp["id"], {"notes": "моя заметка"})
    # Meanwhile the owner makes it private (and so, to Petrov, gone); his laptop pushes first,
    # the server refuses the edit and the pull evicts the record.
    r = server.patch(f"/api/v1/counterparties/{cp['id']}", headers=web, json={"visibility": "private"})
    assert r.status_code == 200, r.text
    summary = b.sync()
    assert summary.pulled["evicts"] >= 1
    assert b.replica.snapshot("counterparties") == {} and b.replica.snapshot("contact-persons") == {}
    [item] = b.replica.quarantine()
    assert item["mutation"]["fields"] == {"notes": "моя заметка"}
    # The push came first: the server refused the edit with its reason, and nothing was lost.
    assert summary.refused == 1 and "not found" in item["reason"]


def test_evict_before_push_quarantines_and_the_next_push_closes_the_gap(
        server: TestClient, database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    cp = server.post("/api/v1/counterparties", headers=web,
                     json={"legal_name": "ООО Уходящий", "visibility": "team"}).json()
    b = laptop(server, tmp_path, "petrov")
    b.sync()
    b.replica.update("counterparties", cp["id"], {"notes": "моя заметка"})      # seq 1
    mine = b.replica.create("counterparties", {"legal_name": "ООО Своё"})       # seq 2
    server.patch(f"/api/v1/counterparties/{cp['id']}", headers=web, json={"visibility": "private"})
    # A pull alone (as after a push that failed on the network): seq 1 goes to quarantine.
    cursor = b.replica.state("cursor")
    answer = server.post("/sync/v1/pull", json={"cursor": cursor, "limit": 100},
                         headers={**protocol.headers(), "Authorization": f"Bearer {b.replica.state('token')}"})
    b.replica.apply_pull(answer.json())
    assert [q["reason"] for q in b.replica.quarantine()] == [EVICTED]
    assert [m["seq"] for m in b.replica.pending()] == [2]
    summary = b.sync()  # the server expects seq 1: the client renumbers and resends
    assert summary.applied == 1 and b.replica.pending() == []
    assert mine["id"] in server_view(server, rest(server, "petrov"), "counterparties")
    assert mine["id"] in b.replica.snapshot("counterparties")


def test_an_old_client_is_told_to_upgrade_and_keeps_its_outbox(
        server: TestClient, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_user(database, "ivanov")
    agent = laptop(server, tmp_path, "ivanov")
    agent.sync()
    agent.replica.create("counterparties", {"legal_name": "ООО Ждущее"})
    monkeypatch.setattr(protocol, "SCHEMA", protocol.MIN_SCHEMA - 1)
    with pytest.raises(UpgradeRequired, match="update Satchel"):
        agent.sync()
    assert len(agent.replica.pending()) == 1


def test_a_network_error_changes_nothing(database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    replica = Replica.open(tmp_path / "r.db")
    replica.set_state(token="t", device_id="d", cursor="5")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)

    agent = SyncAgent(replica, httpx.Client(base_url="http://satchel.invalid",
                                            transport=httpx.MockTransport(refuse)))
    with pytest.raises(Offline, match="kept"):
        agent.sync()
    assert replica.state("cursor") == "5"


def test_records_made_on_the_laptop_match_the_server_after_sync(
        server: TestClient, database: Database, tmp_path: Path) -> None:
    make_user(database, "ivanov")
    agent = laptop(server, tmp_path, "ivanov")
    agent.sync()
    cp = agent.replica.create("counterparties", {"legal_name": "ООО Полевое", "inn": "7707083893",
                                                 "contacts": [{"kind": "email", "value": "A@B.RU"}]})
    person = agent.replica.create("contact-persons", {"counterparty_id": cp["id"], "full_name": "Иван",
                                                      "birthday": "1990-05-01"})
    agent.replica.create("deals", {"counterparty_id": cp["id"], "title": "Поставка", "amount": "99.90"})
    agent.replica.create("reminders", {"title": "Позвонить", "due_at": "2026-11-25T10:00:00+03:00",
                                       "subject_type": "contact_person", "subject_id": person["id"]})
    agent.sync()
    web = rest(server, "ivanov")
    assert_same_as_server(agent, server, web)
    assert records.record_type("deals")  # the wire names are the REST names
