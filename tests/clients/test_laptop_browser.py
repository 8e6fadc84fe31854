"""The salesperson's day in a real Chromium on ``satchel-field ui``, with the server stopped.

The laptop UI is served by uvicorn on 127.0.0.1 over an encrypted replica, as
``satchel-field ui`` serves it, under its secret prefix ``/u/<secret>/``; the server
is a real one on another port, stopped and started again. Another local user's
listener on a third port checks what the browser sends it: never the laptop's
cookie. Chromium as in tests/web/test_browser.py (skipped with the reason
without it, a failure under ``CI=true``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import HTMLResponse

from clients.agent import SyncAgent
from clients.background import BackgroundSync
from clients.replica import Replica
from clients.web_home import LaptopHome, create_app, launch_url
from crm.database import Database
from server.config import Config
from tests.clients.test_cli import LiveServer
from tests.clients.test_laptop_ui import laptops, server  # noqa: F401 - the fixtures
from tests.conftest import PASSWORD, SQLITE_ONLY, make_user
from tests.web.test_browser import browser, playwright  # noqa: F401 - the fixtures

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture(scope="module")
def chromium(browser: Any) -> Any:  # noqa: F811 - the imported fixture, by name
    """The web UI tests' Chromium (skips with the reason, fails under CI=true, where it is missing)."""
    return browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """An ASGI app on a loopback port in a thread, as uvicorn serves it."""

    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                server_header=False,
                lifespan="off",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


class Listener:
    """Another local user's program on 127.0.0.1: it keeps every cookie a browser sends it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        self.received.append((request.url.path, dict(request.cookies)))
        await HTMLResponse("<!doctype html><title>hello</title><p>hello</p>")(scope, receive, send)


class LaptopUI:
    """``satchel-field ui`` without the terminal: the replica's UI on a loopback port."""

    def __init__(self, replica: Replica, server_url: str) -> None:
        self.port = _free_port()
        self.http = httpx.Client(base_url=server_url, timeout=httpx.Timeout(30.0, connect=5.0))
        self.background = BackgroundSync(replica, self.http, every=3600)
        self.home = LaptopHome(replica, self.background, timezone="Europe/Moscow")
        self.served = Serve(create_app(self.home, self.port), self.port)
        self.background.start()

    def stop(self) -> None:
        self.background.stop()
        self.served.stop()
        self.http.close()


def test_a_salespersons_day_offline_then_sync_now(
    chromium: Any, config: Config, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    make_user(database, "office", role="office")
    live = LiveServer(config, database)
    ui: LaptopUI | None = None
    try:
        api = httpx.Client(base_url=live.url)
        token = api.post(
            "/api/v1/auth/login",
            json={"login": "ivanov", "password": PASSWORD, "device_name": "скрипт"},
        ).json()["token"]
        office = {"Authorization": f"Bearer {token}"}
        cp = api.post(
            "/api/v1/counterparties",
            headers=office,
            json={
                "legal_name": "ООО «Ромашка»",
                "visibility": "team",
                "contacts": [{"kind": "phone", "value": "+7 916 123-45-67"}],
            },
        ).json()
        today = datetime.combine(datetime.now(MSK).date(), clock(23, 30), MSK)
        api.post(
            "/api/v1/interactions",
            headers=office,
            json={
                "counterparty_id": cp["id"],
                "kind": "meeting",
                "status": "planned",
                "subject": "Встреча по поставке",
                "starts_at": today.isoformat(),
            },
        )

        replica = Replica.open(tmp_path / "ivanov.db", key=os.urandom(32))
        with httpx.Client(base_url=live.url) as http:
            agent = SyncAgent(replica, http)
            agent.login(live.url, "ivanov", PASSWORD, "Ноутбук")
            agent.sync()
        live.stop()  # the train leaves the city: no network from here on
        ui = LaptopUI(replica, live.url)
        origin = f"http://127.0.0.1:{ui.port}"
        base = origin + ui.home.prefix  # every screen is under the secret prefix

        context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(launch_url(ui.home, ui.port))
        page.wait_for_url(base + "/")
        [cookie] = context.cookies()
        assert (
            cookie["path"] == ui.home.prefix + "/"
            and cookie["httpOnly"]
            and cookie["sameSite"] == "Strict"
        )

        # The browser is led to another local user's port (a link, a meta refresh): it sends the host's
        # cookies whose path matches, and the laptop's has the secret path, so none of them.
        listener = Listener()
        other = Serve(listener, _free_port())
        try:
            for path in ("/", "/settings", "/u/", "/launch"):
                page.goto(f"http://127.0.0.1:{other.port}{path}")
                assert page.get_by_text("hello").is_visible()
        finally:
            other.stop()
        assert len(listener.received) >= 4 and all(not cookies for _, cookies in listener.received)
        page.goto(origin + "/")  # the laptop UI itself outside its prefix: a plain 404
        assert ui.home.prefix not in page.content() and "Мой день" not in page.content()
        page.goto(base + "/")
        assert page.get_by_role("heading", name="Мой день").is_visible()
        assert page.locator("#today").get_by_text("Встреча по поставке").is_visible()
        ui.background.wait(1, 60)
        page.reload()
        assert page.locator(".badges").get_by_text("Нет связи").is_visible()

        # The phone rings: a fragment of the number finds the card as we type.
        page.keyboard.press("/")
        page.keyboard.type("45-67", delay=30)
        page.locator("#quick-results a", has_text="Ромашка").wait_for()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/counterparties/{cp['id']}")

        page.get_by_label("Направление").select_option("incoming")
        page.locator("#log-subject").fill("Спросили про отгрузку")
        page.locator("#log-submit").click()
        page.wait_for_url(f"{base}/counterparties/{cp['id']}#history")
        assert page.locator("#history").get_by_text("Спросили про отгрузку").is_visible()
        assert page.locator(".badges").get_by_text("Не отправлено: 1").is_visible()

        # The server is back: "sync now" on the Sync screen; the page follows the sync until it is done.
        live.start()
        page.locator("nav.main").get_by_role("link", name="Синхронизация").click()
        page.locator("#sync-now").click()
        page.wait_for_url(base + "/sync")
        deadline = time.monotonic() + 60
        while (
            page.locator("#sync-pending").inner_text() != "0"
            or "На связи" not in page.locator("#sync-online").inner_text()
        ):
            assert time.monotonic() < deadline, page.locator("#sync-status").inner_text()
            time.sleep(0.5)
            page.reload()
        context.close()

        found = api.get(
            "/api/v1/interactions", params={"counterparty_id": cp["id"]}, headers=office
        ).json()
        assert "Спросили про отгрузку" in [i["subject"] for i in found["items"]]

        # An office user in the server's own UI sees the call on the card.
        context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(live.url + "/")
        page.get_by_label("Логин").fill("office")
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Вход").click()
        page.wait_for_url(live.url + "/")
        page.goto(f"{live.url}/counterparties/{cp['id']}")
        assert page.locator("#history").get_by_text("Спросили про отгрузку").is_visible()
        context.close()
    finally:
        if ui is not None:
            ui.stop()
        live.stop()


@SQLITE_ONLY  # a layout of the laptop's own screen; the server's database is incidental
def test_the_laptops_header_stays_one_line_offline_with_unsent_changes(
    chromium: Any,
    database: Database,
    server: Any,  # noqa: F811 - the imported fixture, by name
    laptops: Any,  # noqa: F811 - the imported fixture, by name
) -> None:
    """At 1366×768 the laptop's header holds its status badges (offline, unsent changes, last sync,
    conflicts), the menu with Sync, the user's name and «Выйти» on one line, the search box keeping a
    usable width, and no screen scrolls sideways."""
    from tests.clients.test_laptop_ui import card, rest, unplugged

    database_user = make_user(database, "ivanov")
    with database.write() as db:  # the longest name the header has to hold
        from crm.models import User

        stored = db.get_one(User, database_user.id)
        stored.full_name = "Константинопольская Александра Вячеславовна"
        db.add(stored)
    cp = card(server, rest(server, "ivanov"))
    laptop = laptops("ivanov")
    laptop.background.http = unplugged()
    laptop.background.start()
    assert laptop.background.wait(2, 30)  # offline now
    laptop.launch()
    for n in range(12):  # unsent changes: two digits
        r = laptop.post(
            f"/counterparties/{cp['id']}/interactions",
            {
                "kind": "call",
                "direction": "outgoing",
                "status": "done",
                "starts_at": "2026-12-01T10:00",
                "subject": f"Звонок {n}",
            },
        )
        assert r.status_code == 303, r.text
    port = _free_port()
    served = Serve(create_app(laptop.home, port), port)
    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU")
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        base = f"http://127.0.0.1:{port}{laptop.home.prefix}"
        page.goto(launch_url(laptop.home, port))
        page.wait_for_url(base + "/")
        badges = page.locator(".badges")
        assert badges.get_by_text("Нет связи").is_visible()
        assert badges.get_by_text("12", exact=False).count() >= 1
        for path in (
            "/",
            "/search?q=Ромашка",
            f"/counterparties/{cp['id']}",
            f"/counterparties/{cp['id']}/edit",
            "/counterparties/new",
            "/deals",
            "/conflicts",
            "/settings",
            "/sync",
            "/reminders/new",
        ):
            page.goto(base + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            header = page.evaluate(
                "document.querySelector('header.top').getBoundingClientRect().height"
            )
            tops = page.evaluate(
                "[...document.querySelector('header.top').children]"
                ".filter(e => e.getBoundingClientRect().width > 1)"
                ".map(e => Math.round(e.getBoundingClientRect().top))"
            )
            parts = page.evaluate(
                "[...document.querySelector('header.top').children]"
                ".map(e => e.className + ' ' + Math.round(e.getBoundingClientRect().width))"
            )
            # the search box's room for text, and what its placeholder needs in its font
            search, needed = page.evaluate(
                "(() => { const i = document.querySelector('#quick-search'); const s = getComputedStyle(i);"
                " const c = document.createElement('canvas').getContext('2d'); c.font = s.font;"
                " return [i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight),"
                " c.measureText(i.placeholder).width]; })()"
            )
            assert (path, width <= 1366, header < 60, max(tops) - min(tops) < 20) == (
                path,
                True,
                True,
                True,
            ), (width, header, tops, parts)
            assert search >= needed, (
                path,
                search,
                needed,
                parts,
            )  # the placeholder is not cut  # the placeholder still reads
            # «Выйти» is there, whole, on the header's line.
            signout = page.locator("form.signout button")
            box = signout.bounding_box()
            assert box is not None and box["x"] + box["width"] <= 1366 and box["y"] < 50, box
            # every badge says all it means, at least on hover
            for title in page.locator(".badges .badge").evaluate_all(
                "bs => bs.map(b => b.title || b.textContent)"
            ):
                assert title.strip()
    finally:
        context.close()
        served.stop()
