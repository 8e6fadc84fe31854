"""A salesperson's laptop, offline, reports what its clients owe exactly as the server reports it
for that salesperson — from the synced receivable rows — and nothing of anyone else's clients; a
payment imported on the server reaches the laptop at the next sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm import invoices, records, reports, trade
from crm.database import Database
from crm.invoices import InvoiceRow
from crm.models import User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10
from tests.crm.test_invoices import _statement

D = Decimal


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def _server_report(database: Database, login: str, name: str) -> dict[str, object]:
    with database.read() as session:
        who = session.execute(select(User).where(User.login == login)).scalar_one()
        return reports.receivables(session, who, date.today(), name=name).as_json()


def test_the_laptop_reports_the_receivables_the_server_reports_for_its_user(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrova", team="Питер")
    rt = records.record_type("counterparties")
    today = date.today()
    rows = []
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        for n in range(6):
            owner = "ivanov" if n % 3 else "petrova"
            cp = records.create(
                session,
                users[owner],
                rt,
                {"legal_name": f"ООО Должник {n}", "inn": inn10(f"79{n:07d}")},
            )
            for k, late in enumerate((-5, 0, 1, 30, 31, 91)[: n + 1]):
                rows.append(
                    InvoiceRow(
                        f"С{n}-{k}",
                        today - timedelta(days=max(late, 0) + 3),
                        cp.id,
                        D(100 * (n + 1) + k),
                        due_on=today - timedelta(days=late),
                    )
                )
        invoices.store_invoices(session, users["office"], rows)

    home = tmp_path / "home"
    login = ["login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0
    assert field(home, "sync").exit_code == 0

    for name in ("receivables", "receivables-owners"):
        shown = field(home, "report", "show", name, "--json")
        assert shown.exit_code == 0, shown.output
        laptop = json.loads(shown.output)
        server = _server_report(database, "ivanov", name)
        assert laptop["rows"] == server["rows"], name
        assert laptop["about"] == server["about"], name
    mine = json.loads(field(home, "report", "show", "receivables", "--json").output)["rows"]
    assert sorted(r["name"] for r in mine) == [
        "ООО Должник 1",
        "ООО Должник 2",
        "ООО Должник 4",
        "ООО Должник 5",
    ]  # Petrova's 0 and 3 are not on his laptop
    assert mine[0]["name"] == "ООО Должник 5" and mine[0]["oldest_days"] == 91
    # The office's answer is larger; the laptop's is the server's for Ivanov alone.
    assert len(_server_report(database, "office", "receivables")["rows"]) == 6

    # A payment for Должник 5's oldest invoice reaches the laptop with the next sync.
    with database.write() as session:
        trade.import_statement(
            session,
            session.execute(select(User).where(User.login == "office")).scalar_one(),
            _statement(("55", f"{today:%d.%m.%Y}", "605.00", inn10("790000005"), "сч. С5-5")),
        )
    assert field(home, "sync").exit_code == 0
    live.stop()  # offline from here
    after = json.loads(field(home, "report", "show", "receivables", "--json").output)
    assert after["rows"] == _server_report(database, "ivanov", "receivables")["rows"]
    five = next(r for r in after["rows"] if r["name"] == "ООО Должник 5")
    assert five["oldest_days"] == 31 and five["days_over_90"] == "0.00"
    out = tmp_path / "receivables.xlsx"
    exported = field(home, "report", "show", "receivables", "--export", str(out))
    assert exported.exit_code == 0, exported.output
    assert load_workbook(out).active.max_row == 5  # the header and his four clients
    assert field(home, "report", "show", "receivables", "--owner", "nobody").exit_code == 2
