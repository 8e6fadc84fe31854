"""Complaints on a laptop (issue 15): registered and closed offline, they reach the server with the
next sync; the laptop refuses what the server would; a replica of an older schema loads again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from clients.replica import Replica
from crm.database import Database
from crm.errors import ValidationFailed
from server.app import create_app
from server.config import Config
from sync import protocol
from tests.conftest import make_user
from tests.inprocess import InProcessClient
from tests.sync.test_agent import assert_same_as_server, laptop, rest, server_view


@pytest.fixture
def server(config: Config, database: Database) -> Iterator[TestClient]:
    with InProcessClient(create_app(config, database)) as client:
        yield client


def test_a_complaint_made_offline_reaches_the_server(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    r = server.post("/api/v1/counterparties", headers=web, json={"legal_name": "ООО «Ромашка»"})
    cp = r.json()
    agent = laptop(server, tmp_path, "ivanov")
    agent.sync()

    made = agent.replica.create(
        "complaints",
        {
            "counterparty_id": cp["id"],
            "subject": "delivery",
            "description": "Привезли на день позже",
        },
    )
    today = datetime.now(UTC).date()
    assert made["responsible_id"] == agent.replica.state("user_id")
    assert made["deadline"] == (today + timedelta(days=10)).isoformat()
    with pytest.raises(ValidationFailed) as refused:
        agent.replica.update("complaints", made["id"], {"status": "resolved"})
    assert set(refused.value.details) == {"resolution", "cause"}
    assert made["id"] not in server_view(server, web, "complaints")

    summary = agent.sync()
    assert (summary.pushed, summary.applied, summary.refused) == (1, 1, 0)
    on_server = server_view(server, web, "complaints")[made["id"]]
    assert on_server["deadline"] == made["deadline"] and on_server["status"] == "new"
    assert on_server["registered_by"] == agent.replica.state("user_id")

    agent.replica.update(
        "complaints",
        made["id"],
        {"status": "resolved", "resolution": "Скидка 3%", "cause": "delivery_delay"},
    )
    agent.sync()
    on_server = server_view(server, web, "complaints")[made["id"]]
    assert (on_server["status"], on_server["cause"]) == ("resolved", "delivery_delay")
    assert on_server["resolved_at"] is not None
    assert_same_as_server(agent, server, web)

    # Made on the server, it reaches the laptop; the client deleted, it leaves with it.
    other = server.post(
        "/api/v1/complaints",
        headers=web,
        json={"counterparty_id": cp["id"], "description": "Брак упаковки"},
    ).json()
    agent.sync()
    assert other["id"] in agent.replica.snapshot("complaints")
    assert server.delete(f"/api/v1/counterparties/{cp['id']}", headers=web).status_code == 204
    agent.sync()
    assert agent.replica.snapshot("complaints") == {}
    assert_same_as_server(agent, server, web)


def test_a_replica_synced_by_an_older_schema_loads_its_scope_again(
    server: TestClient, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    web = rest(server, "ivanov")
    cp = server.post(
        "/api/v1/counterparties", headers=web, json={"legal_name": "ООО «Ромашка»"}
    ).json()
    agent = laptop(server, tmp_path, "ivanov")
    agent.sync()
    path = agent.replica.path
    agent.replica.set_state(schema="4")  # as a client of schema 4 left it: it knew no complaints
    agent.replica.close()
    # Meanwhile the server got a complaint the old client could not hold; its cursor is past it.
    made = server.post(
        "/api/v1/complaints", headers=web, json={"counterparty_id": cp["id"], "description": "Брак"}
    ).json()
    plain = Database(f"sqlite:///{path}")
    with plain.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM complaint")
    plain.dispose()

    replica = Replica.open(path)
    assert replica.state("reset") == "1" and replica.state("schema") == str(protocol.SCHEMA)
    agent.replica = replica
    summary = agent.sync()
    assert summary.bootstrapped > 0
    assert made["id"] in replica.snapshot("complaints")
    assert replica.state("reset") is None
    assert_same_as_server(agent, server, web)
    replica.close()
    assert Replica.open(path).state("reset") is None  # once
