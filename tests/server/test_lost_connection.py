"""A PostgreSQL connection lost while pooled: replaced unseen after a pause, else 503 and try again."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import crm.database
from tests.conftest import _pg_admin_engine
from tests.server.conftest import Api

POSTGRESQL_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _cut_the_pool(api: Api) -> int:
    """End every server-side connection of the test's database, as a restart of PostgreSQL would."""
    name = make_url(api.database.url).database
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).all()
            )
    finally:
        admin.dispose()


def _used_then_cut(api: Api, monkeypatch: pytest.MonkeyPatch, idle: float) -> dict[str, str]:
    """A user who has just read (the pool holds a connection), then every connection cut, with
    ``idle`` seconds as the pause after which a pooled connection is pinged."""
    headers = api.user("ivanov")
    assert api.client.get("/api/v1/counterparties", headers=headers).status_code == 200
    monkeypatch.setattr(crm.database, "PING_AFTER_IDLE", idle)
    assert _cut_the_pool(api) >= 1
    return headers


@POSTGRESQL_ONLY
def test_a_connection_lost_while_idle_is_replaced_before_it_is_lent(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = api.user("ivanov")
    assert api.client.get("/api/v1/counterparties", headers=headers).status_code == 200
    monkeypatch.setattr(
        crm.database, "PING_AFTER_IDLE", 0.0
    )  # every pooled connection counts as idle
    assert _cut_the_pool(api) >= 1
    for _ in range(3):  # every connection the pool held is found dead and replaced
        r = api.client.post(
            "/api/v1/counterparties", json={"legal_name": "ООО Живое"}, headers=headers
        )
        assert r.status_code == 201, r.text


@POSTGRESQL_ONLY
def test_a_connection_lost_just_after_use_answers_503_and_the_next_request_works(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = _used_then_cut(api, monkeypatch, 3600.0)  # never pinged: used a moment ago
    r = api.client.post(
        "/api/v1/counterparties", json={"legal_name": "ООО Потерянное"}, headers=headers
    )
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "1" and "try again" in r.json()["message"]
    # The pool let go of every connection of before: the retry gets a new one, and lands once.
    r = api.client.post(
        "/api/v1/counterparties", json={"legal_name": "ООО Потерянное"}, headers=headers
    )
    assert r.status_code == 201, r.text
    listed = api.client.get("/api/v1/counterparties", headers=headers).json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert [c["legal_name"] for c in items].count("ООО Потерянное") == 1
