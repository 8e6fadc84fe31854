"""The analyses over REST on SQLite and PostgreSQL: each user gets the report over the clients they
see and nobody else's; exports open in Excel with typed cells and no live formula; keeping a
classification is the office's; sales summaries are never written through the API or a push."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from crm import trade
from crm.models import ClassRun, Counterparty, SalesSummary, User
from sync import protocol
from tests.crm.test_duplicates import inn10
from tests.server.conftest import Api


def _world(api: Api, tmp_path: Path) -> dict[str, Any]:
    office = api.user("office", role="office", team=None)
    ivanov = api.user("ivanov")
    petrova = api.user("petrova", team="Питер")
    mine = api.create(ivanov, "counterparties", legal_name="ООО «Альфа»", inn=inn10("770000001"))
    hers = api.create(
        petrova, "counterparties", legal_name='=HYPERLINK("http://x")', inn=inn10("770000002")
    )
    lines = ["Номер;Дата;ИНН;Сумма;Себестоимость"]
    for m in range(1, 13):
        lines.append(f"А-{m};10.{m:02d}.2025;{inn10('770000001')};1000;600")
        lines.append(f"П-{m};12.{m:02d}.2025;{inn10('770000002')};5000;4000")
    path = tmp_path / "sales.csv"
    path.write_bytes("\n".join(lines).encode("cp1251"))
    with api.database.write() as session:
        who = session.execute(select(User).where(User.login == "office")).scalar_one()
        trade.import_sales(session, who, path)
    return {"office": office, "ivanov": ivanov, "petrova": petrova, "mine": mine, "hers": hers}


PERIOD = {"from": "2025-01-01", "to": "2025-12-31"}


def test_each_user_gets_the_report_over_their_own_clients(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    office = api.client.get("/api/v1/reports/abc", params=PERIOD, headers=w["office"])
    assert office.status_code == 200, office.text
    rows = office.json()["rows"]
    assert [(r["counterparty_id"], r["abc"], r["xyz"]) for r in rows] == [
        (w["hers"]["id"], "A", "X"),
        (w["mine"]["id"], "B", "X"),  # 83 % above it: B
    ]
    assert office.json()["about"]["total"] == "72000.00"
    his = api.client.get("/api/v1/reports/abc", params=PERIOD, headers=w["ivanov"]).json()
    assert [r["counterparty_id"] for r in his["rows"]] == [w["mine"]["id"]]
    assert his["rows"][0]["abc"] == "A"  # among his own clients he is the whole total
    assert "HYPERLINK" not in str(his)  # nothing of Petrova's client leaks, not even its name
    rfm = api.client.get("/api/v1/reports/rfm", params=PERIOD, headers=w["ivanov"]).json()
    assert [r["counterparty_id"] for r in rfm["rows"]] == [w["mine"]["id"]]
    grid = api.client.get("/api/v1/reports/matrix", params=PERIOD, headers=w["office"]).json()
    assert grid["rows"][0]["abc"] == "A" and grid["rows"][0]["X_clients"] == 1
    # Nobody has called anyone: both are neglected for the office, one for Ivanov.
    late = api.client.get("/api/v1/reports/neglected", params={"days": 30}, headers=w["ivanov"])
    assert [r["counterparty_id"] for r in late.json()["rows"]] == [w["mine"]["id"]]


def test_exports_are_typed_and_formulas_do_not_run(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    xlsx = api.client.get(
        "/api/v1/reports/abc", params={**PERIOD, "format": "xlsx"}, headers=w["office"]
    )
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    amount = header.index("Выручка / Revenue") + 1
    name = header.index("Контрагент / Counterparty") + 1
    assert sheet.cell(row=2, column=amount).value == 60000
    assert sheet.cell(row=2, column=amount).number_format == "#,##0.00"
    assert sheet.cell(row=2, column=name).data_type == "s"  # text, not a formula
    assert sheet._charts  # the Pareto curve  # noqa: SLF001
    text = api.client.get(
        "/api/v1/reports/abc", params={**PERIOD, "format": "csv"}, headers=w["office"]
    )
    cells = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig")), delimiter=";"))
    assert cells[1][1].startswith("'=HYPERLINK")  # neutralised
    assert cells[1][4] == "60000,00"  # after №, the name, its INN and its owner


def test_hostile_parameters_get_a_clear_400_and_keep_is_the_offices(
    api: Api, tmp_path: Path
) -> None:
    w = _world(api, tmp_path)
    for params in (
        {"from": "2025-13-01"},
        {"from": "2026-01-01", "to": "2025-01-01"},
        {"basis": "margin"},
        {"a": "-5"},
        {"format": "pdf"},
        {"limit": "5"},
        {"from": "0001-01-01", "to": "9999-12-31"},
    ):
        r = api.client.get("/api/v1/reports/abc", params=params, headers=w["ivanov"])
        assert r.status_code == 400, (params, r.text)
    r = api.client.get("/api/v1/reports/abc", params={"a": "90", "b": "20"}, headers=w["ivanov"])
    assert r.status_code == 422
    assert api.client.get("/api/v1/reports/moves", headers=w["ivanov"]).status_code == 400
    martian = api.client.get("/api/v1/reports/neglected?kind=martian", headers=w["ivanov"])
    assert martian.status_code == 400 and "client" in martian.text
    assert api.client.get("/api/v1/reports/abc").status_code == 401

    refused = api.client.post("/api/v1/reports/abc/keep", json=PERIOD, headers=w["ivanov"])
    assert refused.status_code == 403
    with api.database.read() as session:
        assert session.execute(select(ClassRun)).first() is None
        assert all(cp.abc_class is None for cp in session.execute(select(Counterparty)).scalars())
    kept = api.client.post("/api/v1/reports/abc/keep", json=PERIOD, headers=w["office"])
    assert kept.status_code == 201, kept.text
    card = api.client.get(f"/api/v1/counterparties/{w['mine']['id']}", headers=w["ivanov"])
    assert card.json()["abc_class"] == "B" and card.json()["xyz_class"] == "X"
    # The class is the server's to set: a salesperson cannot raise his client to A.
    r = api.client.patch(
        f"/api/v1/counterparties/{w['mine']['id']}", json={"abc_class": "A"}, headers=w["ivanov"]
    )
    assert r.status_code in (400, 422)
    assert (
        api.client.get(f"/api/v1/counterparties/{w['mine']['id']}", headers=w["ivanov"]).json()[
            "abc_class"
        ]
        == "B"
    )


def test_sales_summaries_are_read_only_and_seen_only_with_their_client(
    api: Api, tmp_path: Path
) -> None:
    w = _world(api, tmp_path)
    listed = api.client.get("/api/v1/sales-summaries", headers=w["ivanov"]).json()["items"]
    assert [s["counterparty_id"] for s in listed] == [w["mine"]["id"]]
    with api.database.read() as session:
        theirs = session.execute(
            select(SalesSummary).where(SalesSummary.counterparty_id == w["hers"]["id"])
        ).scalar_one()
    assert (
        api.client.get(f"/api/v1/sales-summaries/{theirs.id}", headers=w["ivanov"]).status_code
        == 404
    )
    for who in ("ivanov", "office"):
        made = api.client.post(
            "/api/v1/sales-summaries",
            json={"counterparty_id": w["mine"]["id"]},
            headers=w[who],
        )
        assert made.status_code == 405, made.text  # no write route at all
    assert api.client.get("/api/v1/sales", headers=w["ivanov"]).json()["total"] == 12
    # A laptop's push cannot write one either.
    me = api.client.get("/api/v1/me", headers=w["ivanov"])
    pushed = api.client.post(
        "/sync/v1/push",
        json={
            "device_id": me.json()["device"]["id"],
            "mutations": [
                {
                    "seq": 1,
                    "op": "create",
                    "type": "sales-summaries",
                    "id": "6f1c7a8e-0000-4000-8000-000000000001",
                    "fields": {"counterparty_id": w["mine"]["id"], "months": []},
                    "client_time": "2026-11-20T10:00:00Z",
                }
            ],
        },
        headers={**w["ivanov"], **protocol.headers()},
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["results"][0]["status"] in ("rejected", "refused"), pushed.text
    with api.database.read() as session:
        assert session.get(SalesSummary, "6f1c7a8e-0000-4000-8000-000000000001") is None


def test_a_pushed_class_is_refused_not_a_conflict_and_far_periods_are_400(
    api: Api, tmp_path: Path
) -> None:
    """Found by an outside trial: a salesperson's push of the class the server keeps became two open
    conflicts; a period in the year 9999 answered 500."""
    w = _world(api, tmp_path)
    assert (
        api.client.post("/api/v1/reports/abc/keep", json=PERIOD, headers=w["office"]).status_code
        == 201
    )
    me = api.client.get("/api/v1/me", headers=w["ivanov"]).json()
    pushed = api.client.post(
        "/sync/v1/push",
        json={
            "device_id": me["device"]["id"],
            "mutations": [
                {
                    "seq": 1,
                    "op": "update",
                    "type": "counterparties",
                    "id": w["mine"]["id"],
                    "base_version": 1,
                    "fields": {"abc_class": "A", "xyz_class": "X"},
                    "client_time": "2026-11-20T10:00:00Z",
                }
            ],
        },
        headers={**w["ivanov"], **protocol.headers()},
    )
    assert pushed.status_code == 200, pushed.text
    result = pushed.json()["results"][0]
    assert result["status"] == "refused", result
    assert "kept by the server" in str(result)
    assert api.client.get("/api/v1/conflicts", headers=w["ivanov"]).json()["items"] == []
    card = api.client.get(f"/api/v1/counterparties/{w['mine']['id']}", headers=w["ivanov"]).json()
    assert card["abc_class"] == "B"
    for params in (
        {"from": "9999-01-01", "to": "9999-12-01"},
        {"from": "0001-01-01", "to": "0001-02-01"},
        {"from": "2025-01-01", "to": "2025-02-01", "group": "x" * 201},
    ):
        for name in ("abc", "matrix", "rfm"):
            r = api.client.get(f"/api/v1/reports/{name}", params=params, headers=w["ivanov"])
            assert r.status_code == 400, (name, params, r.text)
    twice = api.client.get(
        "/api/v1/reports/abc?from=2025-01-01&from=2025-02-01", headers=w["ivanov"]
    )
    assert twice.status_code == 400
    far = api.client.get(
        "/api/v1/reports/moves", params={"since": "9999-12-31"}, headers=w["ivanov"]
    )
    assert far.status_code == 400
    # A salesperson is refused before anything is computed or checked, and nothing is kept.
    for body in ({"basis": "x"}, {"from": "9999-11-01"}, PERIOD):
        r = api.client.post("/api/v1/reports/abc/keep", json=body, headers=w["ivanov"])
        assert r.status_code == 403, (body, r.text)
    assert (
        api.client.post(
            "/api/v1/reports/abc/keep?dry=1", json=PERIOD, headers=w["office"]
        ).status_code
        == 400
    )
    with api.database.read() as session:
        assert len(session.execute(select(ClassRun)).all()) == 1


def test_the_commands_report_keep_and_refuse_clearly(api: Api, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from server.commands import app

    _world(api, tmp_path)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()
    period = ["--from", "2025-01", "--to", "2025-12"]
    out = tmp_path / "abc.xlsx"
    shown = runner.invoke(
        app, ["report", "abc", "--as", "ivanov", *period, "--export", str(out)], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert "ООО «Альфа»" in shown.output and "HYPERLINK" not in shown.output
    assert load_workbook(out).active.max_row == 2  # the header and his one client
    refused = runner.invoke(app, ["report", "abc", "--as", "ivanov", *period, "--keep"], env=env)
    assert refused.exit_code != 0 and "office" in refused.output
    for args in (
        ["--from", "9999-01-01", "--to", "9999-12-01"],
        ["--from", "2026-10-01", "--to", "2026-01-01"],
        ["--group", "x" * 201],
    ):
        bad = runner.invoke(app, ["report", "rfm", "--as", "ivanov", *args], env=env)
        assert bad.exit_code == 2 and "Traceback" not in bad.output, (args, bad.output)
    kept = runner.invoke(app, ["report", "abc", "--as", "office", *period, "--keep"], env=env)
    assert kept.exit_code == 0 and "kept as computation" in kept.output, kept.output
    with api.database.read() as session:
        assert len(session.execute(select(ClassRun)).all()) == 1
