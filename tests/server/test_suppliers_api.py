"""Suppliers over REST and the commands (issue 15), on SQLite and PostgreSQL: suppliers compared
(only the ones the caller sees), their terms written by who may change the supplier (a salesperson
who may not: 403 and nothing changed; a rating of 6: 422), price lines read-only; ``satchel import
prices`` and ``satchel suppliers compare``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select
from typer.testing import CliRunner

from crm import suppliers
from crm.models import PriceItem, SupplierTerms, User
from server.commands import app
from tests.crm.test_duplicates import inn10
from tests.server.conftest import Api


def _world(api: Api, tmp_path: Path) -> dict[str, Any]:
    office = api.user("office", role="office", team=None)
    ivanov = api.user("ivanov")
    petrova = api.user("petrova", team="Питер")
    mine = api.create(
        ivanov,
        "counterparties",
        legal_name="ООО Ювелир-Опт",
        inn=inn10("770000011"),
        kinds=["supplier"],
        visibility="company",
    )
    hers = api.create(
        petrova,
        "counterparties",
        legal_name="ООО Златник",
        inn=inn10("770000012"),
        kinds=["supplier"],
    )
    with api.database.write() as session:
        who = session.execute(select(User).where(User.login == "office")).scalar_one()
        for cp, price in ((mine["id"], "4950,00"), (hers["id"], "4100,00")):
            path = tmp_path / f"{cp}.csv"
            path.write_bytes(
                f"Наименование;Цена\r\nКольцо обручальное 585 4 мм;{price}".encode("cp1251")
            )
            suppliers.import_prices(session, who, path, supplier_id=cp, valid_from=date(2026, 1, 1))
    return {"office": office, "ivanov": ivanov, "petrova": petrova, "mine": mine, "hers": hers}


def test_compare_lists_only_the_suppliers_the_caller_sees(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    url = "/api/v1/suppliers/compare?product=кольцо+585&on=2026-03-01"
    office = api.client.get(url, headers=w["office"])
    assert office.status_code == 200, office.text
    assert [(r["supplier"], r["price"]) for r in office.json()["rows"]] == [
        ("ООО Златник", "4100.0000"),
        ("ООО Ювелир-Опт", "4950.0000"),
    ]
    ivanov = api.client.get(url, headers=w["ivanov"]).json()
    assert [r["supplier_id"] for r in ivanov["rows"]] == [w["mine"]["id"]]
    assert (
        api.client.get(url.replace("2026-03-01", "2025-12-31"), headers=w["ivanov"]).json()["rows"]
        == []
    )
    assert api.client.get("/api/v1/suppliers/compare", headers=w["ivanov"]).status_code == 400
    assert api.client.get(url + "&on=x", headers=w["ivanov"]).status_code == 400
    assert api.client.get(url + "&colour=red", headers=w["ivanov"]).status_code == 400
    assert api.client.get("/api/v1/suppliers/compare?product=1").status_code == 401
    xlsx = api.client.get(url + "&format=xlsx", headers=w["office"])
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # Price lines are read-only over the API, and seen by who sees the supplier.
    items = api.client.get("/api/v1/price-items", headers=w["ivanov"]).json()
    assert [i["counterparty_id"] for i in items["items"]] == [w["mine"]["id"]]
    refused = api.client.post(
        "/api/v1/price-items",
        json={"counterparty_id": w["mine"]["id"], "product": "x", "price": "1"},
        headers=w["office"],
    )
    assert refused.status_code == 405


def _terms(api: Api) -> list[tuple[str, int | None, int | None]]:
    with api.database.read() as session:
        return [
            (t.counterparty_id, t.lead_time_days, t.rating)
            for t in session.execute(select(SupplierTerms)).scalars()
        ]


def test_supplier_terms_are_kept_by_who_may_change_the_supplier(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    body = {"counterparty_id": w["mine"]["id"], "lead_time_days": 14, "rating": 4}
    assert api.client.post(
        "/api/v1/supplier-terms", json=body, headers=w["petrova"]
    ).status_code in (
        403,
        404,
        422,
    )
    assert _terms(api) == []
    bad = api.client.post("/api/v1/supplier-terms", json={**body, "rating": 6}, headers=w["ivanov"])
    assert bad.status_code == 422, bad.text
    made = api.client.post("/api/v1/supplier-terms", json=body, headers=w["ivanov"])
    assert made.status_code == 201, made.text
    terms = made.json()
    # Petrova sees his supplier (company visibility) and its terms, but may not change them.
    seen = api.client.get(f"/api/v1/supplier-terms/{terms['id']}", headers=w["petrova"])
    assert seen.status_code == 200
    changed = api.client.patch(
        f"/api/v1/supplier-terms/{terms['id']}",
        json={"rating": 1},
        headers={**w["petrova"], "If-Match": str(terms["version"])},
    )
    assert changed.status_code == 403, changed.text
    gone = api.client.delete(
        f"/api/v1/supplier-terms/{terms['id']}",
        headers={**w["petrova"], "If-Match": str(terms["version"])},
    )
    assert gone.status_code == 403
    assert _terms(api) == [(w["mine"]["id"], 14, 4)]
    # Her own supplier's: she may not see his, nor enter terms for a client that supplies nothing.
    client = api.create(w["petrova"], "counterparties", legal_name="ООО Покупатель")
    assert (
        api.client.post(
            "/api/v1/supplier-terms",
            json={"counterparty_id": client["id"], "rating": 3},
            headers=w["petrova"],
        ).status_code
        == 422
    )
    twice = api.client.post("/api/v1/supplier-terms", json=body, headers=w["ivanov"])
    assert twice.status_code == 422
    ok = api.client.patch(
        f"/api/v1/supplier-terms/{terms['id']}",
        json={"rating": 5, "payment_terms": "30 дней"},
        headers={**w["ivanov"], "If-Match": str(terms["version"])},
    )
    assert ok.status_code == 200, ok.text
    assert _terms(api) == [(w["mine"]["id"], 14, 5)]


def test_the_commands_import_prices_and_compare(api: Api, tmp_path: Path) -> None:
    _world(api, tmp_path)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()
    path = tmp_path / "prices.csv"
    path.write_bytes(
        "Товар;Цена, руб.;Код\r\nКольцо обручальное 585 4 мм;4800\r\nЦепь Бисмарк 585;5100".encode(
            "cp1251"
        )
    )

    def count() -> int:
        with api.database.read() as session:
            return int(session.execute(select(func.count()).select_from(PriceItem)).scalar_one())

    supplier = inn10("770000011")
    refused = runner.invoke(
        app, ["import", "prices", str(path), "--supplier", supplier, "--as", "ivanov"], env=env
    )
    assert refused.exit_code != 0 and "office" in refused.output, refused.output
    assert count() == 2
    args = ["import", "prices", str(path), "--supplier", supplier, "--as", "office"]
    dry = runner.invoke(app, [*args, "--dry-run", "--valid-from", "2026-02-01"], env=env)
    assert dry.exit_code == 0 and "would import 2 price lines" in dry.output, dry.output
    assert count() == 2
    done = runner.invoke(app, [*args, "--valid-from", "01.02.2026"], env=env)
    assert done.exit_code == 0 and "imported 2 price lines" in done.output, done.output
    again = runner.invoke(app, [*args, "--valid-from", "2026-02-01"], env=env)
    assert "imported 0 price lines, skipped 2" in again.output, again.output
    assert count() == 4

    out = tmp_path / "compare.xlsx"
    shown = runner.invoke(
        app,
        ["suppliers", "compare", "кольцо 585", "--as", "ivanov", "--on", "2026-03-01"]
        + ["--export", str(out)],
        env=env,
    )
    assert shown.exit_code == 0, shown.output
    assert "ООО Ювелир-Опт" in shown.output and "ООО Златник" not in shown.output
    assert "4 800" in shown.output
    sheet = load_workbook(out).active
    assert sheet is not None and sheet.max_row == 2  # the header and his one supplier's price
    assert Decimal(str(sheet.cell(2, 5).value)) == Decimal("4800")
