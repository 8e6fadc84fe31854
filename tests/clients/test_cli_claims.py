"""``satchel-field claims``: claim a client offline, see a colleague's claim after a sync and be warned
when planning a contact with the client, be refused their group, end one's own claim."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crm.database import Database
from tests.clients.test_cli import LiveServer, field, live  # noqa: F401 - the fixture
from tests.conftest import PASSWORD, make_user

TODAY = datetime.now(UTC).date()


def _login(home: Path, live: LiveServer, login: str) -> None:  # noqa: F811 - the fixture's type
    result = field(
        home, "login", live.url, "--user", login, "--device", "Ноутбук", "--password", PASSWORD
    )
    assert result.exit_code == 0, result.output


def _two_laptops(live: LiveServer, database: Database, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811
    """ivanov's and petrov's laptops (colleagues of one team), logged in."""
    make_user(database, "ivanov")
    make_user(database, "petrov")
    ivanov, petrov = tmp_path / "ivanov", tmp_path / "petrov"
    _login(ivanov, live, "ivanov")
    _login(petrov, live, "petrov")
    return ivanov, petrov


def test_claims_offline_and_the_warning_when_planning(
    live: LiveServer,  # noqa: F811 - the fixture
    database: Database,
    tmp_path: Path,
) -> None:
    ivanov, petrov = _two_laptops(live, database, tmp_path)
    result = field(ivanov, "counterparties", "add", "ООО Ювелир", "--field", "visibility=company")
    assert result.exit_code == 0, result.output
    cp_id = result.output.split()[1]
    until = (TODAY + timedelta(days=20)).isoformat()
    result = field(ivanov, "claims", "add", "Золото 585", "-c", cp_id, "--until", until)
    assert result.exit_code == 0, result.output
    claim_id = result.output.split()[1]
    result = field(ivanov, "claims", "add", "Платина", "-c", cp_id, "--until", "2000-01-01")
    assert result.exit_code == 3 and "ends_on" in result.output  # refused: nothing queued
    assert field(ivanov, "sync").exit_code == 0

    assert field(petrov, "sync").exit_code == 0
    listed = json.loads(field(petrov, "claims", "list", "--json").output)
    assert [(c["product_group"], c["ends_on"]) for c in listed] == [("Золото 585", until)]
    result = field(
        petrov, "interactions", "add", "Предложить серьги", "-c", cp_id, "--status", "planned"
    )
    assert result.exit_code == 0, result.output
    assert "Золото 585 — Пользователь ivanov" in result.output  # warned, not refused
    result = field(petrov, "claims", "add", "золото 585", "-c", cp_id)
    assert result.exit_code == 3 and "claimed by Пользователь ivanov" in result.output
    result = field(petrov, "claims", "end", claim_id)
    assert result.exit_code != 0 and "not change" in result.output, result.output

    result = field(ivanov, "claims", "end", claim_id)
    assert result.exit_code == 0, result.output
    assert field(ivanov, "sync").exit_code == 0
    assert field(petrov, "sync").exit_code == 0
    (ended,) = json.loads(field(petrov, "claims", "list", "--json").output)
    assert ended["ends_on"] == TODAY.isoformat()


def test_absences_and_the_board_offline(
    live: LiveServer,  # noqa: F811 - the fixture
    database: Database,
    tmp_path: Path,
) -> None:
    ivanov, petrov = _two_laptops(live, database, tmp_path)
    result = field(
        ivanov,
        "absences",
        "add",
        "trip",
        "--from",
        "2026-12-01",
        "--until",
        "2026-12-02",
        "--city",
        "Казань",
    )
    assert result.exit_code == 0, result.output
    result = field(
        ivanov, "absences", "add", "vacation", "--from", "2026-12-02", "--until", "2026-12-04"
    )
    assert result.exit_code == 3 and "overlaps their trip" in result.output
    assert field(ivanov, "sync").exit_code == 0
    assert field(petrov, "sync").exit_code == 0
    result = field(petrov, "whereabouts", "--from", "2026-12-03", "--json")
    assert result.exit_code == 0, result.output
    board = {row["name"]: row["days"] for row in json.loads(result.output)}
    assert [d["kind"] for d in board["Пользователь ivanov"]][:4] == [
        "office",
        "trip",
        "trip",
        "office",
    ]
    assert board["Пользователь ivanov"][1]["detail"] == "Казань"
    assert board["Пользователь ivanov"][0]["day"] == "2026-11-30"
    result = field(petrov, "whereabouts")
    assert result.exit_code == 0 and "Пользователь ivanov" in result.output
    assert field(petrov, "whereabouts", "--from", "завтра").exit_code == 2
