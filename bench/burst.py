"""Past one process (issue 16): a morning's burst of laptops against 1, 2 and 4 server processes.

``python -m bench.burst [--processes 1 2 4] [--devices 500] [--rounds 3] [--spread 60]``, on
PostgreSQL (SQLite is one process: ``satchel serve --workers`` refuses more there, and the rows say
so). The demo company of size medium is loaded into a throwaway database; ``--devices`` laptops
are registered, each with a counterparty of its own it may change (as in ``bench.sync``). For each
process count, ``satchel serve --workers N`` runs in a child process and:

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

FLOOR_RUNS = 20


def bench(report: Report, backend: str, url: str, args: argparse.Namespace) -> None:
    if backend != "postgresql":
        report.notes.append(
            "sqlite: one server process only (satchel serve --workers N > 1 is refused on SQLite); "
            "its 500-device rows are bench.sync's"
        )
        return
    fleet, base_version = medium_company(
        url,
        lambda database: (
            sync._register_devices(database, args.devices),
            sync._current_version(database),
        ),
    )
    for workers, base in each_process_count(url, args.processes):
        _bench_processes(report, base, backend, workers, fleet, base_version, args)


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
    for _ in range(args.rounds):
        retried: list[int] = []
        times, errors, _spread, wall = asyncio.run(
            sync._round(base, fleet, base_version, None, retried)
        )
        p50s.append(percentile(times, 50))
        p99s.append(percentile(times, 99))
        rates.append(len(fleet) / wall)
        busy.append(sum(retried))
        error_count += len(errors)
        example = example or (errors[0] if errors else "")
    p99, rate = median(p99s), median(rates)
    plural = "process" if workers == 1 else "processes"
    report.add(
        Result(
            f"{len(fleet)} laptops released together (push 1 change + pull), {workers} server {plural}",
            backend,
            f"p50 {median(p50s):.0f} ms, p99 {p99:.0f} ms, {rate:.0f} syncs/s; errors {error_count}; "
            f"503 answers waited out {median(busy):.0f}",
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
