"""``satchel-field complaints``: register, list, edit and close a complaint offline, then sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from crm.database import Database
from tests.clients.test_cli import LiveServer, field, live  # noqa: F401 - the fixture
from tests.conftest import PASSWORD, make_user


def test_complaints_offline_from_the_command_line(
    live: LiveServer,  # noqa: F811 - the fixture
    database: Database,
    tmp_path: Path,
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "home"
    result = field(
        home, "login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD
    )
    assert result.exit_code == 0, result.output
    result = field(home, "counterparties", "add", "ООО Ромашка")
    assert result.exit_code == 0, result.output
    cp_id = result.output.split()[1]

    result = field(
        home,
        "complaints",
        "add",
        "Камень выпал через неделю",
        "-c",
        cp_id,
        "--product",
        "Кольцо 585",
    )
    assert result.exit_code == 0, result.output
    complaint_id = result.output.split()[1]
    result = field(home, "complaints", "add", "Опоздала машина", "-c", cp_id, "--about", "delivery")
    assert result.exit_code == 0, result.output
    result = field(home, "complaints", "add", "Без клиента", "-c", "нет-такого")
    assert result.exit_code != 0 and "counterparty_id" in result.output

    result = field(home, "complaints", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert len(listed) == 2
    soon = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    assert {c["deadline"] for c in listed} == {soon}
    result = field(home, "complaints", "list", "--where", "subject=delivery", "--json")
    assert [c["description"] for c in json.loads(result.output)] == ["Опоздала машина"]

    result = field(home, "complaints", "edit", complaint_id, "--field", "status=in_work")
    assert result.exit_code == 0, result.output
    result = field(home, "complaints", "edit", complaint_id, "--field", "status=resolved")
    assert result.exit_code == 3 and "resolution" in result.output  # refused: nothing queued
    result = field(
        home,
        "complaints",
        "close",
        complaint_id,
        "--resolution",
        "Заменили кольцо",
        "--cause",
        "product_quality",
    )
    assert result.exit_code == 0, result.output
    result = field(home, "complaints", "list", "--where", "status=resolved")
    assert result.exit_code == 0 and "Кольцо 585" in result.output

    result = field(home, "sync")
    assert result.exit_code == 0, result.output
    token = httpx.post(
        f"{live.url}/api/v1/auth/login",
        json={"login": "ivanov", "password": PASSWORD, "device_name": "web"},
    ).json()["token"]
    got = httpx.get(
        f"{live.url}/api/v1/complaints/{complaint_id}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert (got["status"], got["cause"], got["product"]) == (
        "resolved",
        "product_quality",
        "Кольцо 585",
    )
