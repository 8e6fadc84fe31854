"""A supplier's terms on the laptop's screens (issue 15): entered on the card, queued in the outbox
and on the server after a sync; the price list and the compare page say they are the server's."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from crm.database import Database
from tests.clients.test_laptop_ui import (  # noqa: F401 - the fixtures
    Laptop,
    card,
    laptops,
    rest,
    server,
)
from tests.conftest import make_user


def test_terms_on_the_laptop_and_the_price_list_on_the_server(
    database: Database,
    server: TestClient,  # noqa: F811 - the fixture
    laptops: Any,  # noqa: F811 - the fixture
) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    cp = card(server, office, kinds=["supplier"])
    laptop: Laptop = laptops("ivanov")
    laptop.background.run_once()
    laptop.launch()
    page = laptop.ui.get(f"/counterparties/{cp['id']}")
    assert page.status_code == 200 and 'id="price-list-server"' in page.text
    r = laptop.post(
        f"/counterparties/{cp['id']}/supplier-terms",
        {"lead_time_days": "14", "rating": "4", "delivery_terms": "DAP Москва"},
    )
    assert r.status_code == 303, r.text
    assert [(m["op"], m["type"]) for m in laptop.pending()] == [("create", "supplier-terms")]
    laptop.background.run_once()
    assert laptop.pending() == []
    found = server.get(
        "/api/v1/supplier-terms", params={"counterparty_id": cp["id"]}, headers=office
    ).json()["items"]
    assert [(t["lead_time_days"], t["rating"], t["delivery_terms"]) for t in found] == [
        (14, 4, "DAP Москва")
    ]
    compare = laptop.ui.get("/suppliers/compare?product=кольцо")
    assert compare.status_code == 200 and 'id="compare-server"' in compare.text
