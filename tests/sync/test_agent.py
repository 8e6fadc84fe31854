"""The field client against the real server app in-process: login, bootstrap, push, pull, conflicts."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from clients.agent import NotLoggedIn, Offline, SyncAgent, UpgradeRequired
from clients.replica import EVICTED, Replica
from crm import records
from crm.database import Database
from server.app import create_app
from server.config import Config
from sync import protocol
from sync.models import DeviceCursor, PushResult
from tests.conftest import PASSWORD, make_user
from tests.inprocess import InProcessClient


@pytest.fixture
def server(config: Config, database: Database) -> Iterator[TestClient]:
    with InProcessClient(create_app(config, database)) as client:
        yield client


def laptop(server: TestClient, tmp_path: Path, login: str, name: str = "Ноутбук") -> SyncAgent:
    replica = Replica.open(tmp_path / f"{login}-{name}.db")
    agent = SyncAgent(replica, server)
    agent.login("http://testserver", login, PASSWORD, name)
    return agent


def rest(server: TestClient, login: str) -> dict[str, str]:
    r = server.post(
        "/api/v1/auth/login", json={"login": login, "password": PASSWORD, "device_name": "web"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def server_view(
    server: TestClient, headers: dict[str, str], type_name: str
) -> dict[str, dict[str, Any]]:
    r = server.get(f"/api/v1/{type_name}", params={"limit": 500}, headers=headers)
    assert r.status_code == 200, r.text
    return {item["id"]: item for item in r.json()["items"]}


def assert_same_as_server(agent: SyncAgent, server: TestClient, headers: dict[str, str]) -> None:
    for name in protocol.TYPES:
        assert agent.replica.snapshot(name) == server_view(server, headers, name), name


def test_login_and_sync_of_an_empty_scope(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    agent = laptop(server, tmp_path, "ivanov")
    summary = agent.sync()
    assert summary.pushed == 0 and agent.replica.state("cursor") is not None
    assert [u["login"] for u in agent.replica.snapshot("users").values()] == ["ivanov"]
    again = agent.sync()  # nothing new: no bootstrap, an empty pull
    assert again.bootstrapped == 0 and sum(again.pulled.values()) == 0


def test_wrong_password_and_missing_login_are_clear(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    agent = SyncAgent(Replica.open(tmp_path / "r.db"), server)
    with pytest.raises(NotLoggedIn):
        agent.sync()
    with pytest.raises(NotLoggedIn, match="login refused"):
        agent.login("http://testserver", "ivanov", "wrong", "Ноутбук")


def test_bootstrap_of_a_populated_scope_then_offline_edits_reach_the_server(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    for i in range(30):
        r = server.post(
            "/api/v1/counterparties",
            headers=web,
            json={
                "legal_name": f"ООО Клиент {i}",
                "tags": ["опт"],
                "contacts": [{"kind": "phone", "value": f"+7 916 000-00-{i:02d}"}],
            },
        )
        assert r.status_code == 201, r.text
    first = next(iter(server_view(server, web, "counterparties")))
    server.post(
        "/api/v1/deals",
        headers=web,
        json={
            "counterparty_id": first,
            "title": "Сделка",
            "amount": "10.50",
            "expected_close": "2026-12-01",
        },
    )
    agent = laptop(server, tmp_path, "ivanov")
    seen: list[tuple[str, int, int | None]] = []
    summary = agent.sync(lambda phase, done, total: seen.append((phase, done, total)))
    assert summary.bootstrapped >= 32
    assert ("bootstrap", summary.bootstrapped, summary.bootstrapped) in seen
    assert_same_as_server(agent, server, web)

    # Offline: create, edit, delete; the server sees none of it until the sync.
    cp = agent.replica.create("counterparties", {"legal_name": "ООО Новое"})
    agent.replica.create(
        "interactions",
        {
            "counterparty_id": cp["id"],
            "subject": "Встреча",
            "starts_at": "2026-11-20T09:00:00Z",
            "kind": "meeting",
        },
    )
    agent.replica.update("counterparties", first, {"notes": "записал в поезде"})
    assert cp["id"] not in server_view(server, web, "counterparties")
    summary = agent.sync()
    assert (summary.pushed, summary.applied, summary.refused) == (3, 3, 0)
    assert agent.replica.pending() == []
    assert server_view(server, web, "counterparties")[first]["notes"] == "записал в поезде"
    assert_same_as_server(agent, server, web)


def _team_client(server: TestClient, database: Database) -> tuple[dict[str, str], dict[str, Any]]:
    """Ivanov and Petrov of one team, and a client of the team Ivanov made on the web: (his web
    headers, the client)."""
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    cp = server.post(
        "/api/v1/counterparties",
        headers=web,
        json={"legal_name": "ООО Общий", "visibility": "team"},
    ).json()
    return web, cp


def test_same_field_on_two_laptops_is_a_conflict_seen_on_both_and_resolved_from_a_laptop(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    web, cp = _team_client(server, database)
    a, b = (
        laptop(server, tmp_path, "ivanov", "Ноутбук"),
        laptop(server, tmp_path, "petrov", "Ноутбук"),
    )
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
        assert (conflict["server"]["value"], conflict["client"]["value"]) == (
            "от Иванова",
            "от Петрова",
        )
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


def test_keeping_the_servers_side_on_a_laptop_shows_an_edit_made_after_the_conflict(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    """The laptop lays the conflict's remembered server value at once; the server keeps the field
    as it is now (edited again since), so after the sync the laptop shows that, as the server does."""
    web, cp = _team_client(server, database)
    a, b = laptop(server, tmp_path, "ivanov"), laptop(server, tmp_path, "petrov")
    a.sync()
    b.sync()
    a.replica.update("counterparties", cp["id"], {"notes": "от Иванова"})
    b.replica.update("counterparties", cp["id"], {"notes": "от Петрова"})
    a.sync()
    assert b.sync().conflicts == 1
    edited = server.patch(
        f"/api/v1/counterparties/{cp['id']}", headers=web, json={"notes": "позже, из офиса"}
    )
    assert edited.status_code == 200, edited.text
    b.sync()  # the later edit reaches the laptop; the conflict stays open
    assert b.replica.get("counterparties", cp["id"])["notes"] == "позже, из офиса"
    [conflict] = b.replica.conflicts()
    b.replica.resolve(conflict["id"], "theirs")  # offline: the remembered server value, laid
    assert b.replica.get("counterparties", cp["id"])["notes"] == "от Иванова"
    b.sync()
    assert server_view(server, web, "counterparties")[cp["id"]]["notes"] == "позже, из офиса"
    assert b.replica.get("counterparties", cp["id"])["notes"] == "позже, из офиса"
    assert b.replica.conflicts() == []
    assert_same_as_server(b, server, rest(server, "petrov"))


def test_losing_access_evicts_and_keeps_the_pending_edit_in_quarantine(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    cp = server.post(
        "/api/v1/counterparties",
        headers=web,
        json={"legal_name": "ООО Уходящий", "visibility": "team"},
    ).json()
    server.post(
        "/api/v1/contact-persons",
        headers=web,
        json={"counterparty_id": cp["id"], "full_name": "Анна"},
    )
    b = laptop(server, tmp_path, "petrov")
    b.sync()
    assert cp["id"] in b.replica.snapshot("counterparties")
    b.replica.update("counterparties", cp["id"], {"notes": "моя заметка"})
    # Meanwhile the owner makes it private (and so, to Petrov, gone); his laptop pushes first,
    # the server refuses the edit and the pull evicts the record.
    r = server.patch(
        f"/api/v1/counterparties/{cp['id']}", headers=web, json={"visibility": "private"}
    )
    assert r.status_code == 200, r.text
    summary = b.sync()
    assert summary.pulled["evicts"] >= 1
    assert (
        b.replica.snapshot("counterparties") == {} and b.replica.snapshot("contact-persons") == {}
    )
    [item] = b.replica.quarantine()
    assert item["mutation"]["fields"] == {"notes": "моя заметка"}
    # The push came first: the server refused the edit with its reason, and nothing was lost.
    assert summary.refused == 1 and "not found" in item["reason"]


def test_evict_before_push_quarantines_and_the_next_push_closes_the_gap(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    cp = server.post(
        "/api/v1/counterparties",
        headers=web,
        json={"legal_name": "ООО Уходящий", "visibility": "team"},
    ).json()
    b = laptop(server, tmp_path, "petrov")
    b.sync()
    b.replica.update("counterparties", cp["id"], {"notes": "моя заметка"})  # seq 1
    mine = b.replica.create("counterparties", {"legal_name": "ООО Своё"})  # seq 2
    server.patch(f"/api/v1/counterparties/{cp['id']}", headers=web, json={"visibility": "private"})
    # A pull alone (as after a push that failed on the network): seq 1 goes to quarantine.
    cursor = b.replica.state("cursor")
    answer = server.post(
        "/sync/v1/pull",
        json={"cursor": cursor, "limit": 100},
        headers={**protocol.headers(), "Authorization": f"Bearer {b.replica.state('token')}"},
    )
    b.replica.apply_pull(answer.json())
    assert [q["reason"] for q in b.replica.quarantine()] == [EVICTED]
    assert [m["seq"] for m in b.replica.pending()] == [2]
    summary = b.sync()  # the server expects seq 1: the client renumbers and resends
    assert summary.applied == 1 and b.replica.pending() == []
    assert mine["id"] in server_view(server, rest(server, "petrov"), "counterparties")
    assert mine["id"] in b.replica.snapshot("counterparties")


def test_an_old_client_is_told_to_upgrade_and_keeps_its_outbox(
    server: TestClient, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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

    agent = SyncAgent(
        replica,
        httpx.Client(base_url="http://satchel.invalid", transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(Offline, match="kept"):
        agent.sync()
    assert replica.state("cursor") == "5"


def test_records_made_on_the_laptop_match_the_server_after_sync(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    agent = laptop(server, tmp_path, "ivanov")
    agent.sync()
    cp = agent.replica.create(
        "counterparties",
        {
            "legal_name": "ООО Полевое",
            "inn": "7707083893",
            "contacts": [{"kind": "email", "value": "A@B.RU"}],
        },
    )
    person = agent.replica.create(
        "contact-persons",
        {"counterparty_id": cp["id"], "full_name": "Иван", "birthday": "1990-05-01"},
    )
    agent.replica.create(
        "deals", {"counterparty_id": cp["id"], "title": "Поставка", "amount": "99.90"}
    )
    agent.replica.create(
        "reminders",
        {
            "title": "Позвонить",
            "due_at": "2026-11-25T10:00:00+03:00",
            "subject_type": "contact_person",
            "subject_id": person["id"],
        },
    )
    agent.sync()
    web = rest(server, "ivanov")
    assert_same_as_server(agent, server, web)
    assert records.record_type("deals")  # the wire names are the REST names


def _copy_replica(source: Path, target: Path) -> None:
    """A consistent copy of a replica file in use (what a backup tool or a disk image takes)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _restore(agent: SyncAgent, backup: Path, server: TestClient) -> SyncAgent:
    """The laptop's disk died: its replica comes back from ``backup``, with the same device and token."""
    path = agent.replica.path
    agent.replica.close()
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    _copy_replica(backup, path)
    return SyncAgent(Replica.open(path), server)


def _each_seq_applied_once(database: Database) -> None:
    with database.read() as session:
        for cursor in session.execute(select(DeviceCursor)).scalars():
            seqs = sorted(
                session.execute(
                    select(PushResult.seq).where(PushResult.device_id == cursor.device_id)
                ).scalars()
            )
            assert seqs == list(range(1, cursor.last_seq + 1))


def test_a_laptop_restored_from_a_backup_loses_neither_edits_nor_resolutions(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    cp = server.post(
        "/api/v1/counterparties", headers=web, json={"legal_name": "ООО Спорное"}
    ).json()
    a = laptop(server, tmp_path, "ivanov")
    a.sync()
    server.patch(f"/api/v1/counterparties/{cp['id']}", headers=web, json={"notes": "из офиса"})
    a.replica.update("counterparties", cp["id"], {"notes": "с ноутбука"})  # seq 1
    assert a.sync().conflicts == 1
    backup = tmp_path / "friday.db"
    _copy_replica(
        a.replica.path, backup
    )  # Friday's backup: the conflict is open, nothing is pending
    a.replica.update("counterparties", cp["id"], {"region": "Тверь"})  # seq 2
    monday = a.replica.create("counterparties", {"legal_name": "ООО Понедельник"})  # seq 3
    assert a.sync().applied == 2

    # Tuesday the disk dies and the laptop comes back from Friday's backup: its next edits
    # reuse seqs 2 and 3, which the server applied for Monday's edits.
    restored = _restore(a, backup, server)
    [conflict] = restored.replica.conflicts()
    restored.replica.resolve(conflict["id"], "mine")
    tuesday = restored.replica.create("counterparties", {"legal_name": "ООО Вторник"})
    summary = restored.sync()
    assert (summary.applied, summary.refused) == (2, 0)
    assert restored.replica.status()["pending"] == 0 and restored.replica.conflicts() == []
    view = server_view(server, web, "counterparties")
    assert (view[cp["id"]]["notes"], view[cp["id"]]["region"]) == ("с ноутбука", "Тверь")
    assert monday["id"] in view and tuesday["id"] in view
    assert_same_as_server(restored, server, web)
    _each_seq_applied_once(database)
    # Numbered after the server's last one, the next edit goes through at once.
    restored.replica.update("counterparties", tuesday["id"], {"notes": "среда"})
    assert restored.sync().applied == 1


def test_a_replica_copied_to_a_second_laptop_loses_nothing(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    a = laptop(server, tmp_path, "ivanov")
    a.sync()
    shared = a.replica.create("counterparties", {"legal_name": "ООО До копии"})  # seq 1 on both
    _copy_replica(a.replica.path, tmp_path / "copy.db")
    b = SyncAgent(Replica.open(tmp_path / "copy.db"), server)  # the same device id and token
    first = a.replica.create("counterparties", {"legal_name": "ООО Первый ноутбук"})  # seq 2 on a
    second = b.replica.create("counterparties", {"legal_name": "ООО Второй ноутбук"})  # seq 2 on b
    a.sync()
    assert b.sync().applied == 2  # seq 1 was the same mutation (applied once); b's seq 2 was not
    again = a.replica.create("counterparties", {"legal_name": "ООО Снова первый"})  # seq 3: b's now
    assert a.sync().applied == 1
    b.sync()
    view = server_view(server, web, "counterparties")
    assert {shared["id"], first["id"], second["id"], again["id"]} <= set(view)
    assert [c["legal_name"] for c in view.values()].count("ООО До копии") == 1
    for agent in (a, b):
        assert agent.replica.status()["pending"] == 0
        assert_same_as_server(agent, server, web)
    _each_seq_applied_once(database)


def test_a_reused_seq_is_refused_whole_and_a_true_replay_is_answered(
    server: TestClient, database: Database
) -> None:
    make_user(database, "ivanov")
    r = server.post(
        "/api/v1/auth/login",
        json={"login": "ivanov", "password": PASSWORD, "device_name": "Ноутбук"},
    )
    device_id = r.json()["device"]["id"]
    headers = {**protocol.headers(), "Authorization": f"Bearer {r.json()['token']}"}

    def push(*names: str) -> httpx.Response:
        mutations = [
            {
                "seq": 1 + i,
                "op": "create",
                "type": "counterparties",
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, n)),
                "fields": {"legal_name": n},
                "client_time": "2026-11-20T10:00:00Z",
            }
            for i, n in enumerate(names)
        ]
        return server.post(
            "/sync/v1/push", json={"device_id": device_id, "mutations": mutations}, headers=headers
        )

    first = push("ООО Один", "ООО Два")
    assert first.status_code == 200, first.text
    assert push("ООО Один", "ООО Два").json()["results"] == first.json()["results"]  # a true replay
    reused = push("ООО Один", "ООО Другое", "ООО Три")
    assert reused.status_code == 409 and reused.json()["error"] == "sequence_reused"
    details = reused.json()["details"]
    assert (details["expected"], details["reused"]) == (3, [2])
    assert details["results"] == first.json()["results"][:1]  # seq 1 really was this mutation
    web = rest(server, "ivanov")
    assert sorted(c["legal_name"] for c in server_view(server, web, "counterparties").values()) == [
        "ООО Два",
        "ООО Один",
    ]  # refused whole: nothing of it was applied
    # Results stored before digests were kept answer any replay, as they always did.
    with database.write() as session:
        for row in session.execute(select(PushResult)).scalars():
            row.digest = None
            session.add(row)
    assert push("ООО Один", "ООО Другое").json()["results"] == first.json()["results"]


def test_an_edit_evicted_in_the_middle_of_the_outbox_leaves_it_sendable(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    web = rest(server, "ivanov")
    first, leaving, third = (
        server.post(
            "/api/v1/counterparties", headers=web, json={"legal_name": name, "visibility": "team"}
        ).json()
        for name in ("ООО Первый", "ООО Уходящий", "ООО Третий")
    )
    b = laptop(server, tmp_path, "petrov")
    b.sync()
    b.replica.update("counterparties", first["id"], {"notes": "до синхронизации"})  # seq 1
    server.patch(
        f"/api/v1/counterparties/{leaving['id']}", headers=web, json={"visibility": "private"}
    )

    def meanwhile() -> None:  # the sync waits on the server; the user goes on working
        b.replica.update("counterparties", first["id"], {"region": "Тверь"})  # seq 2
        b.replica.update("counterparties", leaving["id"], {"notes": "пропадёт"})  # seq 3
        b.replica.update("counterparties", third["id"], {"notes": "после"})  # seq 4

    b.http = httpx.Client(
        transport=BeforePull(server._transport, meanwhile), base_url=str(server.base_url)
    )
    assert b.sync().pushed == 1
    assert [q["reason"] for q in b.replica.quarantine()] == [EVICTED]  # seq 3 went with its record
    assert [m["seq"] for m in b.replica.pending()] == [2, 4]
    summary = b.sync()
    assert (summary.pushed, summary.applied) == (2, 2) and b.replica.pending() == []
    petrov = rest(server, "petrov")
    view = server_view(server, petrov, "counterparties")
    assert (view[first["id"]]["region"], view[third["id"]]["notes"]) == ("Тверь", "после")
    assert_same_as_server(b, server, petrov)
    b.replica.update(
        "counterparties", third["id"], {"notes": "ещё"}
    )  # numbered right after: no gap
    assert b.sync().applied == 1
    _each_seq_applied_once(database)


class BeforePull(httpx.BaseTransport):
    """The real server's transport; ``hook`` runs once, as the first pull request goes out."""

    def __init__(self, inner: httpx.BaseTransport, hook: Callable[[], None]) -> None:
        self.inner = inner
        self.hook: Callable[[], None] | None = hook

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sync/v1/pull" and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return self.inner.handle_request(request)


def _conflict_on_notes(server: TestClient, database: Database, tmp_path: Path) -> tuple[Any, ...]:
    """ivanov and petrova edit one team client's notes on their laptops; their manager sees the conflict."""
    make_user(database, "boss", role="manager")
    make_user(database, "ivanov")
    make_user(database, "petrova")
    boss, one, two = (laptop(server, tmp_path, login) for login in ("boss", "ivanov", "petrova"))
    cp = one.replica.create("counterparties", {"legal_name": "АО Клиент", "visibility": "team"})
    one.sync()
    two.sync()
    one.replica.update("counterparties", cp["id"], {"notes": "от Иванова"})
    two.replica.update("counterparties", cp["id"], {"notes": "от Петровой"})
    one.sync()
    two.sync()
    boss.sync()
    [conflict] = boss.replica.conflicts()
    return boss, one, two, cp, conflict["id"]


def test_a_resolution_refused_because_another_closed_the_conflict_first_shows_the_servers_value(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    boss, one, two, cp, conflict = _conflict_on_notes(server, database, tmp_path)
    boss.replica.resolve(
        conflict, "theirs"
    )  # the manager keeps the server's value: nothing to write
    two.replica.resolve(conflict, "mine")  # petrova, offline, keeps her own
    boss.sync()
    two.sync()
    assert (
        two.replica.get("counterparties", cp["id"])["notes"] == "от Иванова"
    )  # not her refused choice
    assert [q["mutation"]["op"] for q in two.replica.quarantine()] == ["resolve"]
    assert two.replica.conflicts() == []


def test_a_late_resolution_of_a_conflict_closed_with_its_record_is_settled_not_quarantined(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    boss, one, two, cp, conflict = _conflict_on_notes(server, database, tmp_path)
    boss.replica.resolve(conflict, "mine")  # offline; meanwhile the owner deletes the client
    one.sync()
    one.replica.delete("counterparties", cp["id"])
    one.sync()
    boss.sync()
    assert boss.replica.quarantine() == [] and boss.replica.status()["pending"] == 0
    assert boss.replica.conflicts() == []


def _indexes(path: Path, table: str) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND name NOT LIKE 'sqlite_autoindex%'",
                (table,),
            )
        }


SEARCH_INDEXES = {
    "ix_contact_key_search",
    "ix_contact_key_record_id",
    "ix_contact_key_counterparty_id",
}


def _clients_with_phones(server: TestClient, web: dict[str, str], n: int) -> None:
    for i in range(n):
        r = server.post(
            "/api/v1/counterparties",
            headers=web,
            json={
                "legal_name": f"ООО Клиент {i}",
                "contacts": [{"kind": "phone", "value": f"+7 916 000-00-{i:02d}"}],
            },
        )
        assert r.status_code == 201, r.text


def test_a_bootstrapped_laptop_is_usable_before_its_search_keys_are_indexed(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    """The search keys' indexes are built last, after the records are committed: when the agent
    says "search", another connection (the screens) reads the records and finds a client by a
    phone (scanning the keys), and the sync ends with every index there."""
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    _clients_with_phones(server, web, 12)
    agent = laptop(server, tmp_path, "ivanov")
    path = agent.replica.path
    during: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase != "search":
            return
        screens = Replica.open(path)  # what the laptop's screens would open meanwhile
        try:
            during["pending"] = screens.search_pending()
            during["indexes"] = _indexes(path, "contact_key")
            during["listed"] = len(screens.list("counterparties", limit=100))
            found = screens.list("counterparties", q="916 000-00-07")
            during["found"] = [c["legal_name"] for c in found]
        finally:
            screens.close()

    summary = agent.sync(progress)
    assert summary.bootstrapped >= 12
    assert during == {
        "pending": True,
        "indexes": set(),  # opening the replica did not build them either
        "listed": 12,
        "found": ["ООО Клиент 7"],
    }
    assert summary.search_index > 0 and "usable after" in summary.line()
    assert not agent.replica.search_pending()
    assert SEARCH_INDEXES <= _indexes(path, "contact_key")
    assert [c["legal_name"] for c in agent.replica.list("counterparties", q="916 000-00-07")] == [
        "ООО Клиент 7"
    ]
    # The next sync has nothing to build.
    phases: list[str] = []
    again = agent.sync(lambda phase, *_: phases.append(phase))
    assert again.search_index == 0 and "search" not in phases


def test_a_laptop_stopped_before_its_search_index_builds_it_at_the_next_sync(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    """The last page commits the records with the search keys unindexed; a laptop switched off then
    searches by scanning, its replica opens without building them, and the next sync builds them."""
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    _clients_with_phones(server, web, 5)
    agent = laptop(server, tmp_path, "ivanov")
    path = agent.replica.path

    class SwitchedOff(Exception):
        pass

    def off(phase: str, done: int, total: int | None) -> None:
        if phase == "search":
            raise SwitchedOff

    with pytest.raises(SwitchedOff):
        agent.sync(off)
    agent.replica.close()
    reopened = Replica.open(path)
    try:
        assert reopened.search_pending()
        assert _indexes(path, "contact_key") == set()
        assert [c["legal_name"] for c in reopened.list("counterparties", q="+79160000003")] == [
            "ООО Клиент 3"
        ]
        seen: list[str] = []
        summary = SyncAgent(reopened, server).sync(lambda phase, *_: seen.append(phase))
        assert summary.bootstrapped == 0 and "search" in seen
        assert not reopened.search_pending()
        assert SEARCH_INDEXES <= _indexes(path, "contact_key")
    finally:
        reopened.close()


def test_the_search_index_is_not_built_in_the_middle_of_a_bootstrap(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    """A reset (the server said so) drops the indexes and loads again; until the new last page the
    builder does nothing: indexing half-loaded tables would slow the rest of the load."""
    make_user(database, "ivanov")
    agent = laptop(server, tmp_path, "ivanov")
    agent.sync()
    assert SEARCH_INDEXES <= _indexes(agent.replica.path, "contact_key")
    agent.replica.set_state(search_index="building")
    agent.replica.reset_for_bootstrap()
    assert agent.replica.build_search_index() is False
    assert _indexes(agent.replica.path, "contact_key") == set()
    agent.sync()
    assert not agent.replica.search_pending()
    assert SEARCH_INDEXES <= _indexes(agent.replica.path, "contact_key")


def test_a_load_cut_off_before_its_pull_still_gets_its_search_index(
    server: TestClient, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network goes right after the last bootstrap page: the sync says offline, and the
    search keys are indexed all the same (that needs no server), so days offline search fast."""
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    _clients_with_phones(server, web, 3)
    agent = laptop(server, tmp_path, "ivanov")

    def cut(*_args: Any) -> bool:
        raise Offline("no route to host")

    monkeypatch.setattr(agent, "_pull", cut)
    with pytest.raises(Offline):
        agent.sync()
    assert agent.replica.state("cursor") is not None  # the load itself was committed
    assert not agent.replica.search_pending()
    assert SEARCH_INDEXES <= _indexes(agent.replica.path, "contact_key")
