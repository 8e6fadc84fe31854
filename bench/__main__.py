"""Run every benchmark on SQLite and PostgreSQL and write bench/RESULTS.md.

    python -m bench [--only sqlite|postgresql] [--size large]
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from bench import api, calendar
from bench.harness import ROOT, WORK, Report, pg_database, running_server
from crm import demo
from crm.database import Database
from server import migrate


@contextmanager
def loaded(backend: str, size: str) -> Iterator[tuple[str, Database, float]]:
    """A database of ``backend`` with the demo company of ``size``; yields url, db, load seconds."""
    with ExitStack() as stack:
        if backend == "sqlite":
            shutil.rmtree(WORK, ignore_errors=True)
            WORK.mkdir(parents=True)
            url = f"sqlite:///{WORK / 'bench.db'}"
        else:
            url = stack.enter_context(pg_database())
        database = Database(url)
        stack.callback(database.dispose)
        migrate.upgrade(database)
        start = time.perf_counter()
        demo.generate(database, size, seed=1)
        yield url, database, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--size", default="large", choices=sorted(demo.SIZES))
    args = parser.parse_args()
    report = Report()
    for backend in ("sqlite", "postgresql"):
        if args.only and backend != args.only:
            continue
        with loaded(backend, args.size) as (url, database, seconds):
            s = demo.SIZES[args.size]
            report.notes.append(f"{backend}: demo company loaded in {seconds:.1f} s ({s.counterparties} counterparties, "
                                f"{s.contact_persons} contact persons, {s.interactions} interactions)")
            with running_server(url) as base:
                api.bench_search(report, base, database, backend)
                api.bench_create(report, base, database, backend)
                calendar.bench_calendar(report, base, database, backend)
    report.notes.append(f"search: {api.REQUESTS_PER_KIND} requests per kind per run, {api.ROUNDS} runs; "
                        "figures are the median over runs of each run's p50/p95; one uvicorn worker.")
    report.write(ROOT / "bench" / "RESULTS.md")
    print(f"wrote {ROOT / 'bench' / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
