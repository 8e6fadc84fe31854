"""Segments on a salesperson's laptop, offline: saved there (queued for the next sync like any edit),
listed with their members on the laptop, and every report over one gives what the server gives that
salesperson over the same segment; a colleague's segment edited offline is refused by the server,
which keeps it as it was; the laptop's screens save and delete one through its outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm import analytics, records, reports, segments, trade
from crm.database import Database
from crm.models import Segment, User
from server.config import Config
from tests.clients.test_cli import PASSWORD, LiveServer, field
from tests.clients.test_laptop_ui import laptops, server
from tests.conftest import SQLITE_ONLY, make_user
from tests.crm.test_duplicates import inn10
from tests.web.test_reports_screen import _seed_sales
from tests.web.test_segments import _form

__all__ = ["laptops", "server"]  # fixtures used below

PERIOD = ["--from", "2025-01-01", "--to", "2025-12-31"]
START, END = date(2025, 1, 1), date(2025, 12, 31)


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def _company(database: Database, tmp_path: Path) -> None:
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
            records.create(
                session,
                users[owner],
                rt,
                {
                    "legal_name": f"ООО Клиент {n}",
                    "inn": inn,
                    "region": ["Москва", "Казань", None][n % 3],
                    "tags": ["vip"] if n % 2 else [],
                    "visibility": "company" if n % 4 == 0 else "private",
                },
            )
            for m in range(1, 13):
                if (n + m) % (1 + n % 4) == 0:
                    amount = 1000 * (n + 1) + 137 * m
                    lines.append(
                        f"Д{n}-{m};{5 + n}.{m:02d}.2025;{inn};{amount};{amount // 2};Кольца"
                    )
        records.create(
            session,
            users["petrova"],
            records.record_type("segments"),
            {"name": "Её Москва", "criteria": {"region": ["Москва"]}},
        )
    path = tmp_path / "sales.csv"
    path.write_bytes("\n".join(lines).encode("cp1251"))
    with database.write() as session:
        trade.import_sales(session, users["office"], path)


def _server_report(database: Database, name: str, segment_name: str) -> dict[str, object]:
    with database.read() as session:
        ivanov = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        chosen, only = segments.chosen(session, ivanov, segment_name)
        if name == "abc":
            result = analytics.classify(session, ivanov, START, END, only=only)
            report = reports.abc(session, ivanov, result)
        elif name == "rfm":
            found = analytics.rfm(session, ivanov, START, END, only=only)
            report = reports.rfm(session, ivanov, found, START, END)
        else:
            report = reports.completeness(session, ivanov, date.today(), name=name, only=only)
        return reports.in_segment(report, chosen).as_json()


def test_the_laptop_saves_segments_offline_and_reports_over_them_as_the_server_does(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    _company(database, tmp_path)
    home = tmp_path / "home"
    login = ["login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD]
    assert field(home, *login).exit_code == 0
    assert field(home, "sync").exit_code == 0
    live.stop()  # offline from here

    added = field(
        home, "segments", "add", "VIP Москва",
        "--criterion", "tags=vip", "--criterion", "region=москва,Казань",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = json.loads(field(home, "segments", "list", "--json").output)
    assert sorted((r["name"], r["owner"]) for r in listed) == [
        ("VIP Москва", "ivanov"),
        ("Её Москва", "petrova"),
    ]
    shown = field(home, "segments", "show", "vip москва", "--json")
    assert shown.exit_code == 0, shown.output
    members = json.loads(shown.output)
    assert members["criteria"] == {"tags": ["vip"], "region": ["москва", "Казань"]}
    assert members["total"] == len(members["members"]) > 0

    # The same reports as the server's for Ivanov over the same segments (hers too: everyone's).
    for segment_name in ("Её Москва",):
        for name in ("abc", "rfm", "completeness"):
            laptop = field(
                home, "report", "show", name, *PERIOD, "--segment", segment_name, "--json"
            )
            assert laptop.exit_code == 0, laptop.output
            got = json.loads(laptop.output)
            expected = json.loads(json.dumps(_server_report(database, name, segment_name)))
            assert got["rows"] == expected["rows"], name
            assert got["about"]["segment"] == segment_name
            assert got["title"] == expected["title"]
    missing = field(home, "report", "show", "abc", "--segment", "нет такого")
    assert missing.exit_code != 0 and "no segment" in missing.output

    # Her segment is hers: the laptop lets Ivanov queue a change only where its rules would.
    refused = field(home, "segments", "edit", "Её Москва", "--name", "Моя Москва")
    assert refused.exit_code != 0
    assert field(home, "segments", "delete", "Её Москва", "--yes").exit_code != 0

    live.start()  # back online: his own segment reaches the server
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        stored = {s.name: s for s in session.execute(select(Segment)).scalars()}
    assert set(stored) == {"VIP Москва", "Её Москва"}
    assert stored["VIP Москва"].criteria == {"tags": ["vip"], "region": ["москва", "Казань"]}
    # Now the laptop's answer over his new segment is the server's too.
    laptop = field(home, "report", "show", "abc", *PERIOD, "--segment", "VIP Москва", "--json")
    expected = json.loads(json.dumps(_server_report(database, "abc", "VIP Москва")))
    assert json.loads(laptop.output)["rows"] == expected["rows"]
    assert field(home, "segments", "delete", "VIP Москва", "--yes").exit_code == 0
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        assert [s.name for s in session.execute(select(Segment)).scalars()] == ["Её Москва"]


@SQLITE_ONLY  # the laptop's screens over its own replica; the server's database does not matter
def test_the_laptop_saves_and_deletes_a_segment_through_its_outbox(
    database: Database, server: Any, laptops: Any, tmp_path: Path
) -> None:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    _seed_sales(database, tmp_path)
    laptop = laptops("ivanov")
    laptop.launch()
    assert f'href="{laptop.prefix}/segments" id="segments-link"' in laptop.ui.get("/").text
    r = laptop.post("/segments", _form(name="Альфа и Бета", tags="-", abc_class=["-"]))
    assert r.status_code == 303, r.text
    (queued,) = laptop.pending()
    assert (queued["op"], queued["type"]) == ("create", "segments")
    segment_id = queued["id"]
    listed = laptop.ui.get("/segments").text
    assert f'id="segment-{segment_id}"' in listed and 'data-members="3"' in listed
    shown = laptop.ui.get(f"/reports?segment={segment_id}")
    assert shown.status_code == 200 and 'id="segment-shown"' in shown.text
    assert laptop.post(f"/segments/{segment_id}/delete", {}).status_code == 303
    assert [q["op"] for q in laptop.pending()] == ["create", "delete"]
    assert 'id="segments-none"' in laptop.ui.get("/segments").text
