"""A salesperson's laptop, offline, gives the server's deal and activity reports for that
salesperson row for row: the funnel, lost reasons, sources and activity over the synced deals,
contacts, counterparties and sales summaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm import reports
from crm.database import Database
from crm.models import User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.crm.test_pipeline import ENDS, STARTS, pipeline_company

PERIOD = ["--from", "2026-01-01", "--to", "2026-03-01"]


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def test_the_laptop_gives_the_servers_answer_for_its_salesperson(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    pipeline_company(database, tmp_path)
    home = tmp_path / "home"
    login = ["login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0
    assert field(home, "sync").exit_code == 0
    live.stop()  # offline from here

    with database.read() as session:
        ivanov = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        expected = {
            name: reports.pipeline(session, ivanov, name, STARTS, ENDS).as_json()
            for name in reports.PIPELINE
        }
    for name in reports.PIPELINE:
        shown = field(home, "report", "show", name, *PERIOD, "--json")
        assert shown.exit_code == 0, shown.output
        laptop = json.loads(shown.output)
        assert laptop["rows"] == expected[name]["rows"], name
        assert laptop["about"] == expected[name]["about"], name
        # each has something to show (this company held no marketing events)
        assert laptop["rows"] or name == "events", name
    funnel = json.loads(field(home, "report", "show", "funnel", *PERIOD, "--json").output)
    assert funnel["about"]["deals"] == 10  # his ten, none of petrov's
    mine = field(home, "report", "show", "activity", *PERIOD, "--owner", "ivanov", "--json")
    assert [r["login"] for r in json.loads(mine.output)["rows"]] == ["ivanov"]
    out = tmp_path / "funnel.xlsx"
    assert field(home, "report", "show", "funnel", *PERIOD, "--export", str(out)).exit_code == 0
    assert load_workbook(out).active["A2"].value == "Новая / New"
    assert field(home, "report", "show", "lost", "--owner", "nobody").exit_code == 2
    assert field(home, "report", "show", "funnel", "--from", "9999-01-01").exit_code == 2
