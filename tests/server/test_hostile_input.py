"""Hostile input gets a clear 4xx and changes nothing (DESIGN, security baseline), on both databases.

One table of requests, each with the answer it must get. Every case runs against
a small company and then checks that no table gained, lost or changed a row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from crm.models import metadata
from crm.records import RECORD_TYPES
from sync import protocol
from tests.server.conftest import Api

# Rows that a refused request may add: failed logins are counted, devices are seen.
_BOOKKEEPING = {"login_failure", "device"}


def _snapshot(api: Api) -> dict[str, Any]:
    """Every row of every table but the bookkeeping ones, to compare before and after."""
    state: dict[str, Any] = {}
    with api.database.read() as session:
        for table in metadata.sorted_tables:
            if table.name not in _BOOKKEEPING:
                rows = session.execute(select(table)).all()
                state[table.name] = sorted(repr(tuple(row)) for row in rows)
    return state


class World:
    """A salesperson's counterparty and deal, an admin, and the salesperson's headers."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.admin = api.user("boss", role="admin")
        self.h = api.user("ivanov")
        self.cp = api.create(self.h, "counterparties", legal_name="ООО Ромашка", inn="7707083893")[
            "id"
        ]
        self.deal = api.create(
            self.h, "deals", counterparty_id=self.cp, title="Поставка", amount="100.00"
        )["id"]

    def body(self, raw: str | bytes) -> bytes:
        return raw if isinstance(raw, bytes) else raw.replace("{cp}", self.cp).encode()


Request = Callable[[World], Any]


def _post(path: str, raw: str | bytes, headers: str = "h") -> Request:
    return lambda w: w.api.client.post(
        path,
        content=w.body(raw),
        headers={**getattr(w, headers), "Content-Type": "application/json"},
    )


def _json(method: str, path: str, data: dict[str, Any], headers: str = "h") -> Request:
    return lambda w: w.api.client.request(
        method,
        path.replace("{cp}", w.cp).replace("{deal}", w.deal),
        content=w.body(json.dumps(data)),
        headers=getattr(w, headers),
    )


def _get(path: str) -> Request:
    return lambda w: w.api.client.get(path.replace("{cp}", w.cp), headers=w.h)


def _interaction(starts_at: str, **more: Any) -> dict[str, Any]:
    return {"counterparty_id": "{cp}", "kind": "call", "starts_at": starts_at, **more}


def _deal(**more: Any) -> dict[str, Any]:
    return {"counterparty_id": "{cp}", "title": "Сделка", **more}


WORDS_800 = " ".join(f"слово{i}" for i in range(800))

CASES: dict[str, tuple[Request, int, str]] = {
    # JSON bodies that broke the parser or the database driver.
    "json nested 100k deep": (
        _post("/api/v1/counterparties", b"[" * 100_000 + b"]" * 100_000),
        400,
        "malformed_input",
    ),
    "json nested 40 deep": (
        _post("/api/v1/counterparties", b'{"notes":' + b"[" * 40 + b"]" * 40 + b"}"),
        400,
        "malformed_input",
    ),
    "5,000-digit integer": (
        _post("/api/v1/counterparties", '{"legal_name": ' + "1" * 5000 + "}"),
        400,
        "malformed_input",
    ),
    "a key given twice (which one wins is the parser's guess)": (
        _post(
            "/api/v1/counterparties",
            '{"legal_name": "ООО Первое", "owner_id": null, "legal_name": "ООО Второе"}',
        ),
        400,
        "malformed_input",
    ),
    "lone surrogate": (
        _post("/api/v1/counterparties", '{"legal_name": "\\ud800"}'),
        400,
        "malformed_input",
    ),
    "NUL in text": (
        _post("/api/v1/counterparties", '{"legal_name": "a\\u0000b"}'),
        400,
        "malformed_input",
    ),
    "NUL in a key": (
        _post("/api/v1/counterparties", '{"legal_name": "a", "x\\u0000": 1}'),
        400,
        "malformed_input",
    ),
    "NUL deep in contacts": (
        _post(
            "/api/v1/counterparties",
            '{"legal_name": "a", "contacts": [{"kind": "address", "value": "\\u0000"}]}',
        ),
        400,
        "malformed_input",
    ),
    "NaN literal": (
        _post("/api/v1/deals", '{"counterparty_id": "{cp}", "title": "t", "amount": NaN}'),
        400,
        "malformed_input",
    ),
    "amount 1e400": (
        _post("/api/v1/deals", '{"counterparty_id": "{cp}", "title": "t", "amount": 1e400}'),
        400,
        "malformed_input",
    ),
    # Headers and query parameters.
    "If-Match of 5,000 digits": (
        lambda w: w.api.client.patch(
            f"/api/v1/deals/{w.deal}", json={"title": "x"}, headers={**w.h, "If-Match": "1" * 5000}
        ),
        400,
        "malformed_input",
    ),
    "offset 2^63": (
        _get("/api/v1/counterparties?offset=9223372036854775808"),
        422,
        "validation_failed",
    ),
    "offset of 5,000 digits": (
        _get("/api/v1/counterparties?offset=" + "9" * 5000),
        400,
        "malformed_input",
    ),
    "limit 2^63": (
        _get("/api/v1/counterparties?limit=9223372036854775808"),
        422,
        "validation_failed",
    ),
    "range filter without a value": (
        _get("/api/v1/interactions?starts_at__gte="),
        422,
        "validation_failed",
    ),
    "range filter of null": (
        _get("/api/v1/interactions?starts_at__lt=null"),
        422,
        "validation_failed",
    ),
    "range filter in year 1": (
        _get("/api/v1/interactions?starts_at__gte=0001-01-01T00:00:00%2B03:00"),
        422,
        "validation_failed",
    ),
    "search of 800 words": (
        _get("/api/v1/counterparties?q=" + WORDS_800),
        422,
        "validation_failed",
    ),
    "search of 1,000 characters": (
        _get("/api/v1/contact-persons?q=" + "ж" * 1000),
        422,
        "validation_failed",
    ),
    "NUL as an id in the path": (_get("/api/v1/counterparties/%00"), 400, "malformed_input"),
    "NUL in a filter": (_get("/api/v1/counterparties?region=%00"), 400, "malformed_input"),
    # Values the databases cannot hold.
    "time in year 1 at +03:00": (
        _json("POST", "/api/v1/interactions", _interaction("0001-01-01T00:00:00+03:00")),
        422,
        "validation_failed",
    ),
    "time in year 9999 at -05:00": (
        _json("POST", "/api/v1/interactions", _interaction("9999-12-31T23:00:00-05:00")),
        422,
        "validation_failed",
    ),
    "birthday in year 1": (
        _json(
            "POST",
            "/api/v1/contact-persons",
            {"counterparty_id": "{cp}", "full_name": "Пётр", "birthday": "0001-01-01"},
        ),
        422,
        "validation_failed",
    ),
    "duration of 10^20 minutes": (
        _json(
            "POST",
            "/api/v1/interactions",
            _interaction("2026-12-01T10:00:00+03:00", duration_minutes=10**20),
        ),
        422,
        "validation_failed",
    ),
    "amount 10^20": (
        _json("POST", "/api/v1/deals", _deal(amount=10**20)),
        422,
        "validation_failed",
    ),
    "amount '1e400'": (
        _json("POST", "/api/v1/deals", _deal(amount="1e400")),
        422,
        "validation_failed",
    ),
    "amount with 18 digits": (
        _json("POST", "/api/v1/deals", _deal(amount="1234567890123456.78")),
        422,
        "validation_failed",
    ),
    "amount 0.001": (_json("POST", "/api/v1/deals", _deal(amount=0.001)), 422, "validation_failed"),
    "closed volume 10^13": (
        _json("PATCH", "/api/v1/deals/{deal}", {"closed_volume": "10000000000000"}),
        422,
        "validation_failed",
    ),
    "currency XYZ": (
        _json("POST", "/api/v1/deals", _deal(currency="XYZ")),
        422,
        "validation_failed",
    ),
    # Unique values.
    "login differing only in case": (
        _json(
            "POST", "/api/v1/users", {"login": "IVANOV", "full_name": "Двойник"}, headers="admin"
        ),
        409,
        "already_exists",
    ),
    "team name taken": (
        _json("POST", "/api/v1/teams", {"name": "Москва"}, headers="admin"),
        409,
        "already_exists",
    ),
    # Who asks comes before what they send.
    "malformed body without a token": (
        lambda w: w.api.client.post("/api/v1/counterparties", content=b"{bad"),
        401,
        "unauthenticated",
    ),
    "deep body with a wrong token": (
        lambda w: w.api.client.post(
            "/api/v1/counterparties",
            content=b"[" * 100_000,
            headers={"Authorization": "Bearer nope"},
        ),
        401,
        "unauthenticated",
    ),
    # A client newer than the server.
    "sync schema 999": (
        lambda w: w.api.client.post(
            "/sync/v1/push",
            json={"mutations": []},
            headers={
                **w.h,
                protocol.PROTOCOL_HEADER: str(protocol.PROTOCOL),
                protocol.SCHEMA_HEADER: "999",
            },
        ),
        400,
        "server_too_old",
    ),
    "sync protocol 999": (
        lambda w: w.api.client.post(
            "/sync/v1/pull",
            json={"cursor": 0},
            headers={
                **w.h,
                protocol.PROTOCOL_HEADER: "999",
                protocol.SCHEMA_HEADER: str(protocol.SCHEMA),
            },
        ),
        400,
        "server_too_old",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_request_gets_a_clear_4xx_and_changes_nothing(api: Api, case: str) -> None:
    world = World(api)
    before = _snapshot(api)
    send, status, error = CASES[case]
    r = send(world)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["message"], body
    assert _snapshot(api) == before


@pytest.mark.parametrize("name", list(RECORD_TYPES))
def test_every_filter_takes_empty_and_null_values(api: Api, name: str) -> None:
    """``?f=`` and ``?f=null`` ask for records without a value; a range needs one."""
    h = api.user("ivanov")
    for field in RECORD_TYPES[name].filters:
        for raw in ("", "null"):
            r = api.client.get(f"/api/v1/{name}", params={field: raw}, headers=h)
            assert r.status_code == 200, (field, raw, r.text)
            r = api.client.get(f"/api/v1/{name}", params={f"{field}__gte": raw}, headers=h)
            assert r.status_code == 422 and f"{field}__gte" in r.json()["details"], (
                field,
                raw,
                r.text,
            )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1250000.50", "1250000.50"),
        (1250000.5, "1250000.50"),
        ("9999999999999.99", "9999999999999.99"),
        (0.01, "0.01"),
        ("1E+2", "100.00"),
        (0, "0.00"),
    ],
)
def test_money_reads_back_exactly_as_accepted(api: Api, sent: Any, stored: str) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", legal_name="ООО Ромашка")["id"]
    r = api.client.post(
        "/api/v1/deals",
        json={"counterparty_id": cp, "title": "t", "closed_volume": sent, "currency": "usd"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["closed_volume"] == stored and r.json()["currency"] == "USD"
    assert (
        api.client.get(f"/api/v1/deals/{r.json()['id']}", headers=h).json()["closed_volume"]
        == stored
    )
    with api.database.read() as session:
        raw = session.execute(text("SELECT closed_volume FROM deal")).scalar_one()
    assert f"{raw:.2f}" == stored


def test_a_search_of_twenty_words_is_answered(api: Api) -> None:
    h = api.user("ivanov")
    api.create(h, "counterparties", legal_name="ООО Ромашка")
    words = " ".join(["ромашка"] + [f"о{i}" for i in range(19)])
    r = api.client.get("/api/v1/counterparties", params={"q": words}, headers=h)
    assert r.status_code == 200 and r.json()["total"] == 0
    with api.database.read() as session:
        assert (
            session.execute(
                select(func.count()).select_from(metadata.tables["counterparty"])
            ).scalar_one()
            == 1
        )


def test_a_team_name_differing_only_in_case_is_a_conflict_not_a_second_team(api: Api) -> None:
    admin = api.user("admin", role="admin", team=None)
    assert (
        api.client.post("/api/v1/teams", json={"name": "Казань"}, headers=admin).status_code == 201
    )
    for name in ("казань", "КАЗАНЬ", " Казань "):
        r = api.client.post("/api/v1/teams", json={"name": name}, headers=admin)
        assert r.status_code == 409 and r.json()["error"] == "already_exists", r.text
    teams = api.client.get("/api/v1/teams", headers=admin).json()["items"]
    assert [t["name"] for t in teams] == ["Казань"]
