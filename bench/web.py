"""Web UI benchmarks (issue 12) through the real screens over HTTP, on the LARGE demo company.

    python -m bench --only sqlite --only-bench web

Two UIs, each a real process answering real HTTP requests from this one:

* the server's UI at ``/`` (``server/web_home.py``), in the same server process as
  the other benchmarks, signed in through its sign-in form (office user, salesperson);
* the laptop's UI, ``satchel-field ui`` (``clients/web_home.py``) run as the command
  itself (``python -m clients.cli ui --no-open``) over an encrypted replica that
  ``satchel-field login`` + ``satchel-field sync`` bootstrapped from that server
  (``SyncAgent``; the real thing, not a synthetic replica). The browser's way in is
  the printed one-time ``/launch`` link, then the secret prefix ``/u/<secret>/``.

Measured, each against a floor in the same run on the same process — a GET of the
static ``app.css`` with the same cookies:

* search as you type: realistic terms typed one character at a time, each
  keystroke one request as ``web/static/app.js`` sends it (``GET
  <data-results>?q=<encodeURIComponent(value.trim())>`` with ``X-Satchel-Fragment:
  1``; nothing for an empty value; no debounce assumed, so every keystroke counts):
  name fragments, phone numbers in three formats, INNs and email addresses.
  On the office user's laptop (a replica of all 20,000 counterparties) and on the
  server's UI as the office user. Target p95 ≤ 100 ms.
* a counterparty card with a 500-item history (made through ``crm.records``:
  interactions — calls, meetings, letters — deals and reminders), as its owner, the
  salesperson. Target p95 ≤ 200 ms.
* the agenda (start page) of a salesperson with a realistic day. Target p95 ≤ 100 ms.
* the first page's weight: the agenda's HTML plus every stylesheet and script it
  links. Target ≤ 300 KB (uncompressed).

The demo company is dated ``crm.demo.DEFAULT_TODAY``; a month or more later every open
reminder of it is overdue (hundreds a salesperson). The agenda is measured once as
loaded (server only: that backlog, capped by the agenda at 200), then the
salesperson's realistic day is made through ``crm.records``: the stale reminders
worked off (marked done), a few overdue ones kept, contacts planned for today and
reminders due today. Writes the "Web UI" section of bench/RESULTS.md (via the runner).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select
from sqlmodel import col

from bench.api import _queries
from bench.harness import ROOT, WORK, Report, Result, median, percentile
from crm import agenda, demo, records
from crm.database import Database
from crm.models import ContactKey, Counterparty, Reminder, User
from crm.models.enums import ReminderStatus
from server.web_home import TIMEZONE

COMMAND = "python -m bench --only sqlite --only-bench web"
PASSPHRASE = "bench-web ключ"
SEARCH_TARGET_MS = 100.0
CARD_TARGET_MS = 200.0
AGENDA_TARGET_MS = 100.0
WEIGHT_TARGET_KB = 300
HISTORY_NAME = "ООО «Бенчмарк История»"


@dataclass(frozen=True)
class Plan:
    runs: int = 3
    names: int = 30
    phones: int = 15
    inns: int = 10
    emails: int = 10
    card_gets: int = 20
    agenda_gets: int = 20
    floor_gets: int = 100
    warmup: int = 5


FULL = Plan()
QUICK = Plan(runs=1, names=6, phones=3, inns=2, emails=2, card_gets=5, agenda_gets=5, floor_gets=30)


# ---------------------------------------------------------------- browsers


@dataclass
class Browser:
    """A cookie jar on one UI; ``base`` is the screens' prefix ('' on the server, /u/<secret> on a laptop)."""

    client: httpx.Client
    base: str
    where: str  # "server UI" or "laptop UI"

    def get(self, path: str, **kw: Any) -> httpx.Response:
        r = self.client.get(self.base + path, **kw)
        if r.status_code != 200:
            raise RuntimeError(
                f"{self.where}: GET {self.base + path} answered {r.status_code}: {r.text[:200]}"
            )
        return r

    def timed(self, path: str, **kw: Any) -> tuple[float, httpx.Response]:
        start = time.perf_counter()
        r = self.get(path, **kw)
        return (time.perf_counter() - start) * 1000, r


@contextmanager
def server_browser(base: str, login: str) -> Iterator[Browser]:
    """Signed in to the server's UI through its form, as a browser does (sign-in cookie, CSRF field)."""
    with httpx.Client(base_url=base, timeout=60, headers={"User-Agent": "bench/web"}) as client:
        form = client.get("/signin")
        form.raise_for_status()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if csrf is None:
            raise RuntimeError("no CSRF field on the sign-in form")
        r = client.post(
            "/signin",
            data={
                "csrf": csrf.group(1),
                "next": "/",
                "login": login,
                "password": demo.DEMO_PASSWORD,
            },
            headers={"Origin": base},
        )
        if r.status_code != 303:
            raise RuntimeError(f"sign-in as {login} answered {r.status_code}: {r.text[:200]}")
        yield Browser(client, "", "server UI")


def _field(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "clients.cli", "--data-dir", str(home), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        env={**os.environ, "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE, "COLUMNS": "200"},
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"satchel-field {args[0]} failed ({done.returncode}): {done.stdout[-300:]} "
            f"{done.stderr[-300:]}"
        )
    return done


@contextmanager
def laptop_browser(base: str, login: str, notes: list[str]) -> Iterator[Browser]:
    """``satchel-field login`` + ``sync`` (the bootstrap) + ``ui``, as a salesperson does; the launch link spent."""
    home = WORK / f"field-{login}"
    shutil.rmtree(
        home, ignore_errors=True
    )  # a new laptop each time (a full run measures both databases)
    _field(
        home,
        "login",
        base,
        "--user",
        login,
        "--password",
        demo.DEMO_PASSWORD,
        "--device",
        "bench-web",
    )
    start = time.perf_counter()
    _field(home, "sync")
    notes.append(
        f"laptop of {login}: `satchel-field sync` bootstrapped its replica (SQLCipher) from the server "
        f"in {time.perf_counter() - start:.1f} s"
    )
    env = {
        **os.environ,
        "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE,
        "TZ": TIMEZONE,
    }  # the salesperson's day is Moscow's
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clients.cli",
            "--data-dir",
            str(home),
            "ui",
            "--no-open",
            "--sync-minutes",
            "600",
        ],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert command.stdout is not None
        line, deadline = "", time.monotonic() + 120
        while "/launch?token=" not in line:
            if time.monotonic() > deadline or command.poll() is not None:
                raise RuntimeError(f"satchel-field ui did not start: {line}")
            line = command.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/launch\?token=[\w-]+", line)
        assert url is not None, line
        with httpx.Client(
            base_url=f"http://127.0.0.1:{url.group(1)}",
            timeout=60,
            headers={"User-Agent": "bench/web"},
        ) as client:
            r = client.get(url.group(0))
            if r.status_code != 303:
                raise RuntimeError(f"launch link answered {r.status_code}")
            browser = Browser(client, r.headers["location"].rstrip("/"), "laptop UI")
            time.sleep(1.0)  # its first background sync (nothing to pull) runs at start
            yield browser
    finally:
        command.terminate()
        try:
            command.wait(30)
        except subprocess.TimeoutExpired:
            command.kill()


# ---------------------------------------------------------------- measuring


def _floor(browser: Browser, n: int) -> float:
    """p50 of GET static/app.css on the same process with the same cookies."""
    times = [browser.timed("/static/app.css")[0] for _ in range(n)]
    return percentile(times, 50)


def encode_uri_component(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.!~*'()")


def keystrokes(term: str) -> list[str]:
    """What the page's script asks for as ``term`` is typed: the trimmed value after each key, never empty."""
    return [typed.strip() for typed in (term[:n] for n in range(1, len(term) + 1)) if typed.strip()]


def search_terms(database: Database, plan: Plan) -> dict[str, list[str]]:
    """Realistic terms: name fragments and INNs of a salesperson's clients, phones written three ways, emails."""
    rng = random.Random(12)
    found = _queries(database, "ivanov")  # bench.api's realistic terms
    with database.read() as session:
        emails = list(
            session.execute(
                select(ContactKey.key)
                .where(ContactKey.kind == "email")
                .order_by(ContactKey.id)
                .limit(3000)
            ).scalars()
        )
    phones = rng.sample(found["phone (3 formats)"], plan.phones)
    return {
        "name": rng.sample(found["name fragment"], plan.names),
        "phone": phones,
        "INN": rng.sample(found["INN"], plan.inns),
        "email": rng.sample(emails, plan.emails),
    }


def type_all(browser: Browser, terms: dict[str, list[str]]) -> dict[str, list[tuple[int, float]]]:
    """Every term typed; per kind, (characters typed, ms) of each keystroke's request."""
    results = browser.base + "/search/results"
    out: dict[str, list[tuple[int, float]]] = {}
    for kind, items in terms.items():
        for term in items:
            for q in keystrokes(term):
                start = time.perf_counter()
                r = browser.client.get(
                    f"{results}?q={encode_uri_component(q)}", headers={"X-Satchel-Fragment": "1"}
                )
                ms = (time.perf_counter() - start) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{browser.where}: search {q!r} answered {r.status_code}")
                out.setdefault(kind, []).append((len(q), ms))
    return out


def _fmt(ms: float) -> str:
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


@dataclass
class Runs:
    """Per-run p50/p95 of a list of request times, and the floors of those runs."""

    p50: list[float]
    p95: list[float]
    floors: list[float]

    def add(self, times: list[float], floor: float) -> None:
        self.p50.append(percentile(times, 50))
        self.p95.append(percentile(times, 95))
        self.floors.append(floor)

    def result(self, name: str, backend: str, target_ms: float) -> Result:
        p50, p95, floor = median(self.p50), median(self.p95), median(self.floors)
        return Result(
            name,
            backend,
            f"p50 {_fmt(p50)} ms, p95 {_fmt(p95)} ms",
            f"p95 ≤ {target_ms:.0f} ms",
            f"GET static/app.css p50 {floor:.1f} ms",
            f"{p95 / floor:.0f}× (p95)",
            p95 <= target_ms,
            len(self.p95),
        )


def _runs() -> Runs:
    return Runs([], [], [])


def bench_search(
    report: Report,
    browser: Browser,
    backend: str,
    who: str,
    terms: dict[str, list[str]],
    plan: Plan,
) -> None:
    for term in terms["name"][
        : plan.warmup
    ]:  # warm up: the first queries load pages of the database
        type_all(browser, {"warm": [term]})
    runs = _runs()
    kinds: dict[str, list[float]] = {}
    short: list[float] = []
    for _ in range(plan.runs):
        floor = _floor(browser, plan.floor_gets)
        typed = type_all(browser, terms)
        times = [ms for items in typed.values() for _, ms in items]
        runs.add(times, floor)
        for kind, items in typed.items():
            kinds.setdefault(kind, []).append(percentile([ms for _, ms in items], 95))
        short.append(percentile([ms for items in typed.values() for n, ms in items if n <= 2], 95))
    count = sum(len(keystrokes(t)) for items in terms.values() for t in items)
    report.add(
        runs.result(
            f"{browser.where}: search as you type, {who}, 20k counterparties "
            f"({count} keystrokes of {sum(map(len, terms.values()))} terms)",
            backend,
            SEARCH_TARGET_MS,
        )
    )
    by_kind = ", ".join(f"{kind} {_fmt(median(p95s))} ms" for kind, p95s in kinds.items())
    report.notes.append(
        f"{backend}: {browser.where} search p95 by kind (median over runs): {by_kind}; "
        f"keystrokes with 1–2 characters typed: p95 {_fmt(median(short))} ms"
    )


def bench_gets(
    report: Report,
    browser: Browser,
    backend: str,
    name: str,
    path: str,
    gets: int,
    target: float,
    plan: Plan,
) -> httpx.Response:
    for _ in range(plan.warmup):
        last = browser.get(path)
    runs = _runs()
    for _ in range(plan.runs):
        floor = _floor(browser, plan.floor_gets)
        times = []
        for _ in range(gets):
            ms, last = browser.timed(path)
            times.append(ms)
        runs.add(times, floor)
    report.add(runs.result(f"{browser.where}: {name}", backend, target))
    return last


def bench_weight(report: Report, browser: Browser, backend: str, who: str) -> None:
    """The start page's HTML plus every stylesheet and script it links: bytes as decoded and on the wire."""
    page = browser.get("/", headers={"Accept-Encoding": "gzip, br"})
    parts = [("page", len(page.content), page.num_bytes_downloaded)]
    for ref in re.findall(
        r'<(?:link[^>]+rel="stylesheet"[^>]*href|script[^>]+src)="([^"]+)"', page.text
    ):
        asset = browser.client.get(ref, headers={"Accept-Encoding": "gzip, br"})
        asset.raise_for_status()
        parts.append((ref.rsplit("/", 1)[-1], len(asset.content), asset.num_bytes_downloaded))
    total = sum(size for _, size, _ in parts)
    wire = sum(w for _, _, w in parts)
    detail = " + ".join(f"{name} {size / 1024:.1f}" for name, size, _ in parts)
    report.add(
        Result(
            f"{browser.where}: first page (agenda of {who}) HTML + CSS + JS",
            backend,
            f"{total / 1024:.1f} KB ({detail}); on the wire {wire / 1024:.1f} KB",
            f"≤ {WEIGHT_TARGET_KB} KB",
            "—",
            "—",
            total <= WEIGHT_TARGET_KB * 1024,
            1,
        )
    )


# ---------------------------------------------------------------- the data


def _user(database: Database, login: str) -> User:
    with database.read() as session:
        user = session.execute(select(User).where(User.login == login)).scalar_one()
        session.expunge(user)
        return user


def make_history(database: Database, owner_login: str) -> tuple[str, dict[str, int]]:
    """A counterparty of the salesperson with a 500-item history, made through ``crm.records``."""
    rng = random.Random(5)
    owner = _user(database, owner_login)
    now = datetime.now(UTC)
    counts = {"interactions": 300, "letters": 100, "deals": 50, "reminders": 50}

    def ago(days: int) -> str:
        return (now - timedelta(days=days, minutes=rng.randrange(600))).isoformat()

    with database.write() as session:
        actor = session.get(User, owner.id)
        assert actor is not None
        cp = records.create(
            session,
            actor,
            records.record_type("counterparties"),
            {
                "legal_name": HISTORY_NAME,
                "short_name": "Бенчмарк История",
                "kinds": ["client"],
                "stage": "active",
                "contacts": [
                    {"kind": "phone", "value": "+7 495 100-20-30"},
                    {"kind": "email", "value": "info@history.ru"},
                ],
                "notes": "Клиент с долгой историей: пятьсот записей.",
            },
        )
        people = records.create_many(
            session,
            actor,
            records.record_type("contact-persons"),
            [
                {
                    "counterparty_id": cp.id,
                    "full_name": f"Контакт {n} Историев",
                    "position": "закупщик",
                    "contacts": [{"kind": "email", "value": f"p{n}@history.ru"}],
                }
                for n in range(3)
            ],
        )
        deals = records.create_many(
            session,
            actor,
            records.record_type("deals"),
            [
                {
                    "counterparty_id": cp.id,
                    "title": f"Поставка партии {n}",
                    "stage": rng.choice(["new", "proposal", "negotiation"]),
                    "amount": str(rng.randrange(50_000, 5_000_000)),
                    "currency": "RUB",
                }
                for n in range(counts["deals"])
            ],
        )
        calls = [
            {
                "counterparty_id": cp.id,
                "kind": rng.choice(["call", "call", "meeting"]),
                "direction": rng.choice(["incoming", "outgoing"]),
                "status": "done",
                "starts_at": ago(n * 2 + 1),
                "subject": f"Обсуждение заказа №{1000 + n}",
                "contact_person_id": rng.choice(people).id,
                "deal_id": rng.choice(deals).id if rng.random() < 0.3 else None,
                "result": "Договорились о поставке" if n % 3 == 0 else None,
            }
            for n in range(counts["interactions"])
        ]
        letters = [
            {
                "counterparty_id": cp.id,
                "kind": "letter",
                "direction": "incoming" if n % 2 else "outgoing",
                "status": "done",
                "starts_at": ago(n * 6 + 2),
                "subject": f"Re: счёт №{500 + n}",
                "notes": "Добрый день! Во вложении счёт и спецификация. " * 5,
                "participants": [
                    {"role": "from" if n % 2 else "to", "address": f"p{n % 3}@history.ru"}
                ],
            }
            for n in range(counts["letters"])
        ]
        interactions = records.record_type("interactions")
        for chunk in (calls, letters):
            records.create_many(session, actor, interactions, chunk)
        records.create_many(
            session,
            actor,
            records.record_type("reminders"),
            [
                {
                    "title": f"Напомнить про оплату №{n}",
                    "due_at": ago(n * 10 + 3) if n % 5 else (now + timedelta(days=n)).isoformat(),
                    "status": "done" if n % 5 else "open",
                    "subject_type": "counterparty",
                    "subject_id": cp.id,
                }
                for n in range(counts["reminders"])
            ],
        )
        return cp.id, counts


def realistic_day(database: Database, login: str) -> dict[str, int]:
    """The salesperson's day made through ``crm.records``: the demo's stale backlog of reminders worked off
    (the 5 latest overdue kept), 7 contacts planned for today, 8 reminders due today."""
    rng = random.Random(9)
    user = _user(database, login)
    zone = ZoneInfo(TIMEZONE)
    today = datetime.now(zone).date()
    start_of_day = datetime.combine(today, clock(), zone).astimezone(UTC)
    reminders_rt, interactions = (
        records.record_type("reminders"),
        records.record_type("interactions"),
    )
    with database.write() as session:
        actor = session.get(User, user.id)
        assert actor is not None
        stale = list(
            session.execute(
                select(Reminder.id)
                .where(
                    Reminder.assignee_id == user.id,
                    Reminder.due_at < start_of_day,
                    col(Reminder.status).in_(
                        [ReminderStatus.OPEN.value, ReminderStatus.SNOOZED.value]
                    ),
                )
                .order_by(col(Reminder.due_at).desc())
            ).scalars()
        )
        for reminder_id in stale[5:]:
            records.update(session, actor, reminders_rt, reminder_id, {"status": "done"})
        mine = list(
            session.execute(
                select(Counterparty.id)
                .where(Counterparty.owner_id == user.id)
                .order_by(Counterparty.id)
                .limit(500)
            ).scalars()
        )

        def at(hour: int, minute: int = 0) -> str:
            return datetime.combine(today, clock(hour, minute), zone).isoformat()

        records.create_many(
            session,
            actor,
            interactions,
            [
                {
                    "counterparty_id": rng.choice(mine),
                    "kind": kind,
                    "direction": "outgoing",
                    "status": "planned",
                    "starts_at": at(hour, 30 if n % 2 else 0),
                    "subject": f"{subject} по заказу №{2000 + n}",
                    "duration_minutes": 60 if kind == "meeting" else 15,
                }
                for n, (hour, kind, subject) in enumerate(
                    [
                        (9, "call", "Звонок"),
                        (10, "call", "Звонок"),
                        (11, "meeting", "Встреча"),
                        (13, "call", "Звонок"),
                        (14, "call", "Звонок"),
                        (15, "meeting", "Встреча"),
                        (17, "call", "Звонок"),
                    ]
                )
            ],
        )
        records.create_many(
            session,
            actor,
            reminders_rt,
            [
                {
                    "title": f"Отправить прайс-лист клиенту №{n}",
                    "due_at": at(10 + n),
                    "status": "open",
                    "subject_type": "counterparty",
                    "subject_id": rng.choice(mine),
                }
                for n in range(8)
            ],
        )
    return {"stale reminders marked done": max(0, len(stale) - 5)}


def agenda_counts(database: Database, login: str) -> str:
    with database.read() as session:
        user = session.execute(select(User).where(User.login == login)).scalar_one()
        day = agenda.for_user(session, user, ZoneInfo(TIMEZONE))
        overdue = sum(1 for r, _ in day.reminders if r.due_at < day.now)
    return (
        f"{len(day.planned)} planned contacts, {len(day.reminders)} reminders ({overdue} overdue), "
        f"{len(day.birthdays)} birthdays"
    )


# ---------------------------------------------------------------- the benchmark


def bench_web(
    report: Report, base: str, database: Database, backend: str, plan: Plan = FULL
) -> None:
    started = time.perf_counter()
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    seller, office = "ivanov", "office"
    terms = search_terms(database, plan)
    notes = report.notes
    today: date = datetime.now(ZoneInfo(TIMEZONE)).date()

    # The agenda as the demo left it (dated demo.DEFAULT_TODAY): the backlog a month on.
    loaded_day = agenda_counts(database, seller)
    with server_browser(base, seller) as browser:
        bench_gets(
            report,
            browser,
            backend,
            f"agenda of the salesperson, demo as loaded ({loaded_day})",
            "/",
            plan.agenda_gets,
            AGENDA_TARGET_MS,
            plan,
        )

    t = time.perf_counter()
    card_id, history = make_history(database, seller)
    day_made = realistic_day(database, seller)
    day = agenda_counts(database, seller)
    notes.append(
        f"{backend}: made through crm.records in {time.perf_counter() - t:.1f} s: a counterparty of "
        f"{seller} with a history of "
        + ", ".join(f"{n} {k}" for k, n in history.items())
        + f" (and 3 contact persons); {seller}'s day {today}: {day} "
        f"({day_made['stale reminders marked done']} stale reminders of the demo marked done first)"
    )
    card_name = (
        f"counterparty card, {sum(history.values())}-item history, as its owner (the salesperson)"
    )

    def card_events(page: httpx.Response) -> int:
        return page.text.count('<li class="event ')

    def server_side() -> None:
        with server_browser(base, office) as browser:
            bench_search(report, browser, backend, "office user", terms, plan)
        with server_browser(base, seller) as browser:
            page = bench_gets(
                report,
                browser,
                backend,
                card_name,
                f"/counterparties/{card_id}",
                plan.card_gets,
                CARD_TARGET_MS,
                plan,
            )
            notes.append(
                f"{backend}: server UI card shows {card_events(page)} events of the "
                f"{sum(history.values())} ({len(page.content) / 1024:.0f} KB of HTML)"
            )
            bench_gets(
                report,
                browser,
                backend,
                f"agenda of the salesperson, realistic day ({day})",
                "/",
                plan.agenda_gets,
                AGENDA_TARGET_MS,
                plan,
            )
            bench_weight(report, browser, backend, "the salesperson")

    def laptop_side() -> None:
        with laptop_browser(base, office, notes) as browser:
            bench_search(report, browser, backend, "office user's replica", terms, plan)
        with laptop_browser(base, seller, notes) as browser:
            page = bench_gets(
                report,
                browser,
                backend,
                card_name,
                f"/counterparties/{card_id}",
                plan.card_gets,
                CARD_TARGET_MS,
                plan,
            )
            notes.append(
                f"{backend}: laptop UI card shows {card_events(page)} events of the "
                f"{sum(history.values())} ({len(page.content) / 1024:.0f} KB of HTML)"
            )
            bench_gets(
                report,
                browser,
                backend,
                f"agenda of the salesperson, realistic day ({day})",
                "/",
                plan.agenda_gets,
                AGENDA_TARGET_MS,
                plan,
            )
            bench_weight(report, browser, backend, "the salesperson")

    server_side()
    laptop_side()
    floors = {}
    for r in report.results:
        if r.backend == backend and "static/app.css" in r.floor:
            floors.setdefault(r.name.split(":")[0], []).append(
                float(r.floor.split("p50 ")[1].split(" ms")[0])
            )
    server_floor, laptop_floor = (
        median(floors.get("server UI", [0.0])),
        median(floors.get("laptop UI", [0.0])),
    )
    if server_floor and laptop_floor > 5 * server_floor:
        notes.append(
            f"{backend}: the laptop UI's floor (a static file) is {laptop_floor:.0f} ms against the server UI's "
            f"{server_floor:.1f} ms: `satchel-field ui` hands uvicorn a listening socket made with "
            "socket.socket(AF_INET, SOCK_STREAM), whose proto is 0, so asyncio does not set TCP_NODELAY on the "
            "connections it accepts (it does only for proto IPPROTO_TCP) and every response whose headers and "
            "body go out in two writes waits for the client's delayed ACK (about 40 ms on Linux). The same app "
            "with the socket made with IPPROTO_TCP serves the file in about 2 ms (checked by hand on this "
            "machine). The laptop UI's figures include that wait on every request."
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    notes.append(
        f"{backend}: web benchmark took {time.perf_counter() - started:.0f} s (without the demo load); "
        f"load average at its start {load_start}, at its end {load} (1, 5, 15 min) on 2 cores"
    )


def notes(plan: Plan) -> list[str]:
    return [
        f"web: every figure is the median over {plan.runs} runs of each run's p50/p95; the floor is the median of "
        f"the runs' p50 of {plan.floor_gets} GETs of static/app.css on the same process with the same cookies. "
        f"Card and agenda: {plan.card_gets} and {plan.agenda_gets} GETs a run; search: every keystroke of every "
        f"term a run ({plan.names} name fragments of 4+ letters, {plan.phones} phones written +7…, 8 (…) …-…-… "
        f"or …-…-…, {plan.inns} INNs, {plan.emails} emails), after {plan.warmup} warm-up terms.",
        "web: server UI = the benchmark's server process (one uvicorn worker, SQLite file); laptop UI = "
        "`satchel-field ui` as its own process over its SQLCipher replica, bootstrapped by `satchel-field sync` "
        "(SyncAgent) from that server. Client and server share the machine's 2 cores; the machine was loaded by "
        "other work during the run (load average in the notes), so read the ratios to the floor as well.",
        "web: search requests are sent exactly as web/static/app.js sends them (data-results?q=encodeURIComponent"
        "(value.trim()), header X-Satchel-Fragment: 1), one per keystroke: the script's 120 ms debounce is not "
        "applied, so a fast typist sends fewer than measured here.",
    ]
