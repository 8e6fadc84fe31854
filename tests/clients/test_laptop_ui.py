"""``satchel-field ui`` in-process: the laptop's screens over a real (encrypted) replica, synced
against the real server app, on both server databases.

Checked as the salesperson (edits offline land in the outbox and reach the server after "sync
now"; the quarantine and conflicts are worked from the screens) and as an attacker (a spent or
wrong launch token, another Host, a form without its CSRF token: refused, nothing changed; another
local user listening on another port of 127.0.0.1, to whom the browser sends a host's cookies:
the session cookie lives under the UI's secret path and never reaches them).

Every client here is a cookie jar like a browser's: ``Laptop.ui`` has the screens' secret prefix as
its base, so ``ui.get("/sync")`` asks for ``/u/<secret>/sync``.
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
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from clients.agent import SyncAgent
from clients.background import BackgroundSync
from clients.replica import Replica
from clients.web_home import LaptopHome, create_app, launch_url
from crm.database import Database
from server.app import create_app as create_server
from server.config import Config
from tests.conftest import PASSWORD, SQLITE_ONLY, make_user
from tests.inprocess import InProcessClient
from web import session

PORT = 8471
ORIGIN = f"http://127.0.0.1:{PORT}"
OTHER = 8472  # another local user's listener on the same host


@pytest.fixture
def server(config: Config, database: Database) -> Iterator[TestClient]:
    with InProcessClient(create_server(config, database)) as client:
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

    @property
    def prefix(self) -> str:
        return self.home.prefix

    @property
    def cookie(self) -> str:
        """The name of this UI's session cookie."""
        return session.named(self.prefix, session.COOKIE)

    def launch(self) -> httpx.Response:
        return self.ui.get(
            launch_url(self.home, PORT), follow_redirects=False
        )  # absolute: outside the prefix

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.ui.cookies[self.cookie])

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
        laptop = Laptop(replica, background, home, screens(home))
        made.append(laptop)
        return laptop

    yield make
    for laptop in made:
        laptop.background.stop()
        laptop.replica.close()


def screens(home: LaptopHome) -> TestClient:
    """A browser on the laptop UI, relative addresses under its secret prefix."""
    return InProcessClient(create_app(home, PORT), base_url=f"{ORIGIN}{home.prefix}/")


def rest(server: TestClient, login: str) -> dict[str, str]:
    r = server.post(
        "/api/v1/auth/login", json={"login": login, "password": PASSWORD, "device_name": "web"}
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def on_server(
    server: TestClient, headers: dict[str, str], type_name: str, record_id: str
) -> dict[str, Any]:
    r = server.get(f"/api/v1/{type_name}/{record_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def card(server: TestClient, headers: dict[str, str], **data: Any) -> dict[str, Any]:
    r = server.post(
        "/api/v1/counterparties", headers=headers, json={"legal_name": "ООО «Ромашка»", **data}
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


EDIT = {"legal_name": "ООО «Ромашка»", "stage": "lead", "visibility": "private"}


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_the_launch_token_lets_the_browser_in_once(database: Database, laptops: Any) -> None:
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    # Without the launch token every page sends to the page that says how to open Satchel.
    r = laptop.ui.get("/", follow_redirects=True)
    assert "satchel-field ui" in r.text and 'name="password"' not in r.text
    url = launch_url(laptop.home, PORT)
    assert url.startswith(f"{ORIGIN}/launch?token=") and laptop.prefix not in url
    r = laptop.ui.get(url, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == laptop.prefix + "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = laptop.ui.get("/")
    assert page.status_code == 200 and "Мой день" in page.text
    assert (
        "Не отправлено: 0" in page.text and f'href="{laptop.prefix}/sync"' in page.text
    )  # status on every screen

    # The same link a second time (another local user, a browser history): refused, no cookie.
    stranger = screens(laptop.home)
    again = stranger.get(url, follow_redirects=False)
    assert again.status_code == 403 and "satchel-field ui" in again.text
    assert laptop.prefix not in again.text  # a refused link learns nothing of where the screens are
    assert not stranger.cookies
    assert stranger.get(f"{ORIGIN}/launch?token=guess", follow_redirects=False).status_code == 403
    stranger.cookies.set(laptop.cookie, "forged")
    assert (
        stranger.get("/", follow_redirects=False).status_code == 303
    )  # to the "open Satchel" page
    # No password sign-in either: the form is not there and a posted password opens nothing.
    assert stranger.post(
        "/signin", data={"login": "ivanov", "password": PASSWORD}, follow_redirects=False
    ).status_code in (401, 403)

    # Signing out ends that session at once, and closes Satchel on this laptop (``ui`` stops itself),
    # so that its shortcut opens a fresh one next time rather than a second one.
    closed: list[bool] = []
    laptop.home.on_signed_out = lambda: closed.append(True)
    r = laptop.post("/signout", {})
    assert r.status_code == 303 and r.headers["location"] == laptop.prefix + "/signin"
    assert closed == [True]
    assert laptop.ui.get("/", follow_redirects=False).status_code == 303


class Listener:
    """Another local user's program on 127.0.0.1:OTHER: it keeps every cookie a browser sends it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        self.received.append((request.url.path, dict(request.cookies)))
        await PlainTextResponse("hello")(scope, receive, send)


def links(html: str) -> list[str]:
    return re.findall(r'(?:href|action|src|data-results)="([^"#][^"]*)"', html)


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_the_session_cookie_stays_under_the_secret_prefix(database: Database, laptops: Any) -> None:
    """The outside probe's attack: the browser visits another user's port on 127.0.0.1 (a link, a meta
    refresh); the browser sends that port every cookie of the host whose path matches. The laptop's
    cookie has the secret path, so the other port never gets it, and without the prefix nothing answers."""
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    prefix = laptop.prefix
    assert re.fullmatch(r"/u/[A-Za-z0-9_-]{32}", prefix)
    assert (
        LaptopHome(laptop.replica, laptop.background).prefix != prefix
    )  # chosen afresh for each UI

    r = laptop.launch()
    [set_cookie] = r.headers.get_list("set-cookie")
    assert set_cookie.startswith(f"{laptop.cookie}=") and laptop.cookie != session.COOKIE
    assert f"Path={prefix}/;" in set_cookie or set_cookie.endswith(f"Path={prefix}/")
    assert (
        "Path=/;" not in set_cookie and "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
    )
    [jarred] = list(laptop.ui.cookies.jar)
    assert (jarred.name, jarred.path, jarred.domain) == (laptop.cookie, prefix + "/", "127.0.0.1")

    # The prefixed screens work, and every address they show is under the prefix.
    page = laptop.ui.get("/")
    assert page.status_code == 200 and "Мой день" in page.text
    assert page.headers["referrer-policy"] == "same-origin"  # the secret never travels in a Referer
    assert (
        f'data-base="{prefix}"' in page.text
        and f'data-results="{prefix}/search/results"' in page.text
    )
    for path in ("/", "/settings", "/sync", "/conflicts", "/deals", "/search?q=ромашка"):
        shown = laptop.ui.get(path)
        assert shown.status_code == 200, path
        assert links(shown.text) and all(
            link.startswith(prefix + "/") for link in links(shown.text)
        ), path
    fragment = laptop.ui.get("/search/results?q=ром", headers={"X-Satchel-Fragment": "1"})
    assert fragment.status_code == 200
    assert laptop.ui.get("/static/app.js").status_code == 200

    # A real cookie jar (the browser's) gives the other port nothing, whatever path it is led to.
    listener = Listener()
    other = InProcessClient(listener, base_url=f"http://127.0.0.1:{OTHER}")
    other.cookies.jar = laptop.ui.cookies.jar  # one browser, one jar for the whole host
    for path in (
        "/",
        "/settings",
        "/u/",
        "/u/guess/",
        "/launch",
        "/static/app.js",
        prefix[:-1] + "/",
    ):
        assert other.get(path).status_code == 200
    assert listener.received and all(cookies == {} for _, cookies in listener.received), (
        listener.received
    )
    for url in (
        f"{ORIGIN}/",
        f"{ORIGIN}/settings",
        f"{ORIGIN}/u/",
        f"{ORIGIN}{prefix}",
        f"http://localhost:{PORT}{prefix}/",
        f"http://127.0.0.1:{OTHER}/",
    ):
        request = httpx.Request("GET", url)
        laptop.ui.cookies.set_cookie_header(request)
        assert "cookie" not in request.headers, url
    request = httpx.Request("GET", f"{ORIGIN}{prefix}/settings")
    laptop.ui.cookies.set_cookie_header(request)
    assert request.headers["cookie"] == f"{laptop.cookie}={laptop.ui.cookies[laptop.cookie]}"

    # Outside the prefix this UI is a plain 404 with no session and no address of the screens,
    # even for the cookie replayed by hand (what the attacker did with curl before).
    token = laptop.ui.cookies[laptop.cookie]
    with InProcessClient(create_app(laptop.home, PORT), base_url=ORIGIN) as curl:
        for path in (
            "/",
            "/settings",
            "/signin",
            "/sync",
            "/search/results?q=a",
            "/static/app.js",
            "/u/",
            "/u/" + "A" * 32 + "/",
            prefix[:-1] + ("A" if prefix[-1] != "A" else "B") + "/settings",
        ):
            for name in (session.COOKIE, laptop.cookie):
                r = curl.get(path, headers={"Cookie": f"{name}={token}"}, follow_redirects=False)
                assert r.status_code == 404 and "set-cookie" not in r.headers, (path, r.status_code)
                assert (
                    prefix not in r.text
                    and "Мой день" not in r.text
                    and "location" not in r.headers
                )
        r = curl.post(
            "/settings/language",
            data={"locale": "en", "csrf": laptop.csrf},
            headers={"Cookie": f"{laptop.cookie}={token}"},
            follow_redirects=False,
        )
        assert r.status_code == 404
    assert "Мой день" in laptop.ui.get("/").text  # still in Russian: nothing was changed


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_redirects_stay_under_the_prefix(database: Database, laptops: Any) -> None:
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    prefix = laptop.prefix
    r = laptop.ui.get("/settings?x=1", follow_redirects=False)
    assert (
        r.status_code == 303
        and r.headers["location"] == f"{prefix}/signin?next=%2Fsettings%3Fx%3D1"
    )
    advice = laptop.ui.get(ORIGIN + r.headers["location"])
    assert advice.status_code == 200 and all(
        link.startswith(prefix + "/") for link in links(advice.text)
    )
    assert (
        'next=/settings%3Fx%3D1"' in advice.text
    )  # the language links keep where to go, without the prefix
    laptop.launch()
    for back, landed in (
        ("/deals", "/deals"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("evil", "/"),
    ):
        r = laptop.post("/settings/language", {"locale": "ru", "back": back})
        assert r.status_code == 303 and r.headers["location"] == prefix + landed, back
    r = laptop.post("/sync/now", {})
    assert r.status_code == 303 and r.headers["location"] == prefix + "/sync"


def test_an_office_session_and_a_laptop_session_live_side_by_side(
    config: Config, database: Database, laptops: Any
) -> None:
    """The server's UI on 127.0.0.1 too (make demo): both cookies in one browser, neither overwrites or
    shadows the other, and the laptop's never goes to the server's port."""
    make_user(database, "ivanov")
    make_user(database, "office", role="office")
    laptop: Laptop = laptops("ivanov")
    with InProcessClient(
        create_server(config, database), base_url="http://127.0.0.1:8470"
    ) as office:
        office.cookies.jar = laptop.ui.cookies.jar  # one browser
        form = office.get("/signin").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf
        r = office.post(
            "/signin",
            data={"login": "office", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith(f"{session.COOKIE}=")
        )
        assert "Path=/;" in cookie or cookie.endswith("Path=/")  # the server's UI is unchanged
        office_token = office.cookies.get(session.COOKIE, path="/")
        assert office_token

        assert laptop.launch().status_code == 303
        laptop_token = laptop.ui.cookies[laptop.cookie]
        assert office.cookies.get(session.COOKIE, path="/") == office_token  # not overwritten
        # The laptop's screens get both cookies (the host's Path=/ one too) and read their own.
        request = httpx.Request("GET", f"{ORIGIN}{laptop.prefix}/")
        laptop.ui.cookies.set_cookie_header(request)
        assert f"{laptop.cookie}={laptop_token}" in request.headers["cookie"]
        assert f"{session.COOKIE}={office_token}" in request.headers["cookie"]
        page = laptop.ui.get("/")
        assert (
            page.status_code == 200 and "Мой день" in page.text and 'href="/sync"' not in page.text
        )
        assert (
            laptop.post("/sync/now", {}).status_code == 303
        )  # its CSRF token is its own session's
        # The server's UI gets only its own, and still knows the office user.
        request = httpx.Request("GET", "http://127.0.0.1:8470/")
        office.cookies.set_cookie_header(request)
        sent = request.headers["cookie"]
        assert (
            f"{session.COOKIE}={office_token}" in sent
            and laptop_token not in sent
            and laptop.cookie not in sent
        )
        page = office.get("/")
        assert page.status_code == 200 and "Мой день" in page.text
        assert (
            office.get("/review").status_code == 200
        )  # the office user's screen: the office session
        # Signing out of one leaves the other signed in.
        r = office.post(
            "/signout", data={"csrf": session.csrf_token(office_token)}, follow_redirects=False
        )
        assert r.status_code == 303
        assert laptop.ui.get("/", follow_redirects=False).status_code == 200
        assert laptop.post("/signout", {}).status_code == 303
        assert office.get("/", follow_redirects=False).status_code == 303
        assert laptop.ui.get("/", follow_redirects=False).status_code == 303


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
@pytest.mark.parametrize(
    "host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:9999", "127.0.0.1"]
)
def test_another_host_is_refused(database: Database, laptops: Any, host: str) -> None:
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    cookie = f"{laptop.cookie}={laptop.ui.cookies[laptop.cookie]}"
    # A page rebound to 127.0.0.1 under its own name: the browser sends that name, and the cookie too.
    r = laptop.ui.get("/", headers={"Host": host, "Cookie": cookie})
    assert r.status_code == 400 and "Мой день" not in r.text
    assert (
        laptop.ui.get("/", headers={"Host": f"localhost:{PORT}", "Cookie": cookie}).status_code
        == 200
    )


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_a_form_without_its_token_changes_nothing(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    for extra in ({}, {"csrf": "wrong"}):
        r = laptop.ui.post(
            f"/counterparties/{cp['id']}/edit",
            data={**EDIT, "notes": "взлом", **extra},
            follow_redirects=False,
        )
        assert r.status_code == 403
    r = laptop.ui.post(
        f"/counterparties/{cp['id']}/edit",
        data={**EDIT, "notes": "взлом", "csrf": laptop.csrf},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert laptop.ui.post("/sync/now", data={}, follow_redirects=False).status_code == 403
    assert (
        laptop.pending() == [] and laptop.replica.get("counterparties", cp["id"])["notes"] is None
    )
    assert server.get("/sync").status_code == 404  # the server's UI has no Sync screen


def test_an_unplugged_laptop_retries_soon_and_sends_its_outbox_when_the_network_is_back(
    database: Database, server: TestClient, laptops: Any
) -> None:
    """Offline, the next attempt comes after ``offline_every``, not the five-minute period: the header
    turns back to online and the pending edit goes out without anybody pressing "sync now"."""
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    laptop.background.offline_every = (
        0.05  # the period stays an hour: only the offline retry can sync
    )
    laptop.background.http = unplugged()
    laptop.background.start()
    assert laptop.background.wait(2, 30)
    assert (
        laptop.background.now.online is False
    )  # (the header is not read here: a retry may be running)
    r = laptop.post(
        f"/counterparties/{cp['id']}/edit", {**EDIT, "notes": "без связи", "version": "1"}
    )
    assert r.status_code == 303, r.text
    laptop.background.http = server  # the network is back; nobody touches the laptop
    assert laptop.background.wait_for(lambda now: now.online is True and not now.running, 30)
    assert laptop.pending() == []
    assert "На связи" in laptop.ui.get("/").text


def test_an_edit_made_offline_reaches_the_server_after_sync_now(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    cp = card(server, office)
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    laptop.background.http = unplugged()
    laptop.background.start()
    assert laptop.background.wait(2, 30)  # the first sync at start: offline
    page = laptop.ui.get("/")
    assert (
        page.status_code == 200 and "Нет связи" in page.text
    )  # offline is a state, not an error page

    r = laptop.post(
        f"/counterparties/{cp['id']}/edit", {**EDIT, "notes": "записал в поезде", "version": "1"}
    )
    assert r.status_code == 303, r.text
    r = laptop.post(
        f"/counterparties/{cp['id']}/interactions",
        {
            "kind": "call",
            "direction": "outgoing",
            "status": "done",
            "starts_at": "2026-12-01T10:00",
            "subject": "Звонок по счёту",
            "next_at": "2026-12-03T11:00",
            "next_kind": "meeting",
            "next_subject": "Встреча в офисе",
        },
    )
    assert r.status_code == 303, r.text
    queued = laptop.pending()
    assert [(m["op"], m["type"]) for m in queued] == [
        ("update", "counterparties"),
        ("create", "interactions"),
        ("create", "interactions"),
    ]
    assert queued[0]["fields"] == {"notes": "записал в поезде"}
    assert "Не отправлено: 3" in laptop.ui.get(f"/counterparties/{cp['id']}").text
    assert on_server(server, office, "counterparties", cp["id"])["notes"] is None

    # The network is back; "sync now" answers at once and the sync runs behind it.
    laptop.background.http = server
    r = laptop.post("/sync/now", {})
    assert r.status_code == 303 and r.headers["location"] == laptop.prefix + "/sync"
    assert laptop.background.wait(3, 60)
    assert laptop.pending() == []
    assert on_server(server, office, "counterparties", cp["id"])["notes"] == "записал в поезде"
    found = server.get(
        "/api/v1/interactions", params={"counterparty_id": cp["id"]}, headers=office
    ).json()
    assert sorted(i["subject"] for i in found["items"]) == ["Встреча в офисе", "Звонок по счёту"]
    status = laptop.ui.get("/sync").text
    assert 'id="sync-online">На связи' in status and 'id="sync-pending">0' in status


def test_the_language_chosen_on_the_laptop_reaches_the_server_and_stays(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    me = server.get("/api/v1/me", headers=office).json()["user"]
    assert me["locale"] == "ru"
    r = laptop.post("/settings/language", {"locale": "en", "back": "/settings"})
    assert r.status_code == 303, r.text
    assert [(m["op"], m["type"], m["fields"]) for m in laptop.pending()] == [
        ("update", "users", {"locale": "en"})
    ]
    laptop.background.http = server
    laptop.background.start()
    assert laptop.background.wait(2, 60)
    assert laptop.pending() == [] and laptop.replica.quarantine() == [], (
        laptop.background.now,
        laptop.replica.quarantine(),
    )
    assert server.get("/api/v1/me", headers=office).json()["user"]["locale"] == "en"
    # Another sync (the user's record comes back from the server) keeps it.
    laptop.post("/sync/now", {})
    assert laptop.background.wait(3, 60)
    assert laptop.replica.get("users", me["id"])["locale"] == "en"
    assert "Settings" in laptop.ui.get("/settings").text


def test_an_invalid_inn_is_shown_beside_the_field_and_queues_nothing(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    r = laptop.post(
        f"/counterparties/{cp['id']}/edit", {**EDIT, "inn": "7707083894", "version": "1"}
    )
    assert r.status_code == 422
    found = re.search(r'<span class="field-error" id="f-inn-error">([^<]*)</span>', r.text)
    assert found and found.group(1) == "Неверная контрольная цифра ИНН (ожидалась 3, указана 4)"
    assert re.search(r'id="f-inn" name="inn" value="7707083894"[^>]*aria-invalid="true"', r.text), (
        r.text
    )
    assert laptop.pending() == [] and laptop.replica.get("counterparties", cp["id"])["inn"] is None


def test_the_quarantine_is_listed_with_the_servers_reason_retried_and_dropped(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    owner = rest(server, "ivanov")
    cp = card(server, owner, visibility="team")
    laptop: Laptop = laptops("petrov")
    laptop.launch()
    r = laptop.post(
        f"/counterparties/{cp['id']}/edit", {**EDIT, "visibility": "team", "notes": "моя заметка"}
    )
    assert r.status_code == 303, r.text
    # Meanwhile the owner makes the card private: Petrov's edit is refused and the card evicted.
    server.patch(
        f"/api/v1/counterparties/{cp['id']}", headers=owner, json={"visibility": "private"}
    )
    laptop.background.run_once()
    [item] = laptop.replica.quarantine()
    page = laptop.ui.get("/sync").text
    assert f'id="quarantine-{item["id"]}"' in page and "моя заметка" in page
    assert re.search(rf'id="quarantine-{item["id"]}-reason">Причина сервера: [^<]*not found', page)
    assert "Карантин: 1" in laptop.ui.get("/").text

    # Without the token neither button does anything.
    for action in ("retry", "drop"):
        r = laptop.ui.post(
            f"/sync/quarantine/{item['id']}/{action}", data={}, follow_redirects=False
        )
        assert r.status_code == 403
    assert len(laptop.replica.quarantine()) == 1 and laptop.pending() == []

    r = laptop.post(f"/sync/quarantine/{item['id']}/retry", {})
    assert r.status_code == 303 and r.headers["location"] == laptop.prefix + "/sync#quarantine"
    assert laptop.replica.quarantine() == [] and [m["fields"] for m in laptop.pending()] == [
        {"notes": "моя заметка"}
    ]
    laptop.background.run_once()  # still not his to see: refused again, kept again
    [again] = laptop.replica.quarantine()
    assert laptop.post(f"/sync/quarantine/{again['id']}/drop", {}).status_code == 303
    assert laptop.replica.quarantine() == [] and laptop.pending() == []
    assert 'id="quarantine-empty"' in laptop.ui.get("/sync").text
    assert laptop.post(f"/sync/quarantine/{again['id']}/drop", {}).status_code == 404
    assert laptop.post("/sync/quarantine/x1/retry", {}).status_code == 404
    assert on_server(server, owner, "counterparties", cp["id"])["notes"] is None


def test_a_conflict_resolved_in_the_ui_is_queued_and_settles_on_the_server(
    database: Database, server: TestClient, laptops: Any
) -> None:
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
    assert (queued["op"], queued["conflict_id"], queued["choice"]) == (
        "resolve",
        conflict["id"],
        "mine",
    )
    assert (
        b.replica.get("counterparties", cp["id"])["notes"] == "от Петрова"
    )  # shown at once, offline
    assert 'id="no-conflicts"' in b.ui.get("/conflicts").text  # settled here, waiting for the sync
    assert b.post(f"/conflicts/{conflict['id']}/resolve", {"choice": "theirs"}).status_code == 409
    assert len(b.pending()) == 1

    b.background.run_once()
    assert b.replica.conflicts() == [] and b.pending() == []
    assert on_server(server, owner, "counterparties", cp["id"])["notes"] == "от Петрова"


def test_screens_and_the_sync_thread_write_the_replica_together_without_waiting(
    database: Database, server: TestClient, laptops: Any
) -> None:
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
    finally:
        stop.set()
        syncing.join(60)
    laptop.background.run_once()
    assert laptop.pending() == [] and laptop.background.now.last_error is None
    found = server.get(
        "/api/v1/interactions", params={"counterparty_id": cp["id"]}, headers=office
    ).json()
    assert sorted(i["subject"] for i in found["items"]) == [f"Звонок {n}" for n in range(6)]


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_the_ui_command_serves_on_loopback_with_a_one_time_link(
    config: Config, database: Database, tmp_path: Path
) -> None:
    from tests.clients.test_cli import PASSPHRASE, LiveServer, field

    make_user(database, "ivanov")
    live = LiveServer(config, database)
    command: subprocess.Popen[str] | None = None
    try:
        home = tmp_path / "field"
        assert (
            field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code
            == 0
        )
        env = {
            **os.environ,
            "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE,
            "SATCHEL_FIELD_HOME": str(home),
        }
        command = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "ui", "--no-open", "--sync-minutes", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
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
            prefix = r.headers[
                "location"
            ]  # the secret path, printed nowhere: only the browser learns it
            assert re.fullmatch(r"/u/[\w-]{32}/", prefix) and prefix not in line
            page = browser.get(prefix)
            assert page.status_code == 200 and "Мой день" in page.text
            assert browser.get("/").status_code == 404  # nothing outside the prefix
            assert browser.get(url.group(0)).status_code == 403  # the link works once
            assert (
                browser.get(prefix, headers={"Host": f"rebound.example:{port}"}).status_code == 400
            )
        # Bound to 127.0.0.1 alone: a listener on every address would answer 127.0.0.2 too (and the LAN).
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex(("127.0.0.2", port)) != 0
    finally:
        if command is not None:
            command.send_signal(signal.SIGINT)
            command.wait(30)
        live.stop()


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_sync_now_answers_at_once_while_the_network_hangs(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    cp = card(server, rest(server, "ivanov"))
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    gate = threading.Event()

    def hang(request: httpx.Request) -> httpx.Response:
        gate.wait(60)  # a captive hotel Wi-Fi: the connection neither works nor fails
        raise httpx.ConnectError("timed out", request=request)

    laptop.background.http = httpx.Client(
        base_url="http://satchel.invalid", transport=httpx.MockTransport(hang)
    )
    laptop.background.start()
    try:
        deadline = time.monotonic() + 30
        while not laptop.background.now.running:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        assert laptop.post("/sync/now", {}).status_code == 303
        page = laptop.ui.get("/sync").text
        assert (
            'id="sync-running">Синхронизация…' in page
            and '<meta http-equiv="refresh" content="2">' in page
        )
        r = laptop.post(
            f"/counterparties/{cp['id']}/edit", {**EDIT, "notes": "пока сеть висит", "version": "1"}
        )
        assert r.status_code == 303 and len(laptop.pending()) == 1
        assert time.monotonic() - started < 10  # nothing above waited for the network
    finally:
        gate.set()
    assert laptop.background.wait(3, 30)  # the hung sync, then the one "sync now" asked for
    page = laptop.ui.get("/sync").text
    assert 'http-equiv="refresh"' not in page and 'id="sync-running">Ожидание' in page
    assert "Нет связи" in page and 'id="sync-pending">1' in page


class _Stop(Exception):
    """Raised by the stand-in home: the command got as far as making it."""


@pytest.mark.parametrize(
    ("given", "expected"),
    [([], None), (["--timezone", "Asia/Yekaterinburg"], "Asia/Yekaterinburg")],
)
def test_the_ui_command_passes_its_timezone_to_the_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given: list[str], expected: str | None
) -> None:
    """``--timezone`` reaches ``LaptopHome``; without it the home takes the laptop's own zone (None)."""
    from contextlib import contextmanager

    from clients import cli
    from tests.clients.test_cli import field

    made: list[str | None] = []

    class Replica:
        def state(self, key: str) -> None:
            return None

    @contextmanager
    def opened(ctx: Any) -> Iterator[Any]:
        yield Replica()

    def home(replica: Any, background: Any, timezone: str | None = None) -> Any:
        made.append(timezone)
        raise _Stop

    monkeypatch.setattr(cli, "opened", opened)
    monkeypatch.setattr(cli, "LaptopHome", home)
    result = field(tmp_path, "ui", "--no-open", *given)
    assert isinstance(result.exception, _Stop), result.output
    assert made == [expected]


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "Europe", "../../etc/passwd", "/etc/localtime", "", "MSK+3"]
)
def test_the_ui_command_refuses_a_timezone_that_is_not_one(tmp_path: Path, zone: str) -> None:
    from tests.clients.test_cli import field

    result = field(tmp_path, "ui", "--no-open", "--timezone", zone)
    assert (
        result.exit_code == 2 and "--timezone" in result.output
    )  # a usage error, before any replica is opened


@SQLITE_ONLY  # the laptop's own screens and HTTP decide it; the server's database is incidental
def test_the_laptop_settings_have_no_devices_section(database: Database, laptops: Any) -> None:
    """The laptop knows no device list (the server's UI shows and revokes devices): no empty table."""
    make_user(database, "ivanov")
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    page = laptop.ui.get("/settings")
    assert page.status_code == 200 and 'id="language-form"' in page.text
    assert 'id="devices"' not in page.text and "Мои устройства" not in page.text


def test_the_company_templates_reach_the_laptop_and_start_a_letter_offline(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    make_user(database, "office", role="office")
    cp = card(server, rest(server, "ivanov"))
    r = server.post(
        "/api/v1/letter-templates",
        headers=rest(server, "ivanov"),
        json={"name": "Свой", "subject": "x", "body": "y"},
    )
    assert r.status_code == 403  # a salesperson reads the company's templates, does not write them
    r = server.post(
        "/api/v1/letter-templates",
        headers=rest(server, "office"),
        json={"name": "Прайс-лист", "subject": "Прайс на декабрь", "body": "Высылаю прайс."},
    )
    assert r.status_code == 201, r.text
    laptop: Laptop = laptops("ivanov")  # bootstrapped from the server
    laptop.launch()
    laptop.background.http = unplugged()
    form = laptop.ui.get(f"/counterparties/{cp['id']}/letters/new")
    assert form.status_code == 200 and ">Прайс-лист</option>" in form.text
    filled = laptop.ui.get(
        f"/counterparties/{cp['id']}/letters/new", params={"template": r.json()["id"]}
    )
    assert 'value="Прайс на декабрь"' in filled.text and "Высылаю прайс.</textarea>" in filled.text


def test_a_reminder_made_offline_is_queued_and_reaches_the_server(
    database: Database, server: TestClient, laptops: Any
) -> None:
    make_user(database, "ivanov")
    office = rest(server, "ivanov")
    cp = card(server, office)
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    laptop.background.http = unplugged()
    laptop.background.start()
    assert laptop.background.wait(2, 30)  # the first sync at start: offline
    assert 'id="new-reminder"' in laptop.ui.get(f"/counterparties/{cp['id']}").text
    form = laptop.ui.get(f"/reminders/new?counterparty_id={cp['id']}")
    assert form.status_code == 200 and "Новое напоминание" in form.text
    assert f'action="{laptop.prefix}/reminders"' in form.text
    # A problem is shown beside its field and queues nothing.
    r = laptop.post(
        "/reminders", {"counterparty_id": cp["id"], "title": "", "due_at": "2030-03-04T15:00"}
    )
    assert r.status_code == 422 and 'id="r-title-error">Обязательное поле<' in r.text
    assert laptop.pending() == []
    r = laptop.post(
        "/reminders",
        {"counterparty_id": cp["id"], "title": "Выставить счёт", "due_at": "2030-03-04T15:00"},
    )
    assert r.status_code == 303 and r.headers["location"] == (
        f"{laptop.prefix}/counterparties/{cp['id']}#history"
    )
    r = laptop.post("/reminders", {"title": "Своё дело", "due_at": "2030-03-05T09:30"})
    assert r.status_code == 303 and r.headers["location"] == f"{laptop.prefix}/#reminders"
    queued = laptop.pending()
    assert [(m["op"], m["type"], m["fields"]["title"]) for m in queued] == [
        ("create", "reminders", "Выставить счёт"),
        ("create", "reminders", "Своё дело"),
    ]
    assert "Выставить счёт" in laptop.ui.get(f"/counterparties/{cp['id']}").text  # shown at once
    assert laptop.ui.get("/outbox").status_code == 404  # the office's outbox is the server's

    laptop.background.http = server
    assert laptop.post("/sync/now", {}).status_code == 303
    assert laptop.background.wait(3, 60)
    assert laptop.pending() == []
    found = server.get("/api/v1/reminders", headers=office).json()["items"]
    assert sorted((r["title"], r["counterparty_id"], r["due_at"][:16]) for r in found) == [
        ("Выставить счёт", cp["id"], "2030-03-04T12:00"),
        ("Своё дело", None, "2030-03-05T06:30"),
    ]


def test_while_the_search_keys_are_indexed_the_screens_work_and_say_search_is_being_prepared(
    database: Database, server: TestClient, laptops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A laptop loading its clients again (the server said reset) builds the search keys' index
    last: meanwhile its screens list and find the clients and the header says search is being
    prepared; afterwards the header says so no more."""
    make_user(database, "ivanov")
    card(
        server,
        rest(server, "ivanov"),
        legal_name="ООО Рубин",
        contacts=[{"kind": "phone", "value": "+7 916 123-45-67"}],
    )
    laptop: Laptop = laptops("ivanov")
    laptop.launch()
    laptop.replica.set_state(reset="1")  # as a pull answered "reset" would
    building, release = threading.Event(), threading.Event()
    build = laptop.replica.build_search_index

    def slow_build() -> bool:
        building.set()
        assert release.wait(60)
        return build()

    monkeypatch.setattr(laptop.replica, "build_search_index", slow_build)
    runner = threading.Thread(target=laptop.background.run_once)
    runner.start()
    try:
        assert building.wait(60)
        page = laptop.ui.get("/search", params={"q": "916 123"}).text
        assert "ООО Рубин" in page
        assert "Поиск готовится" in page
        assert "подготовка поиска" in laptop.ui.get("/sync").text
    finally:
        release.set()
        runner.join(60)
    assert not laptop.replica.search_pending()
    page = laptop.ui.get("/search", params={"q": "916 123"}).text
    assert "ООО Рубин" in page and "Поиск готовится" not in page
