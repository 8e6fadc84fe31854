"""Calendar feed benchmarks over a real server process.

* build: a feed of 1,000 planned meetings, fetched without validators; target
  p95 ≤ 150 ms. Floor: ``GET /healthz`` on the same server.
* revalidate: the same feed polled with its ETag; target a 304 in ≤ 10 ms
  (p95), built without building the feed.
* polls: with nothing changed, the share of polls answered 304; target ≥ 95 %.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from bench.harness import Report, Result, median, percentile
from calendar_bridge import tokens
from crm import accounts, changes, records
from crm.database import Database
from crm.models import Counterparty, User

EVENTS = 1_000
RUNS = 3
FETCHES = 30
POLLS = 200


def _prepare(database: Database) -> str:
    """A salesperson with 1,000 planned meetings in the coming months; returns the feed's path."""
    with database.write() as session:
        # An office user sees every counterparty and may plan meetings with any of them.
        owner = accounts.create_user(
            session, login="calendar-bench", full_name="Календарёв Кирилл", role="office"
        )
        cps = list(session.execute(select(Counterparty.id).limit(EVENTS)).scalars())
        owner_row = session.get_one(User, owner.id)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        rt = records.record_type("interactions")
        items = [
            {
                "counterparty_id": cps[i % len(cps)],
                "kind": "meeting",
                "status": "planned",
                "subject": f"Презентация коллекции №{i}",
                "starts_at": (start + timedelta(hours=5 * i)).isoformat(),
                "duration_minutes": 60,
                "remind_at": (start + timedelta(hours=5 * i, minutes=-30)).isoformat(),
                "notes": "Взять каталог, образцы колец и прайс на серебро.",
            }
            for i in range(EVENTS)
        ]
        for i in range(0, EVENTS, 500):
            records.create_many(session, owner_row, rt, items[i : i + 500])
        _, token = tokens.issue(session, owner_row, "plan")
    return f"/calendar/{token}.ics"


def bench_calendar(report: Report, base: str, database: Database, backend: str) -> None:
    path = _prepare(database)
    with httpx.Client(base_url=base, timeout=30) as client:
        first = client.get(path)
        first.raise_for_status()
        events = first.content.count(b"BEGIN:VEVENT")
        floor = median([median(_times(client, "/healthz", {}, FETCHES)) for _ in range(RUNS)])
        # Cold: the data version moves before every fetch, as after any write in the company,
        # so each answer is built afresh. Warm: nothing changed, a client without validators.
        builds = [
            percentile(_times(client, path, {}, FETCHES, before=lambda: _touch(database)), 95)
            for _ in range(RUNS)
        ]
        warm = [percentile(_times(client, path, {}, FETCHES), 95) for _ in range(RUNS)]
        etag = first.headers["etag"]
        revalidations = [
            percentile(_times(client, path, {"If-None-Match": etag}, POLLS), 95)
            for _ in range(RUNS)
        ]
        not_modified = 0
        for _ in range(POLLS):
            r = client.get(path, headers={"If-None-Match": etag})
            not_modified += r.status_code == 304
            etag = r.headers.get("etag", etag)
    build_p95, revalidate_p95 = median(builds), median(revalidations)
    size = len(first.content)
    report.add(
        Result(
            f"calendar feed of {events} events built afresh ({size // 1024} KB)",
            backend,
            f"p95 {build_p95:.0f} ms",
            "p95 ≤ 150 ms",
            f"healthz p50 {floor:.1f} ms",
            f"{build_p95 / floor:.0f}×",
            build_p95 <= 150 and size < 1_000_000,
            RUNS,
        )
    )
    report.add(
        Result(
            "calendar feed fetched unchanged without validators (cached)",
            backend,
            f"p95 {median(warm):.0f} ms",
            "—",
            f"healthz p50 {floor:.1f} ms",
            f"{median(warm) / floor:.0f}×",
            True,
            RUNS,
        )
    )
    report.add(
        Result(
            "calendar feed revalidated (304)",
            backend,
            f"p95 {revalidate_p95:.1f} ms",
            "p95 ≤ 10 ms",
            f"healthz p50 {floor:.1f} ms",
            f"{revalidate_p95 / floor:.1f}×",
            revalidate_p95 <= 10,
            RUNS,
        )
    )
    share = 100 * not_modified / POLLS
    report.add(
        Result(
            "calendar polls with nothing changed answered 304",
            backend,
            f"{share:.0f} %",
            "≥ 95 %",
            "—",
            "—",
            share >= 95,
            1,
        )
    )


def _touch(database: Database) -> None:
    with database.write() as session:
        changes.bump(session)


def _times(
    client: httpx.Client,
    path: str,
    headers: dict[str, str],
    n: int,
    before: Callable[[], None] | None = None,
) -> list[float]:
    out = []
    for _ in range(n):
        if before is not None:
            before()
        start = time.perf_counter()
        client.get(path, headers=headers)
        out.append((time.perf_counter() - start) * 1000)
    return out
