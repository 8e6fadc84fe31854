"""The gate before a request's body (``server.http.TokenGate``): a token found good a moment ago
passes without a lookup, and a token revoked or a user disabled since never gains by it.

Attacks, on both databases: a laptop that synced a second ago is revoked (or its user disabled)
and sends at once everything that would be answered before the request's own transaction — a
malformed push, an old protocol, an oversized body, a write to a read-only type, a well-formed
push — and gets 401 for each, with nothing written. A token nobody checked never passes the gate.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from crm import accounts, changes, substitutes
from crm.models import Counterparty
from sync import protocol
from tests.inprocess import InProcessClient
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create


def _written(api: Api) -> tuple[int, int]:
    with api.database.read() as session:
        return (
            changes.current(session)[0],
            session.execute(select(func.count()).select_from(Counterparty)).scalar_one(),
        )


def _attempts(laptop: Laptop) -> list[tuple[str, Any]]:
    """What a laptop may send; each would be answered before the request's transaction."""
    headers = laptop.headers
    client = laptop.api.client
    old = {**headers, protocol.PROTOCOL_HEADER: "0"}
    sent: list[tuple[str, Any]] = [
        (
            "malformed push",
            client.post("/sync/v1/push", content=b"{not json", headers=headers),
        ),
        (
            "push of a wrong shape",
            client.post("/sync/v1/push", json={"mutations": "all of them"}, headers=headers),
        ),
        (
            "oversized body",
            client.post(
                "/api/v1/counterparties",
                content=json.dumps({"legal_name": "x" * 2_000_000}).encode(),
                headers={**headers, "content-type": "application/json"},
            ),
        ),
        ("write to a read-only type", client.post("/api/v1/sales", json={}, headers=headers)),
        (
            "well-formed push",
            client.post(
                "/sync/v1/push",
                json={
                    "device_id": laptop.device_id,
                    "mutations": [
                        {
                            "seq": laptop.seq + 1,
                            "client_time": "2026-11-20T10:00:00Z",
                            **_create(legal_name="ООО После отзыва"),
                        }
                    ],
                },
                headers=headers,
            ),
        ),
        (
            "record by REST",
            client.post(
                "/api/v1/counterparties", json={"legal_name": "ООО Лютик"}, headers=headers
            ),
        ),
        ("pull", client.post("/sync/v1/pull", json={"cursor": None}, headers=headers)),
    ]
    sent.append(("old protocol", client.post("/sync/v1/pull", json={}, headers=old)))
    return sent


@pytest.mark.parametrize("how", ["revoked", "disabled"])
def test_a_token_revoked_a_moment_after_it_passed_gains_nothing_from_the_gate(
    api: Api, how: str
) -> None:
    api.user("ivanov")
    laptop = Laptop(api, "ivanov")
    laptop.push(_create(legal_name="ООО Ромашка"))  # the gate now knows the token
    laptop.pull()
    with api.database.write() as session:
        if how == "revoked":
            accounts.revoke_device(session, None, laptop.device_id)
        else:
            accounts.set_active(session, accounts.find_user(session, "ivanov"), False)
    before = _written(api)
    for name, answer in _attempts(laptop):
        assert answer.status_code == 401, (name, answer.status_code, answer.text[:300])
        assert answer.json()["error"] == "unauthenticated", name
    assert _written(api) == before


def test_the_gate_spares_the_lookup_and_never_lets_a_stranger_through(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.user("ivanov")
    laptop = Laptop(api, "ivanov")
    lookups: list[str] = []
    real = accounts.authenticate
    monkeypatch.setattr(
        accounts, "authenticate", lambda s, token: lookups.append(token) or real(s, token)
    )
    for _ in range(3):
        laptop.push(_create(legal_name="ООО Ромашка"))
    # The first push looked the token up at the gate; the others passed it on memory, and each
    # was checked in its own transaction (by the device's key, ``authenticate_device``).
    assert len(lookups) == 1
    stranger = {**laptop.headers, "Authorization": "Bearer " + "x" * 43}
    for _ in range(2):
        r = api.client.post("/sync/v1/push", content=b"{not json", headers=stranger)
        assert r.status_code == 401, r.text
    assert len(lookups) == 3  # a token that failed is asked about every time


@pytest.mark.parametrize("failure", ["database", "bug"])
def test_a_revoked_token_meeting_a_failure_before_its_transaction_still_gets_401(
    api: Api, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """The day's cover sweep runs before a pull's transaction; if it fails (the database, or a bug),
    a token that only passed the gate is checked before the failure is answered."""
    api.user("ivanov")
    laptop = Laptop(api, "ivanov")
    laptop.pull()
    with api.database.write() as session:
        accounts.revoke_device(session, None, laptop.device_id)

    def sweep(_database: Any) -> None:
        if failure == "database":
            raise OperationalError("UPDATE absence", {}, Exception("server closed the connection"))
        raise RuntimeError("a bug in the sweep")

    monkeypatch.setattr(substitutes, "due", lambda: True)
    monkeypatch.setattr(substitutes, "sweep_if_due", sweep)
    with InProcessClient(api.client.app, raise_server_exceptions=False) as client:
        r = client.post("/sync/v1/pull", json={"cursor": None}, headers=laptop.headers)
    assert r.status_code == 401, r.text
