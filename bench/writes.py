"""Single-request writes with the server's workers (issue 16): 1, 2 and 4 server processes on PostgreSQL.

``python -m bench.writes [--processes 1 2 4] [--creates 2000] [--clients 8]``. The demo company of
size medium is loaded into a throwaway database (as in ``bench.burst``); for each process count
``satchel serve --workers N`` runs in a child process, and the demo's four salespeople (two
teams) create ``--creates`` interactions between them, each under their own clients, one
``POST /api/v1/interactions`` each, from ``--clients`` keep-alive connections at once (each
connection one salesperson's, taken in turn). The floor, measured in the same run against the same
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

import aiohttp

from bench import api
from bench.harness import Report, Result, each_process_count, median, medium_company, run_standalone

RUNS = 3
SELLERS = ("ivanov", "petrova", "sidorov", "kuznetsova")  # the medium demo's salespeople, two teams


def bench(report: Report, backend: str, url: str, args: argparse.Namespace) -> None:
    if backend != "postgresql":
        report.notes.append(
            "sqlite: one server process only (satchel serve --workers N > 1 is refused on SQLite); "
            "its single-request row is bench.api's"
        )
        return
    if args.clients < len(SELLERS):
        raise SystemExit(f"--clients must be at least {len(SELLERS)}: a connection per salesperson")
    each = args.creates // len(SELLERS)
    bodies = medium_company(
        url,
        lambda database: {
            login: api._interaction_bodies(database, each, login) for login in SELLERS
        },
    )
    for workers, base in each_process_count(url, args.processes):
        _bench_creates(report, base, backend, workers, bodies, args.clients)
    report.notes.append(
        f"{backend}: the medium demo company; {each * len(SELLERS):,} interactions a run, "
        f"{each:,} by each of its {len(SELLERS)} salespeople under their own clients, "
        f"{args.clients} connections at once (each one salesperson's), {RUNS} runs alternating "
        "with the floor; figures are medians"
    )


def _busy() -> float:
    """CPU seconds the whole machine has spent busy so far (every process: server, PostgreSQL, this one)."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


Call = tuple[str, str, Any]  # method, path, JSON body
Share = tuple[dict[str, str], list[Call]]  # one connection's headers and calls


def _measured(base: str, shares: list[Share]) -> tuple[float, float, float]:
    """(requests a second, ms of this client's CPU a request, ms of the machine's CPU a request)."""
    count = sum(len(calls) for _headers, calls in shares)
    busy, mine = _busy(), time.process_time()
    rate = asyncio.run(_requests(base, shares))
    mine, busy = time.process_time() - mine, _busy() - busy
    return rate, 1000 * mine / count, 1000 * busy / count


async def _requests(base: str, shares: list[Share]) -> float:
    """Send every share from a keep-alive connection of its own, its calls one after another, all
    shares at once; returns the requests a second over the whole. aiohttp, as the laptops of
    ``bench.sync``: the client runs on the cores of the server it measures, and httpx's cost a
    request (1.1–1.2 ms of CPU) was a quarter of a creation's whole."""

    async def send(headers: dict[str, str], calls: list[Call]) -> None:
        async with aiohttp.ClientSession(
            base,
            headers=headers,
            connector=aiohttp.TCPConnector(limit=1),
            timeout=aiohttp.ClientTimeout(total=120),
        ) as client:
            for method, path, body in calls:
                async with client.request(method, path, json=body) as r:
                    text = await r.read()
                    if r.status >= 300:
                        raise RuntimeError(f"{method} {path}: {r.status} {text[:300]!r}")

    start = time.perf_counter()
    await asyncio.gather(*(send(headers, calls) for headers, calls in shares))
    return sum(len(calls) for _headers, calls in shares) / (time.perf_counter() - start)


def _shares(
    headers: dict[str, dict[str, str]], calls: dict[str, list[Call]], clients: int
) -> list[Share]:
    """``clients`` connections, each one salesperson's in turn, each salesperson's calls spread over
    their connections."""
    owners = [SELLERS[i % len(SELLERS)] for i in range(clients)]
    return [
        (headers[login], calls[login][owners[:i].count(login) :: owners.count(login)])
        for i, login in enumerate(owners)
    ]


def _bench_creates(
    report: Report,
    base: str,
    backend: str,
    workers: int,
    bodies: dict[str, list[dict[str, Any]]],
    clients: int,
) -> None:
    headers = {login: api._login(base, login) for login in SELLERS}
    plural = "process" if workers == 1 else "processes"
    count = sum(len(b) for b in bodies.values())
    health = _shares(
        headers,
        {login: [("GET", "/healthz", None)] * len(b) for login, b in bodies.items()},
        clients,
    )
    creates = _shares(
        headers,
        {
            login: [("POST", "/api/v1/interactions", body) for body in b]
            for login, b in bodies.items()
        },
        clients,
    )
    floors, rates, costs = [], [], []
    for _ in range(RUNS):
        floor_rate, floor_client, floor_all = _measured(base, health)
        floors.append(floor_rate)
        rate, client, everything = _measured(base, creates)
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
            f"{len(SELLERS)} salespeople create {count:,} interactions one per request "
            f"({clients} connections), "
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
