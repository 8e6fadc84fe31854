"""`satchel serve` as a real process: starts, migrates, answers over TCP, logs in."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from crm import accounts
from crm.database import Database
from server import migrate
from server.process import running_server


def _company_with_ivanov(tmp_path: Path) -> str:
    """A migrated SQLite database with one user, ivanov / secret-123; its URL."""
    url = f"sqlite:///{tmp_path / 'satchel.db'}"
    database = Database(url)
    migrate.upgrade(database)
    with database.write() as session:
        accounts.create_user(
            session, login="ivanov", full_name="Иванов Иван", password="secret-123"
        )
    database.dispose()
    return url


def test_serve_runs_a_real_server(tmp_path: Path) -> None:
    url = _company_with_ivanov(tmp_path)
    with running_server(url, timeout=30) as base:
        r = httpx.post(
            base + "/api/v1/auth/login",
            json={"login": "ivanov", "password": "secret-123", "device_name": "Ноутбук"},
        )
        assert r.status_code == 201
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        created = httpx.post(
            base + "/api/v1/counterparties", headers=h, json={"legal_name": "ООО «Ромашка»"}
        )
        assert created.status_code == 201
        found = httpx.get(base + "/api/v1/counterparties", headers=h, params={"q": "РОМАШКА"})
        assert [c["legal_name"] for c in found.json()["items"]] == ["ООО «Ромашка»"]


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="did not start"),
        running_server("nosuchdb://x", timeout=20),
    ):
        pass


def test_a_forwarded_for_header_does_not_choose_the_address_a_login_is_counted_under(
    tmp_path: Path,
) -> None:
    url = _company_with_ivanov(tmp_path)
    with running_server(url, timeout=30) as base:
        for n in range(5):  # five guesses at five logins, each claiming another address
            r = httpx.post(
                base + "/api/v1/auth/login",
                headers={"X-Forwarded-For": f"192.0.2.{n + 1}"},
                json={"login": f"guess{n}", "password": "x", "device_name": "x"},
            )
            assert r.status_code == 401, r.text
        r = httpx.post(
            base + "/api/v1/auth/login",
            headers={"X-Forwarded-For": "198.51.100.7"},
            json={"login": "ivanov", "password": "secret-123", "device_name": "Ноутбук"},
        )
        assert r.status_code == 429, (
            r.text
        )  # the loopback address made five failures, whatever it claimed
