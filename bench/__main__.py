"""Run every benchmark on SQLite and PostgreSQL and write bench/RESULTS.md.

    python -m bench [--only sqlite|postgresql] [--size large] [--only-bench api|calendar|sync|mail|web ...] [--quick]

``--only-bench`` (repeatable) runs just those benchmarks; with only ``sync``,
``mail`` or ``web`` the other sections of RESULTS.md are kept and the "Sync",
"Mail" or "Web UI" section is replaced (``web``: the web UI over HTTP, bench/web.py;
``python -m bench --only sqlite --only-bench web``). The mail benchmark makes its own databases and a private
Dovecot; ``python -m bench --only-bench mail`` does not load the demo company.
``--quick`` runs the sync, mail and web benchmarks small and short, to try them out; it writes nothing.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

if __name__ != "__mp_main__":  # not in the mail parse workers: see bench/mail.py
    from bench import api, calendar, mail, sync, web
    from bench.harness import ROOT, WORK, Report, pg_database, running_server
    from crm import demo
    from crm.database import Database
    from server import migrate

BENCHES = ["api", "calendar", "sync", "mail", "web"]
SECTIONED = {"sync", "mail", "web"}  # benchmarks with a section of their own in RESULTS.md
DEMO_BENCHES = {"api", "calendar", "sync", "web"}  # these run on the loaded demo company


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
    parser.add_argument(
        "--only-bench",
        action="append",
        choices=BENCHES,
        help="run only these benchmarks (repeat the flag for several); default: all",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="sync, mail and web benchmarks small and short, to try them out; RESULTS.md is not written",
    )
    args = parser.parse_args()
    benches = set(args.only_bench or BENCHES)
    others = bool(benches - SECTIONED)
    plan = sync.QUICK if args.quick else sync.FULL
    mail_plan = mail.QUICK if args.quick else mail.FULL
    web_plan = web.QUICK if args.quick else web.FULL
    report, sync_report, mail_report, web_report = Report(), Report(), Report(), Report()
    started = time.perf_counter()
    try:
        run(
            args,
            benches,
            others,
            plan,
            report,
            sync_report,
            mail_plan,
            mail_report,
            web_plan,
            web_report,
        )
    except BaseException as exc:
        # Keep what was measured before the failure; the note says where it stopped.
        aborted = (
            report
            if others
            else sync_report
            if "sync" in benches
            else web_report
            if "web" in benches
            else mail_report
        )
        aborted.notes.append(f"run aborted: {type(exc).__name__}: {exc}"[:300])
        write(args, benches, others, plan, report, sync_report, mail_report, web_plan, web_report)
        raise
    print(f"benchmarks took {time.perf_counter() - started:.0f} s")
    write(args, benches, others, plan, report, sync_report, mail_report, web_plan, web_report)


def run(
    args: argparse.Namespace,
    benches: set[str],
    others: bool,
    plan: sync.Plan,
    report: Report,
    sync_report: Report,
    mail_plan: mail.Plan,
    mail_report: Report,
    web_plan: web.Plan,
    web_report: Report,
) -> None:
    with ExitStack() as stack:
        boxes = stack.enter_context(mail.mailboxes(mail_plan)) if "mail" in benches else None
        first = True
        for backend in ("sqlite", "postgresql"):
            if args.only and backend != args.only:
                continue
            if benches & DEMO_BENCHES:
                run_on_demo(
                    args, benches, others, plan, report, sync_report, backend, web_plan, web_report
                )
            if boxes is not None:
                mail.bench_mail(mail_report, backend, boxes, once=first)
            first = False
        if boxes is not None:
            mail_report.notes += mail.notes(boxes)


def run_on_demo(
    args: argparse.Namespace,
    benches: set[str],
    others: bool,
    plan: sync.Plan,
    report: Report,
    sync_report: Report,
    backend: str,
    web_plan: web.Plan,
    web_report: Report,
) -> None:
    """The benchmarks that need the demo company, on ``backend``."""
    with loaded(backend, args.size) as (url, database, seconds):
        s = demo.SIZES[args.size]
        (report if others else sync_report if "sync" in benches else web_report).notes.append(
            f"{backend}: demo company loaded in {seconds:.1f} s ({s.counterparties} counterparties, "
            f"{s.contact_persons} contact persons, {s.interactions} interactions)"
        )
        with running_server(url) as base:
            if "sync" in benches:  # first: it bootstraps the demo company as loaded
                sync.bench_sync(sync_report, base, database, backend, plan)
            if "api" in benches:
                api.bench_search(report, base, database, backend)
                api.bench_create(report, base, database, backend)
            if "calendar" in benches:
                calendar.bench_calendar(report, base, database, backend)
            if (
                "web" in benches
            ):  # last: it adds records (a long history, a salesperson's day) to the demo
                web.bench_web(web_report, base, database, backend, web_plan)
    if "sync" in benches:
        sync.bench_noop(sync_report, backend, plan)


def write(
    args: argparse.Namespace,
    benches: set[str],
    others: bool,
    plan: sync.Plan,
    report: Report,
    sync_report: Report,
    mail_report: Report,
    web_plan: web.Plan,
    web_report: Report,
) -> None:
    if args.quick:
        print("--quick: RESULTS.md not written")
        return
    path = ROOT / "bench" / "RESULTS.md"
    if others:
        report.notes.append(
            f"search: {api.REQUESTS_PER_KIND} requests per kind per run, {api.ROUNDS} runs; "
            "figures are the median over runs of each run's p50/p95; one uvicorn worker."
        )
        ran = benches & {"api", "calendar"}

        def keep_row(name: str, database: str) -> bool:
            group = "calendar" if name.startswith("calendar") else "api"
            return group not in ran or (args.only is not None and database != args.only)

        partial = ran != {"api", "calendar"} or args.only is not None
        report.write(path, keep_row=keep_row if partial else None)
    if "sync" in benches:
        sync_report.notes += sync.notes(plan)
        command = (
            "python -m bench"
            + (f" --only {args.only}" if args.only else "")
            + ("" if others else " --only-bench sync")
        )
        sync_report.write_section(path, "Sync", command, keep_others=bool(args.only))
    if "mail" in benches:
        command = (
            "python -m bench"
            + (f" --only {args.only}" if args.only else "")
            + ("" if others or "sync" in benches else " --only-bench mail")
        )
        mail_report.write_section(path, "Mail", command, keep_others=bool(args.only))
    if "web" in benches:
        web_report.notes += web.notes(web_plan)
        command = (
            "python -m bench"
            + (f" --only {args.only}" if args.only else "")
            + ("" if others or benches & {"sync", "mail"} else " --only-bench web")
        )
        web_report.write_section(path, "Web UI", command, keep_others=bool(args.only))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
