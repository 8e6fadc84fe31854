"""``satchel-field supplier-terms``: a supplier's terms entered, changed and deleted offline, synced
to the server; a rating out of 1–5 and terms for a counterparty that supplies nothing refused
before anything is queued."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from crm.database import Database
from crm.models import SupplierTerms
from tests.clients.test_cli import LiveServer, field, live  # noqa: F401 - the fixture
from tests.conftest import PASSWORD, make_user


def test_supplier_terms_offline(
    live: LiveServer,  # noqa: F811 - the fixture
    database: Database,
    tmp_path: Path,
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "ivanov"
    result = field(
        home, "login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD
    )
    assert result.exit_code == 0, result.output
    result = field(home, "counterparties", "add", "ООО Ювелир-Опт", "--field", 'kinds=["supplier"]')
    assert result.exit_code == 0, result.output
    supplier = result.output.split()[1]
    result = field(home, "counterparties", "add", "ООО Покупатель", "--yes")
    assert result.exit_code == 0, result.output
    client = result.output.split()[1]

    result = field(home, "supplier-terms", "add", "-c", supplier, "--rating", "6")
    assert result.exit_code == 3 and "rating" in result.output, result.output
    result = field(home, "supplier-terms", "add", "-c", client, "--rating", "3")
    assert result.exit_code == 3 and "not a supplier" in result.output, result.output
    result = field(
        home,
        "supplier-terms",
        "add",
        "-c",
        supplier,
        "--lead-time",
        "14",
        "--rating",
        "4",
        "--payment",
        "30 дней",
        "--delivery",
        "DAP Москва",
    )
    assert result.exit_code == 0, result.output
    terms_id = result.output.split()[1]
    result = field(home, "supplier-terms", "edit", terms_id, "--field", "rating=5")
    assert result.exit_code == 0, result.output
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        stored = session.execute(select(SupplierTerms)).scalar_one()
        assert (stored.counterparty_id, stored.lead_time_days, stored.rating) == (supplier, 14, 5)
        assert (stored.payment_terms, stored.delivery_terms) == ("30 дней", "DAP Москва")
    listed = json.loads(field(home, "supplier-terms", "list", "--json").output)
    assert [t["id"] for t in listed] == [terms_id]
    shown = field(home, "supplier-terms", "show", terms_id)
    assert shown.exit_code == 0 and "DAP Москва" in shown.output
    result = field(home, "supplier-terms", "delete", terms_id, "--yes")
    assert result.exit_code == 0, result.output
    assert field(home, "sync").exit_code == 0
    with database.read() as session:
        assert session.execute(select(SupplierTerms)).first() is None
