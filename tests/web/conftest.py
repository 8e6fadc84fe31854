"""The web UI in-process over the parametrised database, and a browser-like client to drive it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from starlette.testclient import TestClient

from crm import records
from crm.database import Database
from crm.models import User
from server.app import create_app
from server.config import Config
from server.web_home import TIMEZONE
from tests.conftest import PASSWORD, make_user
from tests.inprocess import InProcessClient
from web import session

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Web:
    """A test client that behaves like one browser: cookies kept, forms sent with their token."""

    def __init__(self, client: TestClient, database: Database) -> None:
        self.client = client
        self.database = database

    def sign_in(
        self, login: str, password: str = PASSWORD, lang: str | None = None
    ) -> httpx.Response:
        query = f"?lang={lang}" if lang else ""
        page = self.client.get("/signin" + query)
        return self.client.post(
            "/signin" + query,
            data={"login": login, "password": password, "csrf": csrf_in(page.text), "next": "/"},
            follow_redirects=False,
        )

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.client.cookies[session.COOKIE])

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return self.client.post(
            path, data={"csrf": self.csrf, **data}, follow_redirects=False, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)


@pytest.fixture
def web(config: Config, database: Database) -> Iterator[Web]:
    with InProcessClient(create_app(config, database)) as client:
        yield Web(client, database)


def user(database: Database, login: str, **kwargs: Any) -> User:
    return make_user(database, login, **kwargs)


def create(database: Database, actor: User, type_name: str, /, **data: Any) -> Any:
    with database.write() as db:
        return records.create(db, db.get_one(User, actor.id), records.record_type(type_name), data)


def read(database: Database, model: type[Any], record_id: str) -> Any:
    with database.read() as db:
        return db.get(model, record_id)


def home_today() -> date:
    """Today where the server's screens reckon it (``server.web_home.TIMEZONE``): between 21:00 and
    midnight UTC it is already tomorrow in Moscow, and a test that took UTC's day failed then."""
    return datetime.now(ZoneInfo(TIMEZONE)).date()
