"""Error answers and log lines."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from server.errors import _path
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop


def test_feed_tokens_never_reach_a_log_line() -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/calendar/s3cr3t-token.ics",
            "headers": [],
            "query_string": b"",
        }
    )
    assert _path(request) == "/calendar/…"
    other = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/api/v1/counterparties",
            "headers": [],
            "query_string": b"",
        }
    )
    assert _path(other) == "/api/v1/counterparties"


def test_deleting_a_deal_its_interactions_name_is_refused_in_words_not_the_databases(
    api: Api,
) -> None:
    """An outside trial: deleting a deal that interactions still name answered 409
    ``already_exists`` over REST, and a push's delete the database's own message (its tables and
    keys). Both now say the record is still referred to, and nothing changes."""
    headers = api.user("ivanov")
    client = api.create(headers, "counterparties", legal_name="ООО Сделка")
    deal = api.create(headers, "deals", counterparty_id=client["id"], title="Поставка")
    api.create(
        headers,
        "interactions",
        counterparty_id=client["id"],
        deal_id=deal["id"],
        subject="Звонок",
        starts_at="2026-11-20T09:00:00Z",
    )
    r = api.client.delete(f"/api/v1/deals/{deal['id']}", headers=headers)
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "in_use"
    said = r.json()["message"]
    assert not {"violates", "constraint", "table", deal["id"]} & set(said.split()), said
    laptop = Laptop(api, "ivanov")
    answer = laptop.push(
        {"op": "delete", "type": "deals", "id": deal["id"], "base_version": deal["version"]}
    )
    refused = answer["results"][0]
    assert refused["status"] == "refused" and refused["error"]["error"] == "in_use", refused
    said = refused["error"]["message"]
    assert not {"violates", "constraint", "table", deal["id"]} & set(said.split()), said
    assert api.client.get(f"/api/v1/deals/{deal['id']}", headers=headers).status_code == 200


def test_a_rest_write_given_up_for_meeting_another_is_written_again_once_through(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL gives up a transaction that deadlocks with another (40P01) or fails to serialise
    (40001): the whole write was rolled back, so the server writes it again (up to
    ``WRITE_ATTEMPTS`` times) instead of answering 503; any other database error is not retried."""
    from sqlalchemy.exc import OperationalError

    from crm import records
    from server import http

    class _Gave(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    headers = api.user("ivanov")
    client = api.create(headers, "counterparties", legal_name="ООО Повтор")
    real = records.update
    failures = {"left": 2, "state": "40P01", "calls": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        failures["calls"] += 1
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE …", {}, _Gave(str(failures["state"])))
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "update", flaky)
    r = api.client.patch(
        f"/api/v1/counterparties/{client['id']}", headers=headers, json={"notes": "в третий раз"}
    )
    assert r.status_code == 200, r.text
    assert failures["calls"] == 3
    assert r.json()["version"] == client["version"] + 1  # written once

    failures.update(left=http.WRITE_ATTEMPTS, calls=0)  # never goes through: 503, try again
    r = api.client.patch(
        f"/api/v1/counterparties/{client['id']}", headers=headers, json={"notes": "нет"}
    )
    assert r.status_code == 503 and failures["calls"] == http.WRITE_ATTEMPTS

    failures.update(left=1, calls=0, state="23505")  # not a meeting: told at once, not retried
    r = api.client.patch(
        f"/api/v1/counterparties/{client['id']}", headers=headers, json={"notes": "нет"}
    )
    assert r.status_code != 200 and failures["calls"] == 1
