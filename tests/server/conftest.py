"""An in-process app over the parametrised database, and a way to log in to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from crm.database import Database
from server.app import create_app
from server.config import Config
from tests.conftest import PASSWORD, make_user
from tests.inprocess import InProcessClient


class Api:
    """A test client plus helpers to act as a given user from a named device."""

    def __init__(self, client: TestClient, database: Database) -> None:
        self.client = client
        self.database = database

    def login(
        self, login: str, device: str = "Ноутбук", password: str = PASSWORD
    ) -> dict[str, str]:
        r = self.client.post(
            "/api/v1/auth/login", json={"login": login, "password": password, "device_name": device}
        )
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def user(self, login: str, **kwargs: Any) -> dict[str, str]:
        """Create a user and log them in; returns their auth headers."""
        make_user(self.database, login, **kwargs)
        return self.login(login)

    def create(self, headers: dict[str, str], record_type: str, /, **data: Any) -> dict[str, Any]:
        r = self.client.post(f"/api/v1/{record_type}", json=data, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def api(config: Config, database: Database) -> Iterator[Api]:
    with InProcessClient(create_app(config, database)) as client:
        yield Api(client, database)
