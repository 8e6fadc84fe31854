"""Single-request writes with the server's workers (issue 16): 1, 2 and 4 server processes on PostgreSQL.

``python -m bench.writes [--processes 1 2 4] [--creates 2000] [--clients 8]``. The demo company of
size medium is loaded into a throwaway database (as in ``bench.burst``); for each process count
``satchel serve --workers N`` runs in a child process, and a salesperson (``ivanov``) creates
``--creates`` interactions under their own clients, one ``POST /api/v1/interactions`` each, from
``--clients`` keep-alive connections at once. The floor, measured in the same run against the same
processes from the same connections and alternating with the creations: as many ``GET /healthz``
(the cheapest answer the server gives). Medians of 3 runs. Target (issue 16): ≥ 500 creations a
second with the workers. The benchmark's client shares the machine's cores with the server
processes and PostgreSQL; SQLite is one process (its single-request row is ``bench.api``'s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import httpx

from bench import api
from bench.harness import Report, Result, each_process_count, median, medium_company, run_standalone

RUNS = 3


def bench(report: Report, backend: str, url: str, args: argparse.Namespace) -> None:
    if backend != "postgresql":
        report.notes.append(
            "sqlite: one server process only (satchel serve --workers N > 1 is refused on SQLite); "
            "its single-request row is bench.api's"
        )
        return
    bodies = medium_company(url, lambda database: api._interaction_bodies(database, args.creates))
    for workers, base in each_process_count(url, args.processes):
        _bench_creates(report, base, backend, workers, bodies, args.clients)
    report.notes.append(
        f"{backend}: the medium demo company; {args.creates:,} interactions a run under the "
        f"salesperson's own clients, {args.clients} connections at once, {RUNS} runs alternating "
        "with the floor; figures are medians"
    )


def _busy() -> float:
    """CPU seconds the whole machine has spent busy so far (every process: server, PostgreSQL, this one)."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _measured(
    base: str, headers: dict[str, str], calls: list[tuple[str, str, Any]], clients: int
) -> tuple[float, float, float]:
    """(requests a second, ms of this client's CPU a request, ms of the machine's CPU a request)."""
    busy, mine = _busy(), time.process_time()
    rate = asyncio.run(_requests(base, headers, calls, clients))
    mine, busy = time.process_time() - mine, _busy() - busy
    return rate, 1000 * mine / len(calls), 1000 * busy / len(calls)


async def _requests(
    base: str, headers: dict[str, str], calls: list[tuple[str, str, Any]], clients: int
) -> float:
    """Send every (method, path, JSON body) from ``clients`` keep-alive connections, each sending its
    share one after another; returns the requests a second over the whole."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def send(share: list[tuple[str, str, Any]]) -> None:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=120, limits=limits
        ) as client:
            for method, path, body in share:
                r = await client.request(method, path, json=body)
                if r.status_code >= 300:
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")

    start = time.perf_counter()
    await asyncio.gather(*(send(calls[i::clients]) for i in range(clients)))
    return len(calls) / (time.perf_counter() - start)


def _bench_creates(
    report: Report,
    base: str,
    backend: str,
    workers: int,
    bodies: list[dict[str, Any]],
    clients: int,
) -> None:
    headers = api._login(base, "ivanov")
    plural = "process" if workers == 1 else "processes"
    floors, rates, costs = [], [], []
    for _ in range(RUNS):
        health = [("GET", "/healthz", None)] * len(bodies)
        floor_rate, floor_client, floor_all = _measured(base, headers, health, clients)
        floors.append(floor_rate)
        creates = [("POST", "/api/v1/interactions", body) for body in bodies]
        rate, client, everything = _measured(base, headers, creates, clients)
        rates.append(rate)
        costs.append((floor_client, floor_all, client, everything))
        print(
            f"writes {workers} {plural}: {rate:.0f} creations/s (CPU a request: client {client:.1f} "
            f"ms, all {everything:.1f} ms), healthz {floor_rate:.0f}/s (client {floor_client:.1f} "
            f"ms, all {floor_all:.1f} ms)",
            flush=True,
        )
    rate, floor = median(rates), median(floors)
    floor_client, floor_all, client, everything = (median([c[i] for c in costs]) for i in range(4))
    report.notes.append(
        f"{backend}: {workers} {plural}, CPU of the whole machine a request (medians): a creation "
        f"{everything:.1f} ms, of it the benchmark's client {client:.1f} ms; healthz {floor_all:.1f} "
        f"ms, of it the client {floor_client:.1f} ms; the server and PostgreSQL's share of a "
        f"creation {everything - client:.1f} ms, of healthz {floor_all - floor_client:.1f} ms"
    )
    report.add(
        Result(
            f"create {len(bodies):,} interactions one per request ({clients} clients), "
            f"{workers} server {plural}",
            backend,
            f"{rate:.0f} /s",
            "≥ 500 /s",
            f"healthz {floor:.0f} requests/s",
            f"{floor / rate:.1f}× slower",
            rate >= 500,
            RUNS,
        )
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1, 2, 4],
        help="server process counts to measure, one after another (default: 1 2 4)",
    )
    parser.add_argument(
        "--creates", type=int, default=2000, help="interactions created a run (default: 2000)"
    )
    parser.add_argument(
        "--clients", type=int, default=8, help="keep-alive connections at once (default: 8)"
    )


def main() -> None:
    run_standalone(
        "bench.writes",
        __doc__,
        "Single-request writes",
        _arguments,
        lambda report, backend, url, _folder, args: bench(report, backend, url, args),
    )


if __name__ == "__main__":
    main()
