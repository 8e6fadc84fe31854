"""Security headers on every answer; calendar feeds keep their caching; the server does not name itself."""

from __future__ import annotations

from pathlib import Path

import httpx

from crm.database import Database
from server.config import Config
from server.process import running_server
from tests.conftest import SQLITE_ONLY
from tests.server.conftest import Api
from tests.server.test_serve import _company_with_ivanov


def _framing_and_sniffing(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


@SQLITE_ONLY  # headers are set by middleware; no SQL decides them
def test_api_answers_are_not_sniffed_framed_or_stored(api: Api) -> None:
    h = api.user("ivanov")
    for r in (
        api.client.get("/api/v1/me", headers=h),
        api.client.get("/api/v1/me"),
        api.client.post("/api/v1/counterparties", json={"legal_name": "ООО Ромашка"}, headers=h),
    ):
        _framing_and_sniffing(r)
        assert r.headers["cache-control"] == "no-store", r.status_code


@SQLITE_ONLY  # headers are set by middleware; no SQL decides them
def test_calendar_feeds_keep_their_own_caching(api: Api) -> None:
    h = api.user("ivanov")
    url = api.client.post("/api/v1/feeds", json={"kind": "plan"}, headers=h).json()["url"]
    feed = api.client.get(url[url.index("/calendar/") :])
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    _framing_and_sniffing(feed)
    assert feed.headers["cache-control"] == "private, no-cache" and feed.headers["etag"]


def test_a_real_server_does_not_say_it_is_uvicorn(tmp_path: Path) -> None:
    with running_server(_company_with_ivanov(tmp_path), timeout=30) as base:
        r = httpx.post(
            base + "/api/v1/auth/login",
            json={"login": "ivanov", "password": "secret-123", "device_name": "Ноутбук"},
        )
        assert r.status_code == 201
        assert "server" not in r.headers
        _framing_and_sniffing(r)
        assert r.headers["cache-control"] == "no-store"


@SQLITE_ONLY  # headers are set by middleware; no SQL decides them
def test_even_a_500_carries_the_security_headers(config: Config, database: Database) -> None:
    from starlette.routing import Route

    from server.app import create_app
    from tests.inprocess import InProcessClient

    app = create_app(config, database)

    async def broken(request: object) -> None:
        raise RuntimeError("a bug, not a refusal")

    app.router.routes.append(Route("/broken", broken))
    with InProcessClient(app, raise_server_exceptions=False) as client:
        r = client.get("/broken")
    assert r.status_code == 500
    assert (
        r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    )
