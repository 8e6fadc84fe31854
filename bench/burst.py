"""Past one process (issue 16): a morning's burst of laptops against 1, 2 and 4 server processes.

``python -m bench.burst [--processes 1 2 4] [--devices 500] [--rounds 3] [--spread 60]``, on
PostgreSQL (SQLite is one process: ``satchel serve --workers`` refuses more there, and the rows say
so). The demo company of size medium is loaded into a throwaway database, and ``--devices`` laptops
are registered, each with a counterparty of its own it may change. ``--fleet company`` (the
default) gives each laptop to a person of its own, as in a company with that many people on the
road: one in 25 an office user (who sees every record), the rest in teams of 20 (a manager and 19
salespeople), each the owner of the client their laptop changes (the demo's mix of private, team
and company-wide clients). ``--fleet demo`` shares the laptops among the demo's seven users (as in
``bench.sync``): a stress case, where every pull carries most of the round. For each process count,
``satchel serve --workers N`` runs in a child process and:

* the floor: one laptop's sync (push one change, pull until done) with the server otherwise idle,
  the median of 20;
* ``--rounds`` rounds of all laptops released together (one asyncio event, a connection each);
* one round spread at random over ``--spread`` seconds.

A laptop answered ``503`` (the server's ``sync_queue_limit`` per process) waits ``Retry-After``
plus up to half again at random and tries again, as the sync agent does; its latency includes the
waits, and the rows count them. Targets (issue 16): released together, no errors, p99 ≤ 3 s and at
least 150 syncs/s; spread, p99 ≤ 250 ms. The benchmark's client shares the machine's cores with the
server processes and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy import select, update
from sqlmodel import col

from bench import sync
from bench.harness import (
    Report,
    Result,
    each_process_count,
    median,
    medium_company,
    percentile,
    run_standalone,
)
from crm import accounts
from crm.database import Database
from crm.models import Counterparty
from crm.models.enums import Role

FLOOR_RUNS = 20
OFFICE_EVERY = 25  # one laptop in 25 is an office user's
TEAM_SIZE = 20  # a manager and 19 salespeople


def bench(report: Report, backend: str, url: str, args: argparse.Namespace) -> None:
    if backend != "postgresql":
        report.notes.append(
            "sqlite: one server process only (satchel serve --workers N > 1 is refused on SQLite); "
            "its 500-device rows are bench.sync's"
        )
        return
    register = _company_fleet if args.fleet == "company" else sync._register_devices
    fleet, base_version = medium_company(
        url,
        lambda database: (register(database, args.devices), sync._current_version(database)),
    )
    report.notes.append(f"{backend}: {_FLEETS[args.fleet].format(devices=args.devices)}")
    for workers, base in each_process_count(url, args.processes):
        _bench_processes(report, base, backend, workers, fleet, base_version, args)


_FLEETS = {
    "company": (
        "--fleet company: {devices} laptops of {devices} people (one in "
        f"{OFFICE_EVERY} an office user, the rest in teams of {TEAM_SIZE}: a manager and "
        f"{TEAM_SIZE - 1} salespeople), each changing a client of their own"
    ),
    "demo": "--fleet demo: {devices} laptops shared among the demo's 7 users (a stress case)",
}


def _company_fleet(database: Database, count: int) -> list[tuple[sync._Device, str]]:
    """``count`` people, a laptop each, each the owner of one of the demo's clients (their
    visibility as the demo drew it): office users, then teams of a manager and salespeople."""
    with database.write() as session:
        clients = list(
            session.execute(
                select(col(Counterparty.id)).order_by(col(Counterparty.id)).limit(count)
            ).scalars()
        )
        if len(clients) < count:
            raise RuntimeError(f"the demo has only {len(clients)} counterparties")
        out: list[tuple[sync._Device, str]] = []
        for n, client in enumerate(clients):
            if n % OFFICE_EVERY == 0:
                role, team = Role.OFFICE, None
            else:
                place = n - n // OFFICE_EVERY - 1  # among the teams' people
                team = f"Команда {place // TEAM_SIZE + 1}"
                role = Role.MANAGER if place % TEAM_SIZE == 0 else Role.SALESPERSON
            user = accounts.create_user(
                session, login=f"road{n}", full_name=f"Сотрудник {n}", role=role, team=team
            )
            session.execute(
                update(Counterparty).where(col(Counterparty.id) == client).values(owner_id=user.id)
            )
            laptop, token = accounts.register_device(session, user, f"bench-laptop-{n}")
            out.append((sync._Device(token, laptop.id), client))
    # Each laptop up to date before the rounds (the new colleagues and teams are synced records).
    cursor = str(sync._current_version(database))
    for known, _client in out:
        known.cursor = cursor
    return out


def _bench_processes(
    report: Report,
    base: str,
    backend: str,
    workers: int,
    fleet: list[tuple[sync._Device, str]],
    base_version: int,
    args: argparse.Namespace,
) -> None:
    alone: list[float] = []
    for device, cp in fleet[:FLOOR_RUNS]:
        times, errors, _, _ = asyncio.run(sync._round(base, [(device, cp)], base_version, None))
        if errors:
            raise RuntimeError(errors[0])
        alone += times
    floor = percentile(alone, 50)
    p50s, p99s, rates, busy, error_count, example = [], [], [], [], 0, ""
    pulled: list[float] = []
    for _ in range(args.rounds):
        retried: list[int] = []
        before = sum(device.pulled for device, _cp in fleet)
        times, errors, _spread, wall = asyncio.run(
            sync._round(base, fleet, base_version, None, retried)
        )
        p50s.append(percentile(times, 50))
        p99s.append(percentile(times, 99))
        rates.append(len(fleet) / wall)
        busy.append(sum(retried))
        pulled.append(sum(device.pulled for device, _cp in fleet) - before)
        error_count += len(errors)
        example = example or (errors[0] if errors else "")
    p99, rate = median(p99s), median(rates)
    plural = "process" if workers == 1 else "processes"
    report.add(
        Result(
            f"{len(fleet)} laptops released together (push 1 change + pull), {workers} server {plural}",
            backend,
            f"p50 {median(p50s):.0f} ms, p99 {p99:.0f} ms, {rate:.0f} syncs/s; errors {error_count}; "
            f"503 answers waited out {median(busy):.0f}; {median(pulled):,.0f} records pulled a round",
            "no errors, p99 ≤ 3 s, ≥ 150 syncs/s",
            f"one laptop alone p50 {floor:.0f} ms",
            f"{p99 / floor:.0f}× (p99)",
            error_count == 0 and p99 <= 3000 and rate >= 150,
            args.rounds,
        )
    )
    retried = []
    times, errors, _spread, _wall = asyncio.run(
        sync._round(base, fleet, base_version, args.spread, retried)
    )
    p99 = percentile(times, 99)
    report.add(
        Result(
            f"{len(fleet)} laptops spread at random over {args.spread:.0f} s, "
            f"{workers} server {plural}",
            backend,
            f"p50 {percentile(times, 50):.0f} ms, p99 {p99:.0f} ms; errors {len(errors)}; "
            f"503 answers waited out {sum(retried)}",
            "no errors, p99 ≤ 250 ms",
            f"one laptop alone p50 {floor:.0f} ms",
            f"{p99 / floor:.0f}× (p99)",
            not errors and p99 <= 250,
            1,
        )
    )
    if error_count or errors:
        report.notes.append(f"{backend}, {workers} {plural}: errors, e.g. {example or errors[0]}")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument(
        "--fleet",
        choices=sorted(_FLEETS),
        default="company",
        help="whose laptops: a person each (company) or the demo's 7 users sharing them (demo)",
    )


def main() -> None:
    run_standalone(
        "bench.burst",
        __doc__,
        "Burst",
        _arguments,
        lambda report, backend, url, _folder, args: bench(report, backend, url, args),
    )


if __name__ == "__main__":
    main()
