"""The completeness reports over REST and ``satchel report completeness`` on SQLite and PostgreSQL:
each user gets the cards they see scored today, worst first, ``owner`` narrows them, ``rules``
chooses and re-weighs the rules, the per-salesperson summary, exports that open in Excel without
a live formula, the OpenAPI document, and a hostile query gets a clear 400 (exit 2), never a 500."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.crm.test_completeness import completeness_company
from tests.server.conftest import Api

NAMES = ("completeness", "completeness-owners")


def _world(api: Api) -> dict[str, Any]:
    ids = completeness_company(api.database, date.today())
    return {login: api.login(login) for login in ("office", "ivanov", "petrov")} | {"ids": ids}


def _get(api: Api, name: str, headers: dict[str, str], **params: str) -> Any:
    r = api.client.get(f"/api/v1/reports/{name}", params=params, headers=headers)
    assert r.status_code == 200, (name, params, r.text)
    return r.json()


def test_each_user_gets_the_cards_they_see(api: Api) -> None:
    w = _world(api)
    cards = _get(api, "completeness", w["office"])
    assert [(r["name"], r["owner"], r["score"]) for r in cards["rows"]] == [
        ("ООО «Пустая»", "ivanov", 5),
        ("ИП Петров", "petrov", 42),
        ("ООО «Старая»", "petrov", 90),
        ("ООО «Полная»", "ivanov", 100),
    ]
    assert cards["about"]["cards"] == 4 and cards["about"]["poor"] == 2
    assert [r["missing_keys"] for r in cards["rows"]][2] == ["person_reach", "recent_contact"]
    his = _get(api, "completeness", w["ivanov"])
    assert [r["name"] for r in his["rows"]] == ["ООО «Пустая»", "ООО «Полная»"]
    # A colleague's cards, asked by name: only what one sees of them (nothing).
    assert _get(api, "completeness", w["ivanov"], owner="petrov")["rows"] == []
    petrov = _get(api, "completeness", w["office"], owner="petrov", sort="-score")
    assert [r["score"] for r in petrov["rows"]] == [90, 42]
    assert petrov["about"]["owner"] == "petrov"
    by_name = _get(api, "completeness", w["office"], sort="name")
    assert [r["name"] for r in by_name["rows"]][0] == "ИП Петров"
    chosen = _get(api, "completeness", w["office"], rules="inn:10,phone:10")
    assert [(r["name"], r["score"]) for r in chosen["rows"]] == [
        ("ООО «Пустая»", 0),
        ("ИП Петров", 100),  # ties by name
        ("ООО «Полная»", 100),
        ("ООО «Старая»", 100),
    ]
    assert chosen["about"]["rules"] == "inn:10,phone:10"
    owners = _get(api, "completeness-owners", w["office"])
    assert [(r["login"], r["cards"], r["average"], r["poor"]) for r in owners["rows"]] == [
        ("ivanov", 2, 52.5, 1),
        ("petrov", 2, 66.0, 1),
    ]
    assert [r["login"] for r in _get(api, "completeness-owners", w["petrov"])["rows"]] == ["petrov"]


def test_exports_are_typed_and_formulas_do_not_run(api: Api) -> None:
    w = _world(api)
    api.create(w["ivanov"], "counterparties", legal_name='=HYPERLINK("http://x")')
    text = api.client.get(
        "/api/v1/reports/completeness", params={"format": "csv"}, headers=w["ivanov"]
    )
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    cells = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig")), delimiter=";"))
    assert cells[0] == [
        "Контрагент / Counterparty",
        "ИНН / INN",
        "Ответственный / Owner",
        "Полнота, % / Score, %",
        "Чего не хватает / Missing",
    ]
    assert any(row[0].startswith("'=HYPERLINK") for row in cells[1:])
    for name in NAMES:
        xlsx = api.client.get(
            f"/api/v1/reports/{name}", params={"format": "xlsx"}, headers=w["office"]
        )
        assert xlsx.status_code == 200, (name, xlsx.text)
        assert xlsx.headers["content-disposition"].startswith(f'attachment; filename="{name}-')
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        if name == "completeness":
            assert sheet.cell(row=2, column=4).value == 5  # a number, not text
            assert sheet.max_row == 6
        else:
            assert sheet._charts  # noqa: SLF001
            assert [c.value for c in sheet[2]][:1] == ["ivanov"]


def test_the_openapi_document_describes_them(api: Api) -> None:
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    for name in NAMES:
        get = paths[f"/api/v1/reports/{name}"]["get"]
        assert {p["name"] for p in get["parameters"]} == {
            "owner",
            "rules",
            "sort",
            "segment",
            "format",
        }
        assert "400" in get["responses"]
    assert paths["/api/v1/reports/completeness"]["get"]["operationId"] == "report_completeness"


def test_hostile_queries_get_a_clear_400(api: Api) -> None:
    w = _world(api)
    for name in NAMES:
        for params in (
            {"rules": "banana"},
            {"rules": "inn,inn"},
            {"rules": "inn:0"},
            {"rules": "inn:" + "9" * 40},
            {"rules": "x" * 600},
            {"sort": "banana"},
            {"owner": "nobody"},
            {"owner": ""},
            {"format": "pdf"},
            {"from": "2026-01-01"},  # not a parameter of these reports
        ):
            r = api.client.get(f"/api/v1/reports/{name}", params=params, headers=w["ivanov"])
            assert r.status_code == 400, (name, params, r.text)
            assert r.json()["error"] == "malformed_input" and "Traceback" not in r.text
        for twice in ("rules=inn&rules=phone", "sort=name&sort=score", "owner=a&owner=b"):
            r = api.client.get(f"/api/v1/reports/{name}?{twice}", headers=w["ivanov"])
            assert r.status_code == 400, (name, twice)
        assert api.client.get(f"/api/v1/reports/{name}").status_code == 401
    r = api.client.get("/api/v1/reports/completeness?rules=banana", headers=w["ivanov"])
    assert "no rule 'banana'" in r.json()["message"]


def test_the_command_shows_and_exports_them(api: Api, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from server.commands import app

    _world(api)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()
    shown = runner.invoke(app, ["report", "completeness", "--as", "office", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert [r["score"] for r in json.loads(shown.output)["rows"]] == [5, 42, 90, 100]
    mine = runner.invoke(
        app,
        ["report", "completeness", "--as", "office", "--owner", "ivanov", "--json"],
        env=env,
    )
    assert [r["name"] for r in json.loads(mine.output)["rows"]] == ["ООО «Пустая»", "ООО «Полная»"]
    owners = runner.invoke(
        app, ["report", "completeness", "--as", "office", "--by-owner", "--json"], env=env
    )
    assert json.loads(owners.output)["report"] == "completeness-owners"
    out = tmp_path / "completeness.xlsx"
    table = runner.invoke(
        app,
        ["report", "completeness", "--as", "ivanov", "--rules", "inn,phone", "--export", str(out)],
        env=env,
    )
    assert table.exit_code == 0 and "Пустая" in table.output, table.output
    assert load_workbook(out).active.max_row == 3  # the header and his two cards
    for args, says in (
        (["--owner", "nobody"], "--owner"),
        (["--rules", "banana"], "no rule 'banana'"),
        (["--rules", "inn:0"], "from 1 to 100"),
        (["--sort", "banana"], "--sort is one of"),
    ):
        bad = runner.invoke(app, ["report", "completeness", "--as", "ivanov", *args], env=env)
        assert bad.exit_code == 2 and "Traceback" not in bad.output, (args, bad.output)
        assert says in bad.output, (args, bad.output)
