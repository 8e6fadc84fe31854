"""A salesperson's laptop, offline, lists the clients due for contact by their class's rule as the
server does for him, and a manager's laptop sets a rule that the server then keeps; a
salesperson's laptop cannot (its push is refused and nothing changes on the server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from crm import neglect, records, reports
from crm.database import Database
from crm.models import ContactRule, Counterparty, User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.conftest import make_user
from tests.crm.test_pipeline import pipeline_company


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def _login(home: Path, url: str, user: str) -> None:
    login = ["login", url, "--user", user, "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0


def test_due_offline_is_the_servers_answer(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    pipeline_company(database, tmp_path)
    make_user(database, "boss", role="manager")
    with database.write() as session:
        boss = session.execute(select(User).where(User.login == "boss")).scalar_one()
        for abc, days in (("A", 14), ("B", 60)):
            records.create(
                session,
                boss,
                records.record_type("contact-rules"),
                {"abc_class": abc, "days": days},
            )
        names = list(
            session.execute(select(Counterparty.id).order_by(Counterparty.legal_name)).scalars()
        )
        for n, cp in enumerate(names):
            session.execute(
                update(Counterparty).where(col(Counterparty.id) == cp).values(abc_class="AB"[n % 2])
            )
    home = tmp_path / "ivanov"
    _login(home, live.url, "ivanov")
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        ivanov = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        expected = reports.due(
            session, neglect.due_contacts(session, ivanov, today=date.today())
        ).as_json()
    assert expected["rows"], "nothing due: the test would prove nothing"
    live.stop()  # offline from here
    shown = field(home, "report", "show", "due", "--json")
    assert shown.exit_code == 0, shown.output
    laptop = json.loads(shown.output)
    assert laptop["rows"] == expected["rows"] and laptop["about"] == expected["about"]


def test_only_a_managers_laptop_sets_a_rule(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    make_user(database, "boss", role="manager")
    seller, manager = tmp_path / "ivanov", tmp_path / "boss"
    _login(seller, live.url, "ivanov")
    _login(manager, live.url, "boss")
    # The laptop checks by the server's rules: a salesperson is refused before anything is queued.
    refused = field(seller, "contact-rules", "add", "A", "--days", "1")
    assert refused.exit_code != 0
    made = field(manager, "contact-rules", "add", "A", "--days", "14", "--kind", "meeting")
    assert made.exit_code == 0, made.output
    assert field(manager, "sync").exit_code == 0
    assert field(seller, "sync").exit_code == 0
    with database.read() as session:
        rules = list(session.execute(select(ContactRule)).scalars())
        assert [(r.abc_class, r.days, r.kinds) for r in rules] == [("A", 14, ["meeting"])]
    listed = field(seller, "contact-rules", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.output)[0]["days"] == 14
