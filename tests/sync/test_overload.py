"""A busy server answers a sync 503 with Retry-After at once, changing nothing; the laptop's
agent waits that long plus some jitter and tries again, and gives up with its outbox kept."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.testclient import TestClient

import sync.push
from clients.agent import BUSY_TRIES, Busy, Offline, SyncAgent
from clients.replica import Replica
from crm.database import Database
from crm.models import Counterparty
from server.app import create_app
from server.config import Config
from sync import protocol
from tests.conftest import PASSWORD, make_user
from tests.inprocess import InProcessClient


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    config = Config.load(
        environ={
            "SATCHEL_DATA_DIR": str(tmp_path),
            "SATCHEL_DATABASE_URL": database.url,
            "SATCHEL_SYNC_QUEUE_LIMIT": "1",
        }
    )
    with InProcessClient(create_app(config, database)) as client:
        yield client


def _laptop(http: httpx.Client, tmp_path: Path, name: str, **waits) -> SyncAgent:  # type: ignore[no-untyped-def]
    agent = SyncAgent(Replica.open(tmp_path / f"{name}.db"), http, **waits)
    agent.login("http://testserver", "ivanov", PASSWORD, name)
    return agent


def test_past_the_bound_a_push_is_refused_at_once_and_changes_nothing(
    server: TestClient, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(database, "ivanov")
    first = _laptop(server, tmp_path, "first")
    second = _laptop(server, tmp_path, "second", sleep=lambda _s: None)
    first.sync()
    second.sync()
    first.replica.create("counterparties", {"legal_name": "ООО Первое"})
    second.replica.create("counterparties", {"legal_name": "ООО Второе"})

    inside, release = threading.Event(), threading.Event()
    real = sync.push.push

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        inside.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync.push, "push", held)
    pusher = threading.Thread(target=first.sync)
    pusher.start()
    try:
        assert inside.wait(30), "the first push never reached the engine"
        monkeypatch.setattr(sync.push, "push", real)
        # The one place is taken: the second laptop is told to come back, BUSY_TRIES times.
        with pytest.raises(Busy, match="busy"):
            second.sync()
        assert len(second.replica.pending()) == 1
    finally:
        release.set()
        pusher.join(30)
    assert first.replica.pending() == []
    # The place is free again: the second laptop's change goes through.
    second.sync()
    assert second.replica.pending() == []
    names = {
        c["legal_name"]
        for c in server.get(
            "/api/v1/counterparties",
            headers={"Authorization": f"Bearer {first.replica.state('token')}"},
        ).json()["items"]
    }
    assert names == {"ООО Первое", "ООО Второе"}


def test_the_503_answer_names_when_to_come_back(
    server: TestClient, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(database, "ivanov")
    agent = _laptop(server, tmp_path, "one")
    agent.sync()
    server.app.state.sync_busy = 1  # type: ignore[attr-defined] - one sync in hand, the bound is 1
    headers = {"Authorization": f"Bearer {agent.replica.state('token')}", **protocol.headers()}
    for path, body in (
        ("/sync/v1/push", {"device_id": agent.replica.state("device_id"), "mutations": []}),
        ("/sync/v1/pull", {"cursor": "0"}),
        ("/sync/v1/bootstrap", {}),
    ):
        r = server.post(path, json=body, headers=headers)
        assert r.status_code == 503, (path, r.text)
        assert r.headers["retry-after"] == "2" and r.json()["error"] == "overloaded"
    # A stranger still learns nothing but 401.
    assert server.post("/sync/v1/push", json={}).status_code == 401
    server.app.state.sync_busy = 0  # type: ignore[attr-defined]
    assert server.post("/sync/v1/pull", json={"cursor": "0"}, headers=headers).status_code == 200


def test_the_agent_waits_retry_after_with_jitter_then_goes_through(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    refusals = {"left": 2}

    def busy_twice(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sync/v1/push" and refusals["left"]:
            refusals["left"] -= 1
            return httpx.Response(503, headers={"Retry-After": "3"}, json={"error": "overloaded"})
        return server._transport.handle_request(request)

    waits: list[float] = []
    http = httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(busy_twice))
    agent = _laptop(http, tmp_path, "one", sleep=waits.append, jitter=lambda: 0.5)
    agent.sync()
    agent.replica.create("counterparties", {"legal_name": "ООО Терпеливое"})
    agent.sync()
    assert waits == [3.75, 3.75]  # Retry-After × (1 + jitter / 2)
    assert agent.replica.pending() == []


def test_a_server_busy_through_every_try_keeps_the_outbox(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")

    def always_busy(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/sync/"):
            return httpx.Response(503, headers={"Retry-After": "999999"})
        return server._transport.handle_request(request)

    waits: list[float] = []
    http = httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(always_busy))
    agent = _laptop(http, tmp_path, "one", sleep=waits.append, jitter=lambda: 0.0)
    agent.replica.create("counterparties", {"legal_name": "ООО Ждущее"})
    with pytest.raises(Busy, match="kept"):
        agent.sync()
    assert waits == [30.0] * (BUSY_TRIES - 1)  # a huge Retry-After is shortened to MAX_WAIT
    assert len(agent.replica.pending()) == 1


def test_a_push_whose_connection_broke_after_the_server_wrote_it_is_sent_again_and_applied_once(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    """A server process killed between committing a push and answering it (another process answers
    from then on): the agent sends the push again once, after a moment, and the server applies it
    once — the laptop's sync goes through instead of failing until the next one. Broken twice, the
    sync stops with ``Offline`` and keeps the outbox."""
    make_user(database, "ivanov")
    broken = {"left": 1}

    def dies_after_writing(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sync/v1/push" and broken["left"]:
            broken["left"] -= 1
            server._transport.handle_request(request)  # written and committed, never answered
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return server._transport.handle_request(request)

    waits: list[float] = []
    http = httpx.Client(
        base_url="http://testserver", transport=httpx.MockTransport(dies_after_writing)
    )
    agent = _laptop(http, tmp_path, "one", sleep=waits.append, jitter=lambda: 0.5)
    agent.sync()
    made = agent.replica.create("counterparties", {"legal_name": "ООО Однажды"})
    agent.sync()
    assert waits == [0.75]  # BROKEN_WAIT × (1 + jitter)
    assert agent.replica.pending() == []
    with database.read() as session:
        found = session.execute(
            select(Counterparty).where(col(Counterparty.legal_name) == "ООО Однажды")
        ).scalars()
        assert [cp.id for cp in found] == [made["id"]]
        assert session.get(Counterparty, made["id"]).version == 1  # type: ignore[union-attr]

    broken["left"] = 2
    agent.replica.update("counterparties", made["id"], {"notes": "ещё раз"})
    with pytest.raises(Offline, match="kept"):
        agent.sync()
    assert len(agent.replica.pending()) == 1


def test_a_login_whose_connection_broke_is_not_sent_again(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    """A login is not asked twice on a broken connection (the first may have made a device the
    laptop never heard of): the person is told the server cannot be reached, and one device exists."""
    from crm.models import Device

    make_user(database, "ivanov")
    sent: list[str] = []

    def dies_after_writing(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        server._transport.handle_request(request)
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    http = httpx.Client(
        base_url="http://testserver", transport=httpx.MockTransport(dies_after_writing)
    )
    agent = SyncAgent(Replica.open(tmp_path / "one.db"), http, sleep=lambda _s: None)
    with pytest.raises(Offline):
        agent.login("http://testserver", "ivanov", PASSWORD, "one")
    assert sent == ["/api/v1/auth/login"]
    with database.read() as session:
        assert len(session.execute(select(Device)).scalars().all()) == 1
