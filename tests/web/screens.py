"""Screenshots of the web UI on a 1366×768 laptop screen, over the demo company.

    python -m tests.web.screens docs/screens

Builds the small demo company on a temporary SQLite (dated today, so the agenda
is a real day), starts ``satchel serve`` on it, signs in through the sign-in
form in Debian's Chromium and saves one PNG per screen: the salesperson's
(``ivanov``) agenda, quick search, a card, its edit form, the forms for a new
counterparty, contact person, letter, deal and reminder, a letter, the deals
board, conflicts and settings in Russian, another salesperson's agenda in English
(her setting), the office's mail review queue, outbox, likely duplicates and a merge form, the administrator's users; then
a laptop of ``ivanov`` (``satchel-field ui`` over a replica loaded from that server)
with the network gone and an unsent change: its agenda and its sync page.
It prints a screen wider than the laptop's beside its file; the suite's own check of
every screen's width is ``tests/web/test_browser.py``'s 1366×768 test.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from crm import demo
from crm.database import Database
from crm.models import Counterparty, Interaction, User
from server import migrate
from server.process import running_server
from tests.web.test_browser import (  # the browser the tests drive, launched the same way
    ARGS,
    CHROMIUM,
)

WIDTH, HEIGHT = 1366, 768


@dataclass(frozen=True)
class Screen:
    name: str  # the PNG's name
    login: str
    path: str
    lang: str = "ru"
    full_page: bool = False


@dataclass(frozen=True)
class Shot:
    screen: Screen
    file: Path
    width: int  # the page's scroll width: wider than WIDTH means a horizontal scroll bar


def _busiest_client(database: Database, login: str) -> tuple[str, str]:
    """The id of ``login``'s counterparty with the longest history, and a fragment of its phone."""
    with database.read() as db:
        owner = db.exec(select(User.id).where(col(User.login) == login)).one()[0]
        row = db.exec(
            select(Interaction.counterparty_id, func.count())
            .join(Counterparty, col(Counterparty.id) == col(Interaction.counterparty_id))
            .where(col(Counterparty.owner_id) == owner)
            .group_by(col(Interaction.counterparty_id))
            .order_by(func.count().desc())
            .limit(1)
        ).one()
        cp = db.get_one(Counterparty, row[0])
        phones = [c["value"] for c in cp.contacts if c.get("kind") == "phone"]
    # A clerk types the end of the caller's number (search finds a phone by its beginning or its end).
    return str(cp.id), (phones[0][-4:] if phones else (cp.short_name or cp.legal_name)[:4])


def _latest_letter(database: Database, counterparty_id: str) -> str | None:
    with database.read() as db:
        row = db.exec(
            select(Interaction.id)
            .where(
                col(Interaction.counterparty_id) == counterparty_id,
                col(Interaction.kind) == "letter",
            )
            .order_by(col(Interaction.starts_at).desc())
            .limit(1)
        ).first()
    return None if row is None else str(row[0])


def _first_pair(database: Database) -> tuple[str, str] | None:
    """The surest pair of likely duplicates the office sees (the demo makes a few)."""
    from crm import duplicates

    with database.read() as db:
        office = db.exec(select(User).where(col(User.login) == "office")).one()[0]
        found = duplicates.scan(db, office)
    return (found.candidates[0].first, found.candidates[0].second) if found.candidates else None


def screens(database: Database) -> list[Screen]:
    card, fragment = _busiest_client(database, "ivanov")
    letter = _latest_letter(database, card)
    pair = _first_pair(database)
    return [
        Screen("signin", "", "/signin"),
        Screen("agenda", "ivanov", "/"),
        Screen("search", "ivanov", f"/search?q={fragment}"),
        Screen("card", "ivanov", f"/counterparties/{card}", full_page=True),
        Screen("card-edit", "ivanov", f"/counterparties/{card}/edit"),
        Screen("card-new", "ivanov", "/counterparties/new"),
        Screen("person-new", "ivanov", f"/counterparties/{card}/people/new"),
        Screen("letter-new", "ivanov", f"/counterparties/{card}/letters/new"),
        *([Screen("letter", "ivanov", f"/letters/{letter}")] if letter else []),
        Screen("deal-new", "ivanov", f"/counterparties/{card}/deals/new"),
        Screen("reminder-new", "ivanov", f"/reminders/new?counterparty_id={card}"),
        Screen(
            "deals", "manager", "/deals"
        ),  # the team's board: the small demo's deals are spread thin
        Screen("conflicts", "ivanov", "/conflicts"),
        Screen("settings", "ivanov", "/settings"),
        Screen("agenda-en", "petrova", "/", lang="en"),
        Screen("review", "office", "/review"),
        Screen("outbox", "office", "/outbox"),
        Screen("duplicates", "office", "/duplicates"),
        *(
            [Screen("merge", "office", f"/duplicates/merge?survivor={pair[0]}&absorbed={pair[1]}")]
            if pair
            else []
        ),
        Screen("admin-users", "admin", "/admin/users"),
    ]


@contextmanager
def demo_server(folder: Path) -> Iterator[tuple[str, Database]]:
    """The small demo company, dated today, served by a real ``satchel serve``."""
    url = f"sqlite:///{folder / 'satchel.db'}"
    database = Database(url)
    migrate.upgrade(database)
    demo.generate(database, "small", today=date.today())
    with database.write() as db:  # one salesperson works in English (a user setting)
        db.exec(select(User).where(col(User.login) == "petrova")).one()[0].locale = "en"
    try:
        with running_server(url, settings={"SATCHEL_DATA_DIR": str(folder)}) as base:
            yield base, database
    finally:
        database.dispose()


def _sign_in(page: Any, base: str, login: str, lang: str) -> None:
    page.goto(f"{base}/signin?lang={lang}")
    page.fill("#login", login)
    page.fill("#password", demo.DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def take(out: Path, browser: Any, base: str, database: Database) -> list[Shot]:
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Shot] = []
    for screen in screens(database):
        context = browser.new_context(
            viewport={"width": WIDTH, "height": HEIGHT}, locale=screen.lang
        )
        page = context.new_page()
        if screen.login:
            _sign_in(page, base, screen.login, screen.lang)
            page.goto(base + screen.path)
        else:
            page.goto(f"{base}{screen.path}?lang={screen.lang}")
        page.wait_for_load_state()
        file = out / f"{screen.name}.png"
        page.screenshot(path=str(file), full_page=screen.full_page)
        shots.append(Shot(screen, file, int(page.evaluate("document.documentElement.scrollWidth"))))
        context.close()
    return shots


LAPTOP_SCREENS = [("laptop-agenda", "/"), ("laptop-sync", "/sync")]


def take_laptop(out: Path, browser: Any, base: str, folder: Path) -> list[Shot]:
    """The salesperson's laptop (``satchel-field ui`` over an encrypted replica loaded from the
    server), offline with an unsent change: its agenda and its sync page."""
    import os

    import httpx

    from clients.agent import SyncAgent
    from clients.replica import Replica
    from clients.web_home import launch_url
    from tests.clients.test_laptop_browser import LaptopUI

    replica = Replica.open(folder / "laptop.db", key=os.urandom(32))
    with httpx.Client(base_url=base, timeout=60) as http:
        agent = SyncAgent(replica, http)
        agent.login(base, "ivanov", demo.DEMO_PASSWORD, "Ноутбук Иванова")
        agent.sync()
    mine = replica.list("counterparties", limit=1)[0]
    replica.update("counterparties", mine["id"], {"notes": "Просят каталог к весне."})
    # The train has left the city: the laptop's background sync finds no server.
    ui = LaptopUI(replica, "http://127.0.0.1:9")
    shots: list[Shot] = []
    try:
        ui.background.wait(1, 60)
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, locale="ru")
        page = context.new_page()
        page.goto(launch_url(ui.home, ui.port))
        page.wait_for_load_state()
        origin = f"http://127.0.0.1:{ui.port}{ui.home.prefix}"
        for name, path in LAPTOP_SCREENS:
            page.goto(origin + path)
            page.wait_for_load_state()
            file = out / f"{name}.png"
            page.screenshot(path=str(file))
            width = int(page.evaluate("document.documentElement.scrollWidth"))
            shots.append(Shot(Screen(name, "ivanov", path), file, width))
        context.close()
    finally:
        ui.stop()
        replica.close()
    return shots


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    out = Path(argv[0] if argv else "docs/screens")
    with (
        tempfile.TemporaryDirectory() as folder,
        demo_server(Path(folder)) as (base, database),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for shot in [
            *take(out, browser, base, database),
            *take_laptop(out, browser, base, Path(folder)),
        ]:
            wide = "" if shot.width <= WIDTH else f"  (wider than the screen: {shot.width} px)"
            print(f"{shot.file}{wide}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
