"""Receivables over REST and the commands, on SQLite and PostgreSQL: each user gets what the clients
they see owe and nothing of anyone else's; exports open in Excel with typed cells and no live
formula; invoices are read-only over the API; nobody writes a receivable, through the API or a
push; only the office imports invoices."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from crm import invoices
from crm.invoices import InvoiceRow
from crm.models import Invoice, Receivable, User
from server.commands import app
from sync import protocol
from tests.crm.test_duplicates import inn10
from tests.server.conftest import Api

D = Decimal


def _world(api: Api) -> dict[str, Any]:
    """Ivanov's «ООО Альфа» owes 1,000 overdue 45 days and 500 not yet due; Petrova's client (its
    name a formula) owes 2,000 overdue 100 days."""
    office = api.user("office", role="office", team=None)
    ivanov = api.user("ivanov")
    petrova = api.user("petrova", team="Питер")
    manager = api.user("manager", role="manager")
    mine = api.create(ivanov, "counterparties", legal_name="ООО «Альфа»", inn=inn10("770000001"))
    hers = api.create(
        petrova, "counterparties", legal_name='=HYPERLINK("http://x")', inn=inn10("770000002")
    )
    today = date.today()
    with api.database.write() as session:
        who = session.execute(select(User).where(User.login == "office")).scalar_one()
        invoices.store_invoices(
            session,
            who,
            [
                InvoiceRow(
                    "А-1",
                    today - timedelta(days=60),
                    mine["id"],
                    D("1000.00"),
                    today - timedelta(days=45),
                ),
                InvoiceRow("А-2", today, mine["id"], D("500.00"), today + timedelta(days=10)),
                InvoiceRow(
                    "П-1",
                    today - timedelta(days=130),
                    hers["id"],
                    D("2000.00"),
                    today - timedelta(days=100),
                ),
            ],
        )
    return {
        "office": office,
        "ivanov": ivanov,
        "petrova": petrova,
        "manager": manager,
        "mine": mine,
        "hers": hers,
    }


def test_each_user_gets_the_receivables_of_their_own_clients(api: Api) -> None:
    w = _world(api)
    office = api.client.get("/api/v1/reports/receivables", headers=w["office"])
    assert office.status_code == 200, office.text
    body = office.json()
    assert [r["counterparty_id"] for r in body["rows"]] == [w["hers"]["id"], w["mine"]["id"]]
    hers, mine = body["rows"]
    assert (hers["overdue"], hers["days_over_90"], hers["oldest_days"]) == (
        "2000.00",
        "2000.00",
        100,
    )
    assert (mine["owed"], mine["overdue"], mine["not_due"], mine["days_31_60"]) == (
        "1500.00",
        "1000.00",
        "500.00",
        "1000.00",
    )
    assert (mine["invoices"], mine["overdue_invoices"], mine["owner"]) == (2, 1, "ivanov")
    assert body["about"]["owed"] == "3500.00" and body["about"]["overdue"] == "3000.00"
    his = api.client.get("/api/v1/reports/receivables", headers=w["ivanov"]).json()
    assert [r["counterparty_id"] for r in his["rows"]] == [w["mine"]["id"]]
    assert "HYPERLINK" not in str(his) and his["about"]["owed"] == "1500.00"
    only = api.client.get(
        "/api/v1/reports/receivables", params={"owner": "petrova"}, headers=w["office"]
    ).json()
    assert [r["counterparty_id"] for r in only["rows"]] == [w["hers"]["id"]]
    # Per salesperson, for their manager: the team's clients (Ivanov's; Petrova is in Питер).
    team = api.client.get("/api/v1/reports/receivables-owners", headers=w["manager"]).json()
    assert [(r["login"], r["clients"], r["overdue"]) for r in team["rows"]] == [
        ("ivanov", 1, "1000.00")
    ]
    everyone = api.client.get("/api/v1/reports/receivables-owners", headers=w["office"]).json()
    assert [r["login"] for r in everyone["rows"]] == ["petrova", "ivanov"]
    for params in ({"owner": "nobody"}, {"format": "pdf"}, {"days": "5"}):
        r = api.client.get("/api/v1/reports/receivables", params=params, headers=w["ivanov"])
        assert r.status_code == 400, (params, r.text)
    assert api.client.get("/api/v1/reports/receivables").status_code == 401


def test_exports_are_typed_and_formulas_do_not_run(api: Api) -> None:
    w = _world(api)
    xlsx = api.client.get(
        "/api/v1/reports/receivables", params={"format": "xlsx"}, headers=w["office"]
    )
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    overdue = header.index("Просрочено / Overdue") + 1
    name = header.index("Контрагент / Counterparty") + 1
    assert sheet.cell(row=2, column=overdue).value == 2000
    assert sheet.cell(row=2, column=overdue).number_format == "#,##0.00"
    assert sheet.cell(row=2, column=name).value.startswith("=HYPERLINK")
    assert sheet.cell(row=2, column=name).data_type == "s"  # text, not a formula
    text = api.client.get(
        "/api/v1/reports/receivables", params={"format": "csv"}, headers=w["office"]
    )
    assert text.headers["content-type"].startswith("text/csv")
    cells = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig")), delimiter=";"))
    assert cells[1][0].startswith("'=HYPERLINK")  # neutralised
    assert cells[1][cells[0].index("Просрочено / Overdue")] == "2000,00"
    owners = api.client.get(
        "/api/v1/reports/receivables-owners", params={"format": "xlsx"}, headers=w["office"]
    )
    assert load_workbook(io.BytesIO(owners.content)).active._charts  # noqa: SLF001


def test_invoices_are_read_only_and_nobody_writes_a_receivable(api: Api) -> None:
    w = _world(api)
    listed = api.client.get("/api/v1/invoices", headers=w["ivanov"]).json()
    assert sorted(i["number"] for i in listed["items"]) == ["А-1", "А-2"]
    assert api.client.get("/api/v1/invoices", headers=w["office"]).json()["total"] == 3
    owed = api.client.get("/api/v1/receivables", headers=w["ivanov"]).json()["items"]
    assert [r["counterparty_id"] for r in owed] == [w["mine"]["id"]]
    assert [i["number"] for i in owed[0]["invoices"]] == ["А-1", "А-2"]
    with api.database.read() as session:
        theirs = session.execute(
            select(Receivable).where(Receivable.counterparty_id == w["hers"]["id"])
        ).scalar_one()
        before = {
            r.id: (r.version, r.owed, r.invoices)
            for r in session.execute(select(Receivable)).scalars()
        }
    assert (
        api.client.get(f"/api/v1/receivables/{theirs.id}", headers=w["ivanov"]).status_code == 404
    )
    for who in ("ivanov", "office"):
        for path, body in (
            ("/api/v1/invoices", {"number": "1", "counterparty_id": w["mine"]["id"]}),
            ("/api/v1/receivables", {"counterparty_id": w["mine"]["id"], "invoices": []}),
        ):
            made = api.client.post(path, json=body, headers=w[who])
            assert made.status_code == 405, (who, path, made.text)  # no write route at all
        for method in ("patch", "delete"):
            r = api.client.request(
                method.upper(),
                f"/api/v1/receivables/{owed[0]['id']}",
                json={"owed": "0"},
                headers=w[who],
            )
            assert r.status_code in (403, 405), (who, method, r.text)
    me = api.client.get("/api/v1/me", headers=w["ivanov"]).json()
    pushed = api.client.post(
        "/sync/v1/push",
        json={
            "device_id": me["device"]["id"],
            "mutations": [
                {
                    "seq": 1,
                    "op": "create",
                    "type": "receivables",
                    "id": "6f1c7a8e-0000-4000-8000-000000000002",
                    "fields": {"counterparty_id": w["mine"]["id"], "invoices": [], "owed": "0"},
                    "client_time": "2026-11-20T10:00:00Z",
                },
                {
                    "seq": 2,
                    "op": "update",
                    "type": "receivables",
                    "id": owed[0]["id"],
                    "base_version": owed[0]["version"],
                    "fields": {"invoices": [], "owed": "0"},
                    "client_time": "2026-11-20T10:00:00Z",
                },
                {
                    "seq": 3,
                    "op": "delete",
                    "type": "receivables",
                    "id": owed[0]["id"],
                    "base_version": owed[0]["version"],
                    "client_time": "2026-11-20T10:00:00Z",
                },
            ],
        },
        headers={**w["ivanov"], **protocol.headers()},
    )
    assert pushed.status_code == 200, pushed.text
    assert [r["status"] for r in pushed.json()["results"]] == ["refused"] * 3, pushed.text
    assert api.client.get("/api/v1/conflicts", headers=w["ivanov"]).json()["items"] == []
    with api.database.read() as session:
        after = {
            r.id: (r.version, r.owed, r.invoices)
            for r in session.execute(select(Receivable)).scalars()
        }
    assert after == before


def test_the_commands_import_invoices_and_report_receivables(api: Api, tmp_path: Path) -> None:
    _world(api)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()
    path = tmp_path / "invoices.csv"
    path.write_bytes(
        "\r\n".join(
            [
                "Номер;Дата;ИНН;Сумма;Срок оплаты",
                f"А-3;{date.today():%d.%m.%Y};{inn10('770000001')};250,00;",
            ]
        ).encode("cp1251")
    )

    def count() -> int:
        with api.database.read() as session:
            return int(session.execute(select(func.count()).select_from(Invoice)).scalar_one())

    refused = runner.invoke(app, ["import", "invoices", str(path), "--as", "ivanov"], env=env)
    assert refused.exit_code != 0 and "office" in refused.output, refused.output
    assert count() == 3
    dry = runner.invoke(
        app, ["import", "invoices", str(path), "--as", "office", "--dry-run"], env=env
    )
    assert dry.exit_code == 0 and "would import 1 invoices" in dry.output, dry.output
    assert count() == 3
    done = runner.invoke(app, ["import", "invoices", str(path), "--as", "office"], env=env)
    assert done.exit_code == 0 and "imported 1 invoices" in done.output, done.output
    again = runner.invoke(app, ["import", "invoices", str(path), "--as", "office"], env=env)
    assert "imported 0 invoices, skipped 1" in again.output, again.output
    assert count() == 4

    out = tmp_path / "receivables.xlsx"
    shown = runner.invoke(
        app, ["report", "receivables", "--as", "ivanov", "--export", str(out)], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert "ООО «Альфа»" in shown.output and "HYPERLINK" not in shown.output
    assert load_workbook(out).active.max_row == 2  # the header and his one client
    mine = runner.invoke(app, ["report", "receivables", "--as", "ivanov", "--json"], env=env)
    assert '"1750.00"' in mine.output  # 1,500 and the new 250
    owners = runner.invoke(
        app, ["report", "receivables", "--as", "office", "--by-owner", "--json"], env=env
    )
    assert owners.exit_code == 0 and "petrova" in owners.output, owners.output
    bad = runner.invoke(
        app, ["report", "receivables", "--as", "office", "--owner", "nobody"], env=env
    )
    assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output
