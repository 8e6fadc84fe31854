"""A salesperson drafts a mailing offline (``satchel-field mailings add``), lists and shows it; the
next sync sends it, and the server queues it — the laptop then pulls its status and counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crm import mailings
from crm.database import Database
from crm.models import Mailing, User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.crm.test_mailings import company


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def test_a_mailing_drafted_offline_and_queued_on_the_server(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    ids = company(database)
    home = tmp_path / "home"
    login = ["login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0
    assert field(home, "sync").exit_code == 0
    live.stop()  # offline from here

    added = field(
        home,
        "mailings",
        "add",
        "Приглашение",
        "--subject",
        "Ждём вас",
        "--body",
        "Приходите",
        "--event",
        ids["event"],
        "--status",
        "attended",
    )
    assert added.exit_code == 0, added.output
    mailing_id = added.output.split()[1]
    listed = field(home, "mailings", "list", "--json")
    assert "Приглашение" in listed.output
    shown = field(home, "mailings", "show", mailing_id)
    assert shown.exit_code == 0 and "draft" in shown.output
    refused = field(home, "mailings", "add", "Без адресата", "--subject", "Т", "--body", "Б")
    assert refused.exit_code != 0

    live.start()
    assert field(home, "sync").exit_code == 0
    with database.write() as session:
        stored = session.get_one(Mailing, mailing_id)
        assert stored.statuses == ["attended"] and stored.status == "draft"
        ivanov = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        assert mailings.queue(session, ivanov, mailing_id).letters == 1
    assert field(home, "sync").exit_code == 0
    shown = field(home, "mailings", "list", "--json")
    (row,) = [r for r in json.loads(shown.output) if r["id"] == mailing_id]
    assert row["status"] == "queued" and row["recipients"] == 1
