"""``satchel-field ui`` in-process: the laptop's screens over a real (encrypted) replica, synced
against the real server app, on both server databases.

Checked as the salesperson (edits offline land in the outbox and reach the server after "sync
now"; the quarantine and conflicts are worked from the screens) and as an attacker (a spent or
wrong launch token, another Host, a form without its CSRF token: refused, nothing changed).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from clients.background import BackgroundSync
from clients.web_home import LaptopHome, create_app, launch_url
from crm.database import Database
from server.app import create_app as create_server
from server.config import Config
from sync.agent import SyncAgent
from sync.replica import Replica
from tests.conftest import PASSWORD, make_user
from web import session

PORT = 8471
ORIGIN = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def server(config: Config, database: Database) -> Iterator[TestClient]:
    with TestClient(create_server(config, database)) as client:
        yield client


def unplugged() -> httpx.Client:
    """A client whose every request fails as with the network cable out."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route to host", request=request)

    return httpx.Client(base_url="http://satchel.invalid", transport=httpx.MockTransport(refuse))


@dataclass
class Laptop:
    replica: Replica
    background: BackgroundSync
    home: LaptopHome
    ui: TestClient

    def launch(self) -> httpx.Response:
        token = launch_url(self.home, PORT).split("token=", 1)[1]
        return self.ui.get(f"/launch?token={token}", follow_redirects=False)

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.ui.cookies[session.COOKIE])

    def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return self.ui.post(path, data={"csrf": self.csrf, **data}, follow_redirects=False)

    def pending(self) -> list[dict[str, Any]]:
        return self.replica.pending()


@pytest.fixture
def laptops(server: TestClient, tmp_path: Path) -> Iterator[Any]:
    made: list[Laptop] = []

    def make(login: str) -> Laptop:
        replica = Replica.open(tmp_path / f"{login}.db", key=os.urandom(32))
        SyncAgent(replica, server).login("http://testserver", login, PASSWORD, "Ноутбук")
        background = BackgroundSync(replica, server, every=3600)
        background.run_once()
        home = LaptopHome(replica, background, timezone="Europe/Moscow")
        laptop = Laptop(replica, background, home, TestClient(create_app(home, PORT), base_url=ORIGIN))
        made.append(laptop)
        return laptop

    yield make
    for laptop in made:
        laptop.background.stop()
        laptop.replica.close()


def rest(server: TestClient, login: str) -> dict[str, str]:
    r = server.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD, "device_name": "web"})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def on_server(server: TestClient, headers: dict[str, str], type_name: str, record_id: str) -> dict[str, Any]:
    r = server.get(f"/api/v1/{type_name}/{record_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def card(server: TestClient, headers: dict[str, str], **data: Any) -> dict[str, Any]:
    r = server.post("/api/v1/counterparties", headers=headers, json={"legal_name": "ООО «Ромашка»", **data})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


EDIT = {"legal_name": "ООО «Ромашка»", "stage": "lead", "visibility": "private"}


def test_the_launch_token_lets_the_browser_in_once(database: Database, laptops: Any) -> None:
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    # Without the launch token every page sends to the page that says how to open Satchel.
    r = laptop.ui.get("/", follow_redirects=True)
    assert "satchel-field ui" in r.text and 'name="password"' not in r.text
    token = launch_url(laptop.home, PORT).split("token=", 1)[1]
    r = laptop.ui.get(f"/launch?token={token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = laptop.ui.get("/")
    assert page.status_code == 200 and "Мой день" in page.text
    assert "Не отправлено: 0" in page.text and 'href="/sync"' in page.text  # the status on every screen

    # The same link a second time (another local user, a browser history): refused, no cookie.
    stranger = TestClient(create_app(laptop.home, PORT), base_url=ORIGIN)
    again = stranger.get(f"/launch?token={token}", follow_redirects=False)
    assert again.status_code == 403 and "satchel-field ui" in again.text
    assert session.COOKIE not in stranger.cookies
    assert stranger.get("/launch?token=guess", follow_redirects=False).status_code == 403
    stranger.cookies.set(session.COOKIE, "forged")
    assert stranger.get("/", follow_redirects=False).status_code == 303  # to the "open Satchel" page
    # No password sign-in either: the form is not there and a posted password opens nothing.
    assert stranger.post("/signin", data={"login": "ivanov", "password": PASSWORD},
                         follow_redirects=False).status_code in (401, 403)

    # Signing out ends that session at once.
    assert laptop.post("/signout", {}).status_code == 303
    assert laptop.ui.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:9999", "127.0.0.1"])
def test_another_host_is_refused(database: Database, laptops: Any, host: str) -> None:
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    cookie = f"{session.COOKIE}={laptop.ui.cookies[session.COOKIE]}"
    # A page rebound to 127.0.0.1 under its own name: the browser sends that name, and the cookie too.
    r = laptop.ui.get("/", headers={"Host": host, "Cookie": cookie})
    assert r.status_code == 400 and "Мой день" not in r.text
    assert laptop.ui.get("/", headers={"Host": f"localhost:{PORT}", "Cookie": cookie}).status_code == 200


def test_a_form_without_its_token_changes_nothing(database: Database, server: TestClient, laptops: Any) -> None:
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    for extra in ({}, {"csrf": "wrong"}):
        r = laptop.ui.post(f"/counterparties/{cp['id']}/edit", data={**EDIT, "notes": "взлом", **extra},
                           follow_redirects=False)
        assert r.status_code == 403
    r = laptop.ui.post(f"/counterparties/{cp['id']}/edit", data={**EDIT, "notes": "взлом", "csrf": laptop.csrf},
                       headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    assert laptop.ui.post("/sync/now", data={}, follow_redirects=False).status_code == 403
    assert laptop.pending() == [] and laptop.replica.get("counterparties", cp["id"])["notes"] is None
    assert server.get("/sync").status_code == 404  # the server's UI has no Sync screen


def test_an_edit_made_offline_reaches_the_server_after_sync_now(database: Database, server: TestClient,
                                                              laptops: Any) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    cp = card(server, office)
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    laptop.background.http = unplugged()
    laptop.background.start()
    assert laptop.background.wait(2, 30)  # the first sync at start: offline
    page = laptop.ui.get("/")
    assert page.status_code == 200 and "Нет связи" in page.text  # offline is a state, not an error page

    r = laptop.post(f"/counterparties/{cp['id']}/edit", {**EDIT, "notes": "записал в поезде", "version": "1"})
    assert r.status_code == 303, r.text
    r = laptop.post(f"/counterparties/{cp['id']}/interactions",
                    {"kind": "call", "direction": "outgoing", "status": "done", "starts_at": "2026-12-01T10:00",
                     "subject": "Звонок по счёту", "next_at": "2026-12-03T11:00", "next_kind": "meeting",
                     "next_subject": "Встреча в офисе"})
    assert r.status_code == 303, r.text
    queued = laptop.pending()
    assert [(m["op"], m["type"]) for m in queued] == [
        ("update", "counterparties"), ("create", "interactions"), ("create", "interactions")]
    assert queued[0]["fields"] == {"notes": "записал в поезде"}
    assert "Не отправлено: 3" in laptop.ui.get(f"/counterparties/{cp['id']}").text
    assert on_server(server, office, "counterparties", cp["id"])["notes"] is None

    # The network is back; "sync now" answers at once and the sync runs behind it.
    laptop.background.http = server
    r = laptop.post("/sync/now", {})
    assert r.status_code == 303 and r.headers["location"] == "/sync"
    assert laptop.background.wait(3, 60)
    assert laptop.pending() == []
    assert on_server(server, office, "counterparties", cp["id"])["notes"] == "записал в поезде"
    found = server.get("/api/v1/interactions", params={"counterparty_id": cp["id"]}, headers=office).json()
    assert sorted(i["subject"] for i in found["items"]) == ["Встреча в офисе", "Звонок по счёту"]
    status = laptop.ui.get("/sync").text
    assert 'id="sync-online">На связи' in status and 'id="sync-pending">0' in status


def test_an_invalid_inn_is_shown_beside_the_field_and_queues_nothing(database: Database, server: TestClient,
                                                                    laptops: Any) -> None:
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    r = laptop.post(f"/counterparties/{cp['id']}/edit", {**EDIT, "inn": "7707083894", "version": "1"})
    assert r.status_code == 422
    found = re.search(r'<span class="field-error" id="f-inn-error">([^<]*)</span>', r.text)
    assert found and found.group(1) == "Неверная контрольная цифра ИНН (ожидалась 3, указана 4)"
    assert 'id="f-inn" name="inn" value="7707083894" aria-invalid="true"' in r.text
    assert laptop.pending() == [] and laptop.replica.get("counterparties", cp["id"])["inn"] is None


def test_the_quarantine_is_listed_with_the_servers_reason_retried_and_dropped(
        database: Database, server: TestClient, laptops: Any) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    owner = rest(server, "ivanov")
    cp = card(server, owner, visibility="team")
    laptop: Laptop = laptops("petrov")
    laptop.launch()
    r = laptop.post(f"/counterparties/{cp['id']}/edit", {**EDIT, "visibility": "team", "notes": "моя заметка"})
    assert r.status_code == 303, r.text
    # Meanwhile the owner makes the card private: Petrov's edit is refused and the card evicted.
    server.patch(f"/api/v1/counterparties/{cp['id']}", headers=owner, json={"visibility": "private"})
    laptop.background.run_once()
    [item] = laptop.replica.quarantine()
    page = laptop.ui.get("/sync").text
    assert f'id="quarantine-{item["id"]}"' in page and "моя заметка" in page
    assert re.search(rf'id="quarantine-{item["id"]}-reason">Причина сервера: [^<]*not found', page)
    assert "Карантин: 1" in laptop.ui.get("/").text

    # Without the token neither button does anything.
    for action in ("retry", "drop"):
        r = laptop.ui.post(f"/sync/quarantine/{item['id']}/{action}", data={}, follow_redirects=False)
        assert r.status_code == 403
    assert len(laptop.replica.quarantine()) == 1 and laptop.pending() == []

    r = laptop.post(f"/sync/quarantine/{item['id']}/retry", {})
    assert r.status_code == 303 and r.headers["location"] == "/sync#quarantine"
    assert laptop.replica.quarantine() == [] and [m["fields"] for m in laptop.pending()] == [
        {"notes": "моя заметка"}]
    laptop.background.run_once()  # still not his to see: refused again, kept again
    [again] = laptop.replica.quarantine()
    assert laptop.post(f"/sync/quarantine/{again['id']}/drop", {}).status_code == 303
    assert laptop.replica.quarantine() == [] and laptop.pending() == []
    assert 'id="quarantine-empty"' in laptop.ui.get("/sync").text
    assert laptop.post(f"/sync/quarantine/{again['id']}/drop", {}).status_code == 404
    assert laptop.post("/sync/quarantine/x1/retry", {}).status_code == 404
    assert on_server(server, owner, "counterparties", cp["id"])["notes"] is None


def test_a_conflict_resolved_in_the_ui_is_queued_and_settles_on_the_server(
        database: Database, server: TestClient, laptops: Any) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    owner = rest(server, "ivanov")
    cp = card(server, owner, visibility="team")
    a: Laptop = laptops("ivanov")
    b: Laptop = laptops("petrov")
    a.replica.update("counterparties", cp["id"], {"notes": "от Иванова"})
    b.replica.update("counterparties", cp["id"], {"notes": "от Петрова"})
    a.background.run_once()
    b.background.run_once()
    [conflict] = b.replica.conflicts()
    b.launch()
    page = b.ui.get("/conflicts").text
    assert "от Иванова" in page and "от Петрова" in page and "Конфликты: 1" in page

    r = b.post(f"/conflicts/{conflict['id']}/resolve", {"choice": "mine"})
    assert r.status_code == 303, r.text
    [queued] = b.pending()
    assert (queued["op"], queued["conflict_id"], queued["choice"]) == ("resolve", conflict["id"], "mine")
    assert b.replica.get("counterparties", cp["id"])["notes"] == "от Петрова"  # shown at once, offline
    assert 'id="no-conflicts"' in b.ui.get("/conflicts").text  # settled here, waiting for the sync
    assert b.post(f"/conflicts/{conflict['id']}/resolve", {"choice": "theirs"}).status_code == 409
    assert len(b.pending()) == 1

    b.background.run_once()
    assert b.replica.conflicts() == [] and b.pending() == []
    assert on_server(server, owner, "counterparties", cp["id"])["notes"] == "от Петрова"


def test_screens_and_the_sync_thread_write_the_replica_together_without_waiting(
        database: Database, server: TestClient, laptops: Any) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    cp = card(server, office)
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    stop = threading.Event()

    def keep_syncing() -> None:
        while not stop.is_set():
            laptop.background.run_once()

    syncing = threading.Thread(target=keep_syncing)
    syncing.start()
    try:
        for n in range(6):
            r = laptop.post(f"/counterparties/{cp['id']}/interactions",
                            {"kind": "call", "direction": "outgoing", "status": "done",
                             "starts_at": "2026-12-01T10:00", "subject": f"Звонок {n}"})
            assert r.status_code == 303, r.text
    finally:
        stop.set()
        syncing.join(60)
    laptop.background.run_once()
    assert laptop.pending() == [] and laptop.background.now.last_error is None
    found = server.get("/api/v1/interactions", params={"counterparty_id": cp["id"]}, headers=office).json()
    assert sorted(i["subject"] for i in found["items"]) == [f"Звонок {n}" for n in range(6)]


def test_the_ui_command_serves_on_loopback_with_a_one_time_link(config: Config, database: Database,
                                                                tmp_path: Path) -> None:
    from tests.clients.test_cli import PASSPHRASE, LiveServer, field

    make_user(database, "ivanov")
    live = LiveServer(config, database)
    command: subprocess.Popen[str] | None = None
    try:
        home = tmp_path / "field"
        assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
        env = {**os.environ, "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE, "SATCHEL_FIELD_HOME": str(home)}
        command = subprocess.Popen([sys.executable, "-m", "clients.cli", "ui", "--no-open", "--sync-minutes", "1"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert command.stdout is not None
        line = ""
        deadline = time.monotonic() + 60
        while "/launch?token=" not in line:
            assert time.monotonic() < deadline and command.poll() is None, line
            line = command.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/launch\?token=[\w-]+", line)
        assert url, line
        port = int(url.group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            r = browser.get(url.group(0))
            assert r.status_code == 303 and "server" not in r.headers
            page = browser.get("/")
            assert page.status_code == 200 and "Мой день" in page.text
            assert browser.get(url.group(0)).status_code == 403  # the link works once
            assert browser.get("/", headers={"Host": f"rebound.example:{port}"}).status_code == 400
        # Bound to 127.0.0.1 alone: a listener on every address would answer 127.0.0.2 too (and the LAN).
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex(("127.0.0.2", port)) != 0
    finally:
        if command is not None:
            command.send_signal(signal.SIGINT)
            command.wait(30)
        live.stop()


def test_sync_now_answers_at_once_while_the_network_hangs(database: Database, server: TestClient,
                                                         laptops: Any) -> None:
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    gate = threading.Event()

    def hang(request: httpx.Request) -> httpx.Response:
        gate.wait(60)  # a captive hotel Wi-Fi: the connection neither works nor fails
        raise httpx.ConnectError("timed out", request=request)

    laptop.background.http = httpx.Client(base_url="http://satchel.invalid", transport=httpx.MockTransport(hang))
    laptop.background.start()
    try:
        deadline = time.monotonic() + 30
        while not laptop.background.now.running:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        assert laptop.post("/sync/now", {}).status_code == 303
        page = laptop.ui.get("/sync").text
        assert 'id="sync-running">Синхронизация…' in page and '<meta http-equiv="refresh" content="2">' in page
        r = laptop.post(f"/counterparties/{cp['id']}/edit", {**EDIT, "notes": "пока сеть висит", "version": "1"})
        assert r.status_code == 303 and len(laptop.pending()) == 1
        assert time.monotonic() - started < 10  # nothing above waited for the network
    finally:
        gate.set()
    assert laptop.background.wait(3, 30)  # the hung sync, then the one "sync now" asked for
    page = laptop.ui.get("/sync").text
    assert 'http-equiv="refresh"' not in page and 'id="sync-running">Ожидание' in page
    assert "Нет связи" in page and 'id="sync-pending">1' in page
