"""`satchel serve` as a real process: starts, migrates, answers over TCP, logs in."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from crm import accounts
from crm.database import Database
from server import migrate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_a_real_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'satchel.db'}"
    database = Database(url)
    migrate.upgrade(database)
    with database.write() as session:
        accounts.create_user(session, login="ivanov", full_name="Иванов Иван", password="secret-123")
    database.dispose()
    port = _free_port()
    env = {**os.environ, "SATCHEL_DATABASE_URL": url, "SATCHEL_PORT": str(port), "SATCHEL_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "server did not answer within 30 s"
            time.sleep(0.2)
        r = httpx.post(base + "/api/v1/auth/login",
                       json={"login": "ivanov", "password": "secret-123", "device_name": "Ноутбук"})
        assert r.status_code == 201
        h = {"Authorization": f"Bearer {r.json()['token']}"}
        created = httpx.post(base + "/api/v1/counterparties", headers=h, json={"legal_name": "ООО «Ромашка»"})
        assert created.status_code == 201
        found = httpx.get(base + "/api/v1/counterparties", headers=h, params={"q": "РОМАШКА"})
        assert [c["legal_name"] for c in found.json()["items"]] == ["ООО «Ромашка»"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
