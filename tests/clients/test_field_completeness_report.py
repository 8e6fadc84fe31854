"""A salesperson's laptop, offline, gives the server's completeness reports for that salesperson row
for row: the cards it holds, the contact persons and contacts synced with them, scored today."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm import reports
from crm.database import Database
from crm.models import User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.crm.test_completeness import completeness_company


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


@pytest.mark.parametrize("login", ["ivanov", "petrov"])
def test_the_laptop_gives_the_servers_answer_for_its_salesperson(
    live: LiveServer, database: Database, tmp_path: Path, login: str
) -> None:
    completeness_company(database, date.today())
    home = tmp_path / "home"
    args = ["login", live.url, "--user", login, "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *args).exit_code == 0
    assert field(home, "sync").exit_code == 0
    live.stop()  # offline from here

    with database.read() as session:
        user = session.execute(select(User).where(User.login == login)).scalar_one()
        expected = {
            name: reports.completeness(session, user, date.today(), name=name).as_json()
            for name in reports.COMPLETENESS
        }
    for name in reports.COMPLETENESS:
        shown = field(home, "report", "show", name, "--json")
        assert shown.exit_code == 0, shown.output
        laptop = json.loads(shown.output)
        assert laptop["rows"] == expected[name]["rows"], name
        assert laptop["about"] == expected[name]["about"], name
    scores = [
        r["score"]
        for r in json.loads(field(home, "report", "show", "completeness", "--json").output)["rows"]
    ]
    assert scores == (
        [5, 100] if login == "ivanov" else [42, 90]
    )  # his own two, none of the other's
    chosen = field(
        home, "report", "show", "completeness", "--rules", "inn", "--sort", "-score", "--json"
    )
    assert [r["score"] for r in json.loads(chosen.output)["rows"]] == (
        [100, 0] if login == "ivanov" else [100, 100]
    )
    out = tmp_path / "completeness.xlsx"
    exported = field(home, "report", "show", "completeness", "--export", str(out))
    assert exported.exit_code == 0, exported.output
    assert load_workbook(out).active.max_row == 3
    assert field(home, "report", "show", "completeness", "--rules", "banana").exit_code == 2
    assert field(home, "report", "show", "completeness", "--sort", "banana").exit_code == 2
    assert field(home, "report", "show", "completeness", "--owner", "nobody").exit_code == 2
