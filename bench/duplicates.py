"""Duplicate scan of 50,000 counterparties (``crm.duplicates``); target ≤ 10 s.

    python -m bench.duplicates [--only sqlite|postgresql] [--counterparties 50000]

The demo's generator makes the base (50,000 counterparties with 60,000 contact persons,
about 1 % of them near-duplicates of another under another spelling, with the same INN
or the same phone), loaded once per database. Each run scans it as an office user (the
whole base) and as a salesperson (their own, their team's and what is shared with them).
The floor is the scan's own reads — six columns of the counterparties the user sees and
the search index's phones, e-mails, domains and INNs that more than one counterparty holds
— timed in the same run: what remains is the comparing. Medians of 3 runs; the section "Duplicates" of bench/RESULTS.md.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bench.harness import Report, Result, median, run_standalone
from crm import demo, duplicates
from crm.database import Database
from crm.models import User
from server import migrate

RUNS = 3
TARGET_SECONDS = 10.0
TODAY = date(2026, 12, 1)


def _timed(work: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def _reads(database: Database, user: User) -> int:
    """What the scan reads, and nothing else: the floor."""
    with database.read() as session:
        return len(duplicates.counterparty_rows(session, user)) + len(
            duplicates.shared_keys(session)
        )


def bench(report: Report, backend: str, url: str, size: demo.DemoSize) -> None:
    database = Database(url)
    try:
        migrate.upgrade(database)
        started = time.perf_counter()
        demo.load(database, demo.build(size, 1, TODAY))
        report.notes.append(
            f"{backend}: {size.counterparties} counterparties and {size.contact_persons} contact "
            f"persons loaded in {time.perf_counter() - started:.1f} s"
        )
        with database.read() as session:
            users = {
                login: session.execute(select(User).where(col(User.login) == login)).scalar_one()
                for login in ("office", "ivanov")
            }
        for login, who in (("office", "office user, whole base"), ("ivanov", "salesperson")):
            user = users[login]
            floors, scans = [], []
            found: duplicates.Scan | None = None
            for _ in range(RUNS):
                floors.append(_timed(lambda user=user: _reads(database, user))[0])

                def scan(user: User = user) -> duplicates.Scan:
                    with database.read() as session:
                        return duplicates.scan(session, user)

                seconds, result = _timed(scan)
                scans.append(seconds)
                assert isinstance(result, duplicates.Scan)
                found = result
            assert found is not None
            figure, floor = median(scans), median(floors)
            report.add(
                Result(
                    f"duplicate scan of {size.counterparties:,} counterparties as {who}",
                    backend,
                    f"{figure:.2f} s ({len(found.candidates)} pairs, {len(found.branches)} branch groups)",
                    f"≤ {TARGET_SECONDS:.0f} s",
                    f"the scan's reads {floor:.2f} s",
                    f"{figure / floor:.1f}×" if floor else "—",
                    figure <= TARGET_SECONDS,
                    RUNS,
                )
            )
            reasons = Counter(r for c in found.candidates for r in c.reasons)
            report.notes.append(
                f"{backend}, {login}: scans {', '.join(f'{s:.2f}' for s in scans)} s, reads "
                f"{', '.join(f'{s:.2f}' for s in floors)} s; pairs by reason: "
                + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            )
    finally:
        database.dispose()


def main() -> None:
    def run(report: Report, backend: str, url: str, _folder: Path, args: Any) -> None:
        n = args.counterparties
        bench(report, backend, url, demo.DemoSize(n, n * 6 // 5, 0, 0, 0))

    run_standalone(
        "bench.duplicates",
        __doc__,
        "Duplicates",
        lambda parser: parser.add_argument("--counterparties", type=int, default=50_000),
        run,
    )


if __name__ == "__main__":
    main()
