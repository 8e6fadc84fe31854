"""``satchel-field … list`` shows what people read: an event's kind in words (Выставка /
Exhibition), a supplier's terms under the supplier's name, not its id."""

from __future__ import annotations

from pathlib import Path

from crm.database import Database
from tests.clients.test_cli import LiveServer, field, live  # noqa: F401 - the fixture
from tests.conftest import PASSWORD, make_user


def test_listings_name_suppliers_and_kinds(
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
    result = field(home, "supplier-terms", "add", "-c", supplier, "--rating", "4")
    assert result.exit_code == 0, result.output
    result = field(home, "events", "add", "JUNWEX Москва", "--kind", "exhibition")
    assert result.exit_code == 0, result.output

    terms = field(home, "supplier-terms", "list")
    assert terms.exit_code == 0, terms.output
    assert "ООО Ювелир-Опт" in terms.output and supplier not in terms.output, terms.output
    events = field(home, "events", "list")
    assert events.exit_code == 0, events.output
    assert "Выставка / Exhibition" in events.output, events.output
