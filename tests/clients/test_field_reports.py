"""A salesperson's laptop, offline, gets the server's analyses for the clients it holds: the same
ABC/XYZ and RFM as the server computes for that salesperson, from the synced sales summaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from crm import analytics, records, trade
from crm.database import Database
from crm.models import User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10

PERIOD = ["--from", "2025-01-01", "--to", "2025-12-31"]


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def test_the_laptop_reports_what_the_server_reports_for_its_clients(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrova", team="Питер")
    rt = records.record_type("counterparties")
    lines = ["Номер;Дата;ИНН;Сумма;Себестоимость;Группа"]
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        for n in range(12):
            owner = "ivanov" if n % 3 else "petrova"
            inn = inn10(f"77{n:07d}")
            records.create(session, users[owner], rt, {"legal_name": f"ООО Клиент {n}", "inn": inn})
            for m in range(1, 13):
                if (n + m) % (1 + n % 4) == 0:
                    amount = 1000 * (n + 1) + 137 * m
                    lines.append(
                        f"Д{n}-{m};{5 + n}.{m:02d}.2025;{inn};{amount};{amount // 2};Кольца"
                    )
    path = tmp_path / "sales.csv"
    path.write_bytes("\n".join(lines).encode("cp1251"))
    with database.write() as session:
        trade.import_sales(session, users["office"], path)

    home = tmp_path / "home"
    login = ["login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0
    assert field(home, "sync").exit_code == 0
    live.stop()  # offline from here

    laptop = field(home, "report", "show", "abc", *PERIOD, "--json")
    assert laptop.exit_code == 0, laptop.output
    with database.read() as session:
        ivanov = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        server = analytics.classify(session, ivanov, date(2025, 1, 1), date(2025, 12, 31))
    rows = json.loads(laptop.output)["rows"]
    assert len(rows) == len(server.clients) == 8
    assert [(r["counterparty_id"], r["amount"], r["abc"], r["xyz"] or None) for r in rows] == [
        (c.counterparty_id, str(c.amount), c.abc, c.xyz) for c in server.clients
    ]
    rfm = json.loads(field(home, "report", "show", "rfm", *PERIOD, "--json").output)["rows"]
    with database.read() as session:
        expected = analytics.rfm(session, ivanov, date(2025, 1, 1), date(2025, 12, 31))
    assert [(r["counterparty_id"], r["score"], r["segment"]) for r in rfm] == [
        (c.counterparty_id, c.score, c.segment) for c in expected
    ]
    out = tmp_path / "abc.xlsx"
    shown = field(home, "report", "show", "matrix", *PERIOD, "--export", str(out))
    assert shown.exit_code == 0, shown.output
    assert load_workbook(out).active["A2"].value == "A"
    assert field(home, "report", "show", "pareto").exit_code == 2
