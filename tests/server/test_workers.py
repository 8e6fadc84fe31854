"""``satchel serve --workers N``: several server processes on one PostgreSQL, each stateless.

Two real processes behind one socket (uvicorn's supervisor): the login limit counts failures
made through either, a token issued by one is honoured by the other, a push repeated on a new
connection is answered from the first's result, and a process killed (SIGKILL) is replaced while
the other keeps answering. SQLite, written by one process, refuses more than one.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from crm.database import Database
from server.commands import app
from server.process import ServerProcess
from sync import protocol
from tests.conftest import make_user

PASSWORD = "correct-horse-42"


def _children(pid: int) -> set[int]:
    """The server processes under the supervisor ``pid`` (not multiprocessing's resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            if b"spawn_main" in command:
                found.add(int(child))
    return found


def _fresh(base_url: str) -> httpx.Client:
    """A client on a connection of its own, so the kernel may hand it to either process."""
    return httpx.Client(base_url=base_url, timeout=30, headers={"Connection": "close"})


def test_sqlite_refuses_more_than_one_process(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--workers", "2", "--port", "0"],
        env={"SATCHEL_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}"},
    )
    assert result.exit_code == 2
    assert "need PostgreSQL" in result.output
    assert not (tmp_path / "one.db").exists()  # refused before anything was opened


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_processes_share_limits_tokens_and_pushes(database: Database) -> None:
    make_user(database, "ivanov")
    # Two failed logins reach the limit: each is a real Argon2 round in the server process.
    server = ServerProcess(
        database.url, settings={"SATCHEL_WORKERS": "2", "SATCHEL_LOGIN_MAX_FAILURES": "2"}
    )
    server.start()
    try:
        assert server.proc is not None
        assert len(_children(server.proc.pid)) == 2

        # A token from a login through one connection works on every other.
        with _fresh(server.base_url) as client:
            r = client.post(
                "/api/v1/auth/login",
                json={"login": "ivanov", "password": PASSWORD, "device_name": "Ноутбук"},
            )
            assert r.status_code == 201, r.text
            token = {"Authorization": f"Bearer {r.json()['token']}"}
            device = r.json()["device"]["id"]
        for _ in range(6):
            with _fresh(server.base_url) as client:
                assert client.get("/api/v1/me", headers=token).status_code == 200

        # A push sent again on another connection (the answer was lost) is applied once.
        made = str(uuid.uuid4())
        push = {
            "device_id": device,
            "mutations": [
                {
                    "seq": 1,
                    "op": "create",
                    "type": "counterparties",
                    "id": made,
                    "fields": {"legal_name": "ООО Два процесса"},
                    "client_time": "2026-12-01T09:00:00Z",
                }
            ],
        }
        answers = []
        for _ in range(3):
            with _fresh(server.base_url) as client:
                answers.append(
                    client.post("/sync/v1/push", json=push, headers={**token, **protocol.headers()})
                )
        assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
        assert answers[0].json() == answers[1].json() == answers[2].json()
        with _fresh(server.base_url) as client:
            found = client.get("/api/v1/counterparties", headers=token).json()["items"]
        assert [c["id"] for c in found] == [made]

        # Failed logins through any process count against one limit.
        for _ in range(2):
            with _fresh(server.base_url) as client:
                wrong = {"login": "ivanov", "password": "wrong-pass", "device_name": "x"}
                assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
        with _fresh(server.base_url) as client:
            right = {"login": "ivanov", "password": PASSWORD, "device_name": "x"}
            assert client.post("/api/v1/auth/login", json=right).status_code == 429

        # One process killed: the other answers, and the supervisor starts a replacement.
        before = _children(server.proc.pid)
        killed = min(before)
        os.kill(killed, signal.SIGKILL)
        with _fresh(server.base_url) as client:
            assert client.get("/api/v1/me", headers=token).status_code == 200
        deadline = time.monotonic() + 30
        while True:
            now = _children(server.proc.pid)
            if len(now) == 2 and killed not in now:
                break
            assert time.monotonic() < deadline, f"no replacement for {killed}: {now}"
            time.sleep(0.2)
        for _ in range(4):
            with _fresh(server.base_url) as client:
                assert client.get("/api/v1/me", headers=token).status_code == 200
    finally:
        server.stop()
