"""The deal and activity reports over REST and ``satchel report`` on SQLite and PostgreSQL: each user
gets them over what they see, ``owner`` narrows them to one salesperson, exports open in Excel
typed and without a live formula, and a hostile query gets a clear 400 (exit 2), never a 500."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.crm.test_pipeline import pipeline_company
from tests.server.conftest import Api

PERIOD = {"from": "2026-01-01", "to": "2026-03-01"}
NAMES = ("funnel", "lost", "sources", "activity")


def _world(api: Api, tmp_path: Path) -> dict[str, Any]:
    ids = pipeline_company(api.database, tmp_path)
    return {login: api.login(login) for login in ("office", "ivanov", "petrov")} | {"ids": ids}


def _get(api: Api, name: str, headers: dict[str, str], **params: str) -> Any:
    r = api.client.get(f"/api/v1/reports/{name}", params={**PERIOD, **params}, headers=headers)
    assert r.status_code == 200, (name, params, r.text)
    return r.json()


def test_each_user_gets_the_reports_over_what_they_see(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    funnel = _get(api, "funnel", w["office"])
    assert funnel["report"] == "funnel"
    assert [(r["stage"], r["deals"], r["reached"], r["amount"]) for r in funnel["rows"]] == [
        ("new", 1, 13, "100.00"),
        ("qualification", 1, 6, "200.00"),
        ("proposal", 1, 5, "300.00"),
        ("negotiation", 2, 4, "400.00"),
        ("won", 2, 2, "5550.00"),
        ("lost", 6, 6, "1750.00"),
    ]
    assert funnel["about"]["win_rate"] == 25.0 and funnel["about"]["forecast"] == "410.00"
    assert funnel["rows"][0]["conversion"] == 46.15
    his = _get(api, "funnel", w["ivanov"])
    assert his["about"]["deals"] == 10 and his["about"]["won_amount"] == "550.00"

    lost = _get(api, "lost", w["ivanov"])
    assert [(r["reason"], r["deals"]) for r in lost["rows"]] == [
        ("дорого", 3),
        ("не указана / not given", 1),
        ("Нет бюджета", 1),
    ]
    assert "Выбрали конкурента" not in json.dumps(lost, ensure_ascii=False)  # petrov's deal

    sources = _get(api, "sources", w["office"])
    assert [(r["source"], r["new"], r["clients"], r["conversion"]) for r in sources["rows"]] == [
        ("Сайт", 2, 1, 50.0),
        ("Выставка", 1, 1, 100.0),
        ("Рекомендация", 0, 0, None),
        ("не указан / not given", 0, 0, None),
    ]
    assert "Выставка" not in str(_get(api, "sources", w["ivanov"]))

    activity = _get(api, "activity", w["office"])
    assert [(r["login"], r["call"], r["meeting"], r["done"]) for r in activity["rows"]] == [
        ("ivanov", 2, 1, 3),
        ("petrov", 1, 0, 1),
    ]
    # Both planned contacts of the period are overdue today (the period is long past).
    assert [r["overdue"] for r in activity["rows"]] == [2, 1]
    assert [r["login"] for r in _get(api, "activity", w["ivanov"])["rows"]] == ["ivanov"]

    # One salesperson's: by login or by id; asking for a colleague's shows only what one sees.
    only = _get(api, "funnel", w["office"], owner="petrov")
    assert only["about"]["deals"] == 3 and only["about"]["owner"] == "petrov"
    assert _get(api, "lost", w["petrov"], owner="ivanov")["rows"] == []
    by_id = api.client.get("/api/v1/me", headers=w["petrov"]).json()["user"]["id"]
    assert _get(api, "activity", w["office"], owner=by_id)["rows"][0]["login"] == "petrov"


def test_exports_are_typed_and_formulas_do_not_run(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    api.create(
        w["ivanov"],
        "deals",
        counterparty_id=w["ids"]["A"],
        title="Поставка",
        stage="lost",
        amount="10",
        lost_reason='=HYPERLINK("http://x")',
    )
    year = {"from": "2026-01-01", "to": "2026-12-31"}  # this deal is opened today
    text = api.client.get(
        "/api/v1/reports/lost", params={**year, "format": "csv"}, headers=w["ivanov"]
    )
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    cells = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig")), delimiter=";"))
    assert cells[0][0] == "Причина / Reason"
    assert any(row[0].startswith("'=HYPERLINK") for row in cells[1:])
    for name in NAMES:
        xlsx = api.client.get(
            f"/api/v1/reports/{name}", params={**PERIOD, "format": "xlsx"}, headers=w["office"]
        )
        assert xlsx.status_code == 200, (name, xlsx.text)
        assert xlsx.headers["content-disposition"].startswith(f'attachment; filename="{name}-')
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None and sheet._charts, name  # noqa: SLF001
    funnel = load_workbook(
        io.BytesIO(
            api.client.get(
                "/api/v1/reports/funnel", params={**PERIOD, "format": "xlsx"}, headers=w["office"]
            ).content
        )
    ).active
    assert funnel is not None
    header = [c.value for c in funnel[1]]
    amount = header.index("Сумма / Amount") + 1
    assert funnel.cell(row=2, column=amount).value == 100
    assert funnel.cell(row=2, column=amount).number_format == "#,##0.00"
    assert funnel.cell(row=2, column=1).value == "Новая / New"


def test_hostile_queries_get_a_clear_400(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    for name in NAMES:
        for params in (
            {"from": "2025-13-01"},
            {"from": "2026-05-01", "to": "2026-01-01"},
            {"from": "9999-01-01", "to": "9999-12-01"},
            {"from": "0001-01-01", "to": "9999-12-31"},
            {"to": "banana"},
            {"owner": "nobody"},
            {"owner": "x" * 500},
            {"owner": ""},
            {"format": "pdf"},
            {"basis": "profit"},  # not a parameter of these reports
        ):
            r = api.client.get(f"/api/v1/reports/{name}", params=params, headers=w["ivanov"])
            assert r.status_code == 400, (name, params, r.text)
            assert "Traceback" not in r.text
        twice = api.client.get(
            f"/api/v1/reports/{name}?owner=ivanov&owner=petrov", headers=w["ivanov"]
        )
        assert twice.status_code == 400
        assert api.client.get(f"/api/v1/reports/{name}").status_code == 401
    r = api.client.get("/api/v1/reports/funnel?owner=nobody", headers=w["ivanov"])
    assert r.json()["error"] == "malformed_input" and "no user 'nobody'" in r.json()["message"]


def test_the_commands_show_and_export_them(api: Api, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from server.commands import app

    _world(api, tmp_path)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()
    period = ["--from", "2026-01", "--to", "2026-03"]
    for name in NAMES:
        shown = runner.invoke(app, ["report", name, "--as", "ivanov", *period, "--json"], env=env)
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.output)["report"] == name
    funnel = runner.invoke(app, ["report", "funnel", "--as", "office", *period, "--json"], env=env)
    assert json.loads(funnel.output)["about"]["deals"] == 13
    out = tmp_path / "lost.xlsx"
    shown = runner.invoke(
        app, ["report", "lost", "--as", "ivanov", *period, "--export", str(out)], env=env
    )
    assert shown.exit_code == 0 and "дорого" in shown.output, shown.output
    assert load_workbook(out).active.max_row == 4  # the header and three reasons
    petrov = runner.invoke(
        app,
        ["report", "activity", "--as", "office", *period, "--owner", "petrov", "--json"],
        env=env,
    )
    assert [r["login"] for r in json.loads(petrov.output)["rows"]] == ["petrov"]
    for args in (
        ["--owner", "nobody"],
        ["--from", "9999-01-01", "--to", "9999-12-01"],
        ["--from", "2026-10-01", "--to", "2026-01-01"],
    ):
        bad = runner.invoke(app, ["report", "sources", "--as", "ivanov", *args], env=env)
        assert bad.exit_code == 2 and "Traceback" not in bad.output, (args, bad.output)
    assert (
        "--owner"
        in runner.invoke(
            app, ["report", "funnel", "--as", "ivanov", "--owner", "nobody"], env=env
        ).output
    )
