"""A complaint registered and closed in the laptop's browser without a network, queued in the
outbox and on the server after «Синхронизировать сейчас»."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from crm.database import Database
from tests.clients.test_laptop_ui import (  # noqa: F401 - the fixtures
    Laptop,
    card,
    laptops,
    on_server,
    rest,
    server,
    unplugged,
)
from tests.conftest import make_user


def test_a_complaint_made_offline_in_the_browser_reaches_the_server(
    database: Database,
    server: TestClient,  # noqa: F811 - the fixture
    laptops: Any,  # noqa: F811 - the fixture
) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    cp = card(server, office)
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    laptop.background.http = unplugged()
    laptop.background.start()
    assert laptop.background.wait(2, 30)  # the first sync at start: offline

    form = laptop.ui.get(f"/counterparties/{cp['id']}/complaints/new")
    assert form.status_code == 200
    assert f'action="{laptop.prefix}/counterparties/{cp["id"]}/complaints"' in form.text
    r = laptop.post(f"/counterparties/{cp['id']}/complaints", {"description": ""})
    assert r.status_code == 422 and laptop.pending() == []
    r = laptop.post(
        f"/counterparties/{cp['id']}/complaints",
        {"subject": "product", "product": "Серьги", "description": "Потемнело покрытие"},
    )
    assert r.status_code == 303
    (queued,) = laptop.pending()
    assert (queued["op"], queued["type"]) == ("create", "complaints")
    complaint_id = queued["id"]
    assert "Потемнело покрытие" in laptop.ui.get("/complaints").text
    r = laptop.post(
        f"/complaints/{complaint_id}/status",
        {"status": "resolved", "version": "1", "cause": "product_quality", "resolution": "Вернули"},
    )
    assert r.status_code == 303, r.text

    laptop.background.http = server
    assert laptop.post("/sync/now", {}).status_code == 303
    assert laptop.background.wait(3, 60)
    assert laptop.pending() == []
    got = on_server(server, office, "complaints", complaint_id)
    assert (got["status"], got["cause"], got["product"]) == (
        "resolved",
        "product_quality",
        "Серьги",
    )
