"""Sync benchmarks (issue 3) over a real server process.

On the LARGE demo company (20k counterparties, 30k contact persons, 50k
interactions, 8k deals, 5k reminders, shares, users):

* bootstrap: a new laptop of the ``office`` user (who sees every record) loads
  its whole scope into an empty replica with ``SyncAgent.sync()`` — bootstrap
  pages over HTTP, gzip, JSON, the replica's bulk insert and search keys, then
  the pull from the watermark, timed until the records are usable (the agent's
  "search" phase: the search keys' index is built last, while the screens work;
  the whole sync is reported beside). Target ≤ 10 s and within 3× of the floor (issue 16): the
  same rows, dumped to a local JSON file first, loaded from it and inserted with
  ``executemany`` into empty tables of the same schema in a fresh SQLite file.
* incremental pull: the ``admin`` pushes 1,000 edited counterparties from one
  device; the office laptop's ``SyncAgent.sync()`` takes them (pull loop from its
  cursor until ``more`` is false, applied to its replica). Target ≤ 0.5 s.
  Floor: the same 1,000 rows selected straight from the server's database,
  through JSON and back, upserted with ``executemany`` into a local SQLite file.
* push throughput: pushes of 500 update mutations × 4 fields on existing
  counterparties, 4 pushes in a row from one device (a device's pushes are
  ordered, so one at a time). Target ≥ 2,000 fields per second. Floor: the same
  updates as one SQL ``executemany`` in one transaction (no change log, no rules).
* 500 devices: registered directly with ``crm.accounts.register_device`` in one
  transaction (500 argon2 logins would only time argon2), then every device
  syncs — push of one small change, then pull until done — from one asyncio
  process, a fresh connection per device. "At once": all 500 released together
  by one event (the report says how long it took to put the 500 pushes on the
  wire); and, for comparison, the same 500 syncs spread evenly at random over a
  window. Target p99 ≤ 250 ms, no errors. Floor: one device's sync on the idle server.

On a company of its own (the MEDIUM demo, about 11k records, then inflated to
1,000,000 records with bulk-inserted interactions and their change-log rows):

* sync with nothing to do: ``SyncAgent.sync()`` of an up-to-date salesperson's
  laptop (the empty outbox sends no push; one pull answers nothing new).
  Target p95 ≤ 50 ms and p50 at 1M records ≤ 1.5× p50 at 11k. Floor: ``GET /healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import bindparam, create_engine, func, select, text, update
from sqlmodel import SQLModel

from bench.harness import WORK, Report, Result, median, percentile, pg_database, running_server
from clients.agent import SyncAgent
from clients.replica import Replica
from crm import access, accounts, changes, demo, records
from crm.database import Database
from crm.models import Counterparty, User
from crm.models.base import to_jsonable
from server import migrate
from sync import protocol

PUSH_FIELDS = ("notes", "industry", "region", "segment")
INFLATED_SUBJECT = "Звонок (нагрузка) №"


@dataclass(frozen=True)
class Plan:
    """How much of each benchmark to run; ``QUICK`` is for trying the code out, not for figures."""

    boot_runs: int = 3
    pull_changes: int = 1_000
    pull_runs: int = 3
    push_batch: int = 500
    pushes: int = 4
    push_runs: int = 3
    devices: int = 500
    device_rounds: int = 2
    # 500 laptops syncing once a minute each: about 8 syncs a second.
    spread_seconds: float = 60.0
    noop_syncs: int = 200
    noop_runs: int = 3
    noop_size: str = "medium"
    big_records: int = 1_000_000


FULL = Plan()
QUICK = Plan(
    boot_runs=1,
    pull_changes=200,
    pull_runs=2,
    push_batch=100,
    pushes=2,
    push_runs=1,
    devices=50,
    device_rounds=1,
    spread_seconds=2.0,
    noop_syncs=30,
    noop_runs=1,
    noop_size="small",
    big_records=30_000,
)


# ---------------------------------------------------------------- helpers


def _ms(seconds: float) -> float:
    return seconds * 1000


def _sync_headers(token: str) -> dict[str, str]:
    return {**protocol.headers(), "Authorization": f"Bearer {token}"}


def _now() -> str:
    return str(to_jsonable(datetime.now(UTC)))


@dataclass
class _Device:
    """A device the benchmark drives with raw HTTP: its token, id, last seq and pull cursor."""

    token: str
    id: str
    seq: int = 0
    cursor: str | None = None
    pulled: int = 0  # records its pulls have brought so far

    @property
    def headers(self) -> dict[str, str]:
        return _sync_headers(self.token)

    def mutation(self, record_id: str, base_version: int, fields: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {
            "seq": self.seq,
            "op": "update",
            "type": "counterparties",
            "id": record_id,
            "base_version": base_version,
            "fields": fields,
            "client_time": _now(),
        }


def _login(base: str, login: str, device_name: str) -> _Device:
    r = httpx.post(
        base + "/api/v1/auth/login",
        timeout=60,
        json={"login": login, "password": demo.DEMO_PASSWORD, "device_name": device_name},
    )
    r.raise_for_status()
    return _Device(r.json()["token"], r.json()["device"]["id"])


def _push(client: httpx.Client, device: _Device, mutations: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post(
        "/sync/v1/push",
        json={"device_id": device.id, "mutations": mutations},
        headers=device.headers,
    )
    r.raise_for_status()
    answer: dict[str, Any] = r.json()
    bad = [x for x in answer["results"] if x["status"] != "applied"]
    if bad:
        raise RuntimeError(f"{len(bad)} of {len(mutations)} mutations not applied, e.g. {bad[0]}")
    return answer


def _current_version(database: Database) -> int:
    with database.read() as session:
        return changes.current(session)[0]


def _counterparty_ids(database: Database) -> list[str]:
    with database.read() as session:
        return list(session.execute(select(Counterparty.id).order_by(Counterparty.id)).scalars())


# Laptops' replicas are encrypted at rest (SQLCipher), as satchel-field opens them; the floors stay
# plain SQLite, the fastest a local load can be.
REPLICA_KEY = bytes(range(32))


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


@contextmanager
def _laptop(base: str, path: Path, login: str, name: str) -> Iterator[SyncAgent]:
    """A field client with an empty replica at ``path``, logged in as ``login``."""
    replica = Replica.open(_fresh(path), key=REPLICA_KEY)
    http = httpx.Client(base_url=base, timeout=600)
    try:
        agent = SyncAgent(replica, http)
        agent.login(base, login, demo.DEMO_PASSWORD, name)
        yield agent
    finally:
        http.close()
        replica.close()


def _healthz_p50(client: httpx.Client, n: int = 100) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get("/healthz").raise_for_status()
        times.append(_ms(time.perf_counter() - start))
    return percentile(times, 50)


# ---------------------------------------------------------------- bootstrap


def _dump_bootstrap(base: str, device: _Device, path: Path) -> tuple[float, int, int]:
    """Fetch every bootstrap page with plain HTTP and keep the rows in a local JSON file.

    Returns (seconds for the pages alone, rows, compressed bytes received).
    """
    pages = []
    wire = 0
    request: dict[str, Any] = {"watermark": None, "type": None, "after": None}
    start = time.perf_counter()
    with httpx.Client(base_url=base, headers=device.headers, timeout=600) as client:
        while True:
            r = client.post("/sync/v1/bootstrap", json={**request, "limit": protocol.DEFAULT_PAGE})
            r.raise_for_status()
            wire += r.num_bytes_downloaded
            page = r.json()
            pages.append({"type": page["type"], "fields": page["fields"], "rows": page["rows"]})
            if not page["next"]:
                break
            request = {"watermark": page["watermark"], **page["next"]}
    seconds = time.perf_counter() - start
    path.write_text(json.dumps(pages, ensure_ascii=False))
    return seconds, sum(len(p["rows"]) for p in pages), wire


def _empty_tables(path: Path) -> None:
    """A fresh SQLite file with the synced record tables (the server's schema), empty."""
    engine = create_engine(f"sqlite:///{_fresh(path)}")
    SQLModel.metadata.create_all(
        engine,
        tables=[
            records.record_type(n).model.__table__  # type: ignore[attr-defined]
            for n in protocol.TYPES
        ],
    )
    engine.dispose()


def _bulk_load(dump: Path, target: Path) -> float:
    """The floor: load the JSON file and ``executemany`` its rows into empty tables; seconds."""
    _empty_tables(target)
    start = time.perf_counter()
    pages = json.loads(dump.read_text())
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("BEGIN")
    for page in pages:
        if not page["rows"]:
            continue
        table = records.record_type(page["type"]).model.__table__  # type: ignore[attr-defined]
        # Columns that never travel but may not be NULL (search_name) get an empty string.
        extra = [c.name for c in table.columns if c.name not in page["fields"] and not c.nullable]
        names = ", ".join(f'"{c}"' for c in [*page["fields"], *extra])
        marks = ", ".join("?" for _ in [*page["fields"], *extra])
        pad = [""] * len(extra)
        conn.executemany(
            f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
            (
                [
                    json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                    for v in row
                ]
                + pad
                for row in page["rows"]
            ),
        )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def _bench_bootstrap(
    report: Report, base: str, backend: str, plan: Plan, work: Path
) -> tuple[Path, Path, int]:
    """Returns the floor's SQLite file (it holds the whole scope), the last replica's path and the record count."""
    dump, floor_db = work / "bootstrap.json", work / "floor.db"
    office = _login(base, "office", "bench-dump")
    http_seconds, rows, wire = _dump_bootstrap(base, office, dump)
    floors = [_bulk_load(dump, floor_db) for _ in range(plan.boot_runs)]
    seconds, whole, loaded = [], [], 0
    replica_path = work / "office-laptop.db"
    for run in range(plan.boot_runs):
        with _laptop(base, replica_path, "office", f"bench-bootstrap-{run}") as agent:
            usable: list[float] = []

            def progress(
                phase: str, _done: int, _total: int | None, usable: list[float] = usable
            ) -> None:
                if phase == "search" and not usable:
                    usable.append(time.perf_counter())

            start = time.perf_counter()
            summary = agent.sync(progress)
            end = time.perf_counter()
            # Usable: the records committed and pulled; the search keys' index is built after
            # (the screens work meanwhile, a search scans the keys).
            seconds.append((usable[0] if usable else end) - start)
            whole.append(end - start)
            loaded = summary.bootstrapped
    if loaded != rows:
        raise RuntimeError(f"the laptop loaded {loaded} records, the plain pages held {rows}")
    took, floor = median(seconds), median(floors)
    report.add(
        Result(
            f"bootstrap of {rows:,} records into an empty replica (office user, SyncAgent until the "
            "records are usable; the search keys' index after)",
            backend,
            f"{took:.1f} s; search index ready at {median(whole):.1f} s ({wire / 1e6:.1f} MB gzip; "
            f"pages alone {http_seconds:.1f} s)",
            "≤ 10 s, ≤ 3× floor",
            f"JSON file + executemany into empty SQLite {floor:.2f} s",
            f"{took / floor:.1f}× ({median(whole) / floor:.1f}× with the search index)",
            took <= 10 and took / floor <= 3,
            plan.boot_runs,
        )
    )
    return floor_db, replica_path, rows


# ---------------------------------------------------------------- incremental pull


def _raw_pull(client: httpx.Client, token: str, cursor: str | None) -> tuple[float, int, int]:
    """Pull with plain HTTP from ``cursor`` until ``more`` is false: (seconds, changes, pages)."""
    start = time.perf_counter()
    got = pages = 0
    while True:
        r = client.post(
            "/sync/v1/pull",
            json={"cursor": cursor, "limit": protocol.DEFAULT_PULL},
            headers=_sync_headers(token),
        )
        r.raise_for_status()
        answer = r.json()
        got += len(answer["changes"])
        pages += 1
        cursor = answer["cursor"]
        if not answer["more"]:
            return time.perf_counter() - start, got, pages


def _pull_floor(database: Database, ids: list[str], floor_db: Path) -> float:
    """The same rows straight from the server's database, through JSON, upserted locally; seconds."""
    rt = records.record_type("counterparties")
    table: Any = rt.model.__table__  # type: ignore[attr-defined]
    fields = rt.fields()
    names = ", ".join(f'"{f}"' for f in fields)
    sql = (
        f"INSERT INTO \"{table.name}\" ({names}, search_name) VALUES ({', '.join('?' for _ in fields)}, '') "
        f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{chr(34)}{f}{chr(34)} = excluded.{chr(34)}{f}{chr(34)}' for f in fields)}"
    )
    start = time.perf_counter()
    with database.read() as session:
        rows = session.execute(
            select(*[table.c[f] for f in fields]).where(table.c.id.in_(ids))
        ).all()
    body = json.dumps([[to_jsonable(v) for v in row] for row in rows], ensure_ascii=False)
    conn = sqlite3.connect(floor_db, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        sql,
        (
            [json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for v in row]
            for row in json.loads(body)
        ),
    )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def _bench_pull(
    report: Report,
    base: str,
    database: Database,
    backend: str,
    plan: Plan,
    agent: SyncAgent,
    admin: _Device,
    floor_db: Path,
) -> None:
    ids = _counterparty_ids(database)[: plan.pull_changes]
    token = agent.replica.state("token") or ""
    took, raw, floors, pages = [], [], [], 0
    with httpx.Client(base_url=base, timeout=600) as client:
        for run in range(plan.pull_runs):
            version = _current_version(database)
            _push(
                client,
                admin,
                [
                    admin.mutation(cp, version, {"notes": f"Созвон {run}: уточнить отгрузку №{i}"})
                    for i, cp in enumerate(ids)
                ],
            )
            seconds, got, pages = _raw_pull(client, token, agent.replica.state("cursor"))
            if got != len(ids):
                raise RuntimeError(f"the pull brought {got} changes, expected {len(ids)}")
            raw.append(seconds)
            start = time.perf_counter()
            summary = agent.sync()
            took.append(time.perf_counter() - start)
            if summary.pulled["upserts"] != len(ids):
                raise RuntimeError(
                    f"the laptop pulled {summary.pulled}, expected {len(ids)} upserts"
                )
            floors.append(_pull_floor(database, ids, floor_db))
    t, floor = median(took), median(floors)
    report.add(
        Result(
            f"incremental pull of {len(ids):,} changes (SyncAgent: pull loop + apply to the replica)",
            backend,
            f"{_ms(t):.0f} ms (HTTP pull loop alone {_ms(median(raw)):.0f} ms, {pages} page(s))",
            "≤ 0.5 s",
            f"SQL select + JSON + executemany upsert {_ms(floor):.0f} ms",
            f"{t / floor:.1f}×",
            t <= 0.5,
            plan.pull_runs,
        )
    )


# ---------------------------------------------------------------- sync with nothing to do


def _noop_times(agent: SyncAgent, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        summary = agent.sync()
        out.append(_ms(time.perf_counter() - start))
        if summary.pushed or summary.bootstrapped or sum(summary.pulled.values()):
            raise RuntimeError(f"a sync that should have had nothing to do did: {summary.line()}")
    return out


def _noop_round(agent: SyncAgent, plan: Plan) -> tuple[float, float, float]:
    """(p50, p95, healthz p50), medians over ``plan.noop_runs`` runs of ``plan.noop_syncs`` syncs."""
    _noop_times(agent, 10)  # warm up
    p50s, p95s, floors = [], [], []
    for _ in range(plan.noop_runs):
        floors.append(_healthz_p50(agent.http))
        times = _noop_times(agent, plan.noop_syncs)
        p50s.append(percentile(times, 50))
        p95s.append(percentile(times, 95))
    return median(p50s), median(p95s), median(floors)


def _record_count(database: Database) -> int:
    with database.read() as session:
        return sum(
            session.execute(
                select(func.count()).select_from(records.record_type(n).model)
            ).scalar_one()
            for n in protocol.TYPES
        )


def _inflate(database: Database, target: int) -> tuple[int, float]:
    """Bulk-insert interactions (and their change-log rows, at one fresh data version) up to ``target``
    records in all; returns (rows added, seconds, including VACUUM/ANALYZE)."""
    count = target - _record_count(database)
    if count <= 0:
        return 0, 0.0
    pg = database.dialect == "postgresql"
    now: Any = datetime.now(UTC) if pg else datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    columns = (
        "id, created_at, updated_at, version, counterparty_id, responsible_id, kind, direction, status, "
        "subject, starts_at, duration_minutes, importance"
    )
    if pg:
        cps = (
            "CREATE TEMP TABLE bench_cp AS SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id, owner_id "
            "FROM counterparty; ALTER TABLE bench_cp ADD PRIMARY KEY (k)"
        )
        fill = (
            f"INSERT INTO interaction ({columns}) SELECT gen_random_uuid()::text, :now, :now, 1, c.id, "
            f"c.owner_id, 'call', 'outgoing', 'done', '{INFLATED_SUBJECT}' || n.i, "
            "timestamptz '2020-01-01 09:00:00+00' + n.i * interval '3 minutes', 15, 'normal' "
            "FROM generate_series(0, :count - 1) AS n(i) JOIN bench_cp c ON c.k = n.i % :cps"
        )
    else:
        cps = (
            "CREATE TEMP TABLE bench_cp (k INTEGER PRIMARY KEY, id TEXT, owner_id TEXT); "
            "INSERT INTO bench_cp SELECT row_number() OVER (ORDER BY id) - 1, id, owner_id FROM counterparty"
        )
        uid = (
            "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) "
            "|| '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
        )
        fill = (
            f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1) "
            f"INSERT INTO interaction ({columns}) SELECT {uid}, :now, :now, 1, c.id, c.owner_id, 'call', "
            f"'outgoing', 'done', '{INFLATED_SUBJECT}' || n.i, "
            "strftime('%Y-%m-%d %H:%M:%S.000000', '2020-01-01 09:00:00', '+' || (n.i * 3) || ' minutes'), "
            "15, 'normal' FROM n JOIN bench_cp c ON c.k = n.i % :cps"
        )
    log = (
        "INSERT INTO change_log (record_type, record_id, version, scope_version, counterparty_id, deleted, "
        "tombstone, changed_at) SELECT 'interactions', id, :v, :v, counterparty_id, :no, NULL, :now "
        f"FROM interaction WHERE subject LIKE '{INFLATED_SUBJECT}%'"
    )
    start = time.perf_counter()
    with database.write() as session:
        connection = session.connection()
        for statement in cps.split("; "):
            connection.execute(text(statement))
        n_cps = connection.execute(text("SELECT count(*) FROM bench_cp")).scalar_one()
        connection.execute(text(fill), {"now": now, "count": count, "cps": n_cps})
        version = changes.allocate(session)
        connection.execute(text(log), {"v": version, "no": False, "now": now})
        connection.execute(text("DROP TABLE bench_cp"))
    database.analyze()
    return count, time.perf_counter() - start


def bench_noop(report: Report, backend: str, plan: Plan) -> None:
    """A sync with nothing to do, on a company of about 11k records and then of 1M; its own database."""
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{_fresh(WORK / 'noop.db')}"
        else:
            url = stack.enter_context(pg_database())
        database = Database(url)
        stack.callback(database.dispose)
        migrate.upgrade(database)
        demo.generate(database, plan.noop_size, seed=1)
        small = _record_count(database)
        base = stack.enter_context(running_server(url))
        agent = stack.enter_context(_laptop(base, WORK / "noop-laptop.db", "ivanov", "bench-noop"))
        agent.sync()  # bootstrap
        p50_small, p95_small, floor_small = _noop_round(agent, plan)
        added, seconds = _inflate(database, plan.big_records)
        big = _record_count(database)
        report.notes.append(
            f"{backend}: {added:,} interactions and their change-log rows inserted with one SQL "
            f"statement each in {seconds:.0f} s (with VACUUM/ANALYZE), {big:,} records in all; "
            "the no-op laptop's cursor was then set to the new data version, as after a finished "
            "sync (its replica holds the 11k-record scope; a no-op sync does not read it)"
        )
        agent.replica.set_state(cursor=str(_current_version(database)))
        p50_big, p95_big, floor_big = _noop_round(agent, plan)
    report.add(
        Result(
            f"sync with nothing to do, {small:,} records on the server (salesperson's laptop)",
            backend,
            f"p50 {p50_small:.1f} ms, p95 {p95_small:.1f} ms",
            "p95 ≤ 50 ms",
            f"healthz p50 {floor_small:.1f} ms",
            f"{p50_small / floor_small:.1f}× (p50)",
            p95_small <= 50,
            plan.noop_runs,
        )
    )
    ratio = p50_big / p50_small
    report.add(
        Result(
            f"sync with nothing to do, {big:,} records on the server (salesperson's laptop)",
            backend,
            f"p50 {p50_big:.1f} ms, p95 {p95_big:.1f} ms",
            f"p95 ≤ 50 ms, p50 ≤ 1.5× the {small / 1000:.0f}k figure",
            f"healthz p50 {floor_big:.1f} ms",
            f"{p50_big / floor_big:.1f}× (p50); {ratio:.2f}× the {small / 1000:.0f}k p50",
            p95_big <= 50 and ratio <= 1.5,
            plan.noop_runs,
        )
    )


# ---------------------------------------------------------------- push throughput


def push_floor(database: Database, ids: list[str], values: list[dict[str, Any]]) -> float:
    """Fields a second of the push's floor: the same updates of ``PUSH_FIELDS`` of the counterparties
    ``ids`` as one ``executemany`` in one transaction (no rules, access checks or change log)."""
    table: Any = Counterparty.__table__  # type: ignore[attr-defined]
    rows = [
        {"b_id": cp, **{k: f"{val} (floor)" for k, val in v.items()}}
        for cp, v in zip(ids, values, strict=True)
    ]
    start = time.perf_counter()
    with database.write() as session:
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({k: bindparam(k) for k in PUSH_FIELDS}),
            rows,
        )
    return len(ids) * len(PUSH_FIELDS) / (time.perf_counter() - start)


def _bench_push(
    report: Report, base: str, database: Database, backend: str, plan: Plan, admin: _Device
) -> None:
    per_run = plan.push_batch * plan.pushes
    ids = _counterparty_ids(database)
    rates, floors = [], []
    with httpx.Client(base_url=base, timeout=600) as client:
        for run in range(plan.push_runs):
            chosen = [ids[(run * per_run + i) % len(ids)] for i in range(per_run)]
            values = [
                {
                    "notes": f"Прайс на {run}-й квартал отправлен, ждём ответа ({i})",
                    "industry": f"Ювелирная розница {run}",
                    "region": f"Регион {i % 85}",
                    "segment": "A" if i % 3 else "B",
                }
                for i in range(per_run)
            ]
            version = _current_version(database)
            batches = [
                [
                    admin.mutation(cp, version, v)
                    for cp, v in zip(
                        chosen[i : i + plan.push_batch],
                        values[i : i + plan.push_batch],
                        strict=True,
                    )
                ]
                for i in range(0, per_run, plan.push_batch)
            ]
            start = time.perf_counter()
            for batch in batches:
                _push(client, admin, batch)
            rates.append(per_run * len(PUSH_FIELDS) / (time.perf_counter() - start))
            floors.append(push_floor(database, chosen, values))
    rate, floor = median(rates), median(floors)
    report.add(
        Result(
            f"push throughput: {plan.pushes} pushes × {plan.push_batch} updates × {len(PUSH_FIELDS)} fields "
            "(one device, counterparties)",
            backend,
            f"{rate:,.0f} fields/s",
            "≥ 2,000 fields/s",
            f"one SQL executemany of the same updates {floor:,.0f} fields/s",
            f"{floor / rate:.1f}× slower",
            rate >= 2000,
            plan.push_runs,
        )
    )


# ---------------------------------------------------------------- many devices at once


def _register_devices(database: Database, count: int) -> list[tuple[_Device, str]]:
    """``count`` devices of the demo users, each with a counterparty of its own that its user may change."""
    version = _current_version(database)
    out: list[tuple[_Device, str]] = []
    taken: set[str] = set()
    with database.write() as session:
        users = list(
            session.execute(
                select(User)
                .where(User.login.in_([u[0] for u in demo.USERS]))  # type: ignore[attr-defined]
                .order_by(User.login)
            ).scalars()
        )
        writable = {
            u.id: [
                cp
                for cp in session.execute(
                    select(Counterparty.id)
                    .where(access.writable_counterparties(u))
                    .order_by(Counterparty.id)
                ).scalars()
            ]
            for u in users
        }
        while len(out) < count:
            before = len(out)
            for user in users:
                mine = writable[user.id]
                while mine and mine[-1] in taken:
                    mine.pop()
                if not mine or len(out) >= count:
                    continue
                cp = mine.pop()
                taken.add(cp)
                device, token = accounts.register_device(session, user, f"bench-laptop-{len(out)}")
                out.append((_Device(token, device.id, cursor=str(version)), cp))
            if len(out) == before:
                raise RuntimeError(f"only {len(out)} counterparties are writable by the demo users")
    return out


@dataclass
class _Answer:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class _Link:
    """A laptop's own keep-alive connection to the server, as each laptop is a machine of its own.

    aiohttp rather than httpx: the benchmark's 500 laptops run on the cores of the server they
    measure, and httpx's client spent 2.6 ms of CPU a sync (push and pull) against aiohttp's 1.0
    (session 22, a released-together round, /proc): the same work, 15 % of the machine."""

    def __init__(self, base: str, tls: ssl.SSLContext) -> None:
        self.base = base
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, ssl=tls),
            timeout=aiohttp.ClientTimeout(total=600),
        )

    async def post(self, path: str, headers: dict[str, str], body: Any) -> _Answer:
        async with self._session.post(self.base + path, headers=headers, json=body) as r:
            return _Answer(r.status, r.headers, await r.read())

    async def close(self) -> None:
        await self._session.close()


async def _patient(
    link: _Link, path: str, headers: dict[str, str], body: Any, busy: list[int]
) -> _Answer:
    """POST, waiting out ``503`` answers as the sync agent does (``Retry-After`` plus up to half
    again at random, at most 20 times); each wait is counted in ``busy``. A connection that breaks
    (a kept-alive one the server closed as it was reused) is tried again with the same body, as the
    agent resends its outbox: a push is idempotent by its sequence numbers."""
    broken = 0
    for _ in range(20):
        try:
            r = await link.post(path, headers, body)
        except aiohttp.ClientConnectionError:
            broken += 1
            if broken > 3:
                raise
            await asyncio.sleep(0.2 * broken)
            continue
        if r.status != 503:
            return r
        busy.append(1)
        after = float(r.headers.get("retry-after", "1"))
        await asyncio.sleep(after * (1 + random.random() / 2))
    return r


async def _one_sync(
    client: _Link,
    device: _Device,
    cp: str,
    base_version: int,
    started: list[float],
    busy: list[int] | None = None,
) -> tuple[float, str | None]:
    """Push one small change, then pull until done; (seconds, error or None). A ``503`` is waited
    out and counted in ``busy`` (the latency includes the wait)."""
    start = time.perf_counter()
    started.append(start)
    busy = [] if busy is None else busy
    try:
        r = await _patient(
            client,
            "/sync/v1/push",
            device.headers,
            {
                "device_id": device.id,
                "mutations": [
                    device.mutation(cp, base_version, {"notes": f"Отметка с ноутбука {device.seq}"})
                ],
            },
            busy,
        )
        if r.status != 200 or r.json()["results"][0]["status"] != "applied":
            return time.perf_counter() - start, f"push: HTTP {r.status} {r.text[:200]}"
        while True:
            r = await _patient(
                client,
                "/sync/v1/pull",
                device.headers,
                {"cursor": device.cursor, "limit": protocol.DEFAULT_PULL},
                busy,
            )
            if r.status != 200:
                return time.perf_counter() - start, f"pull: HTTP {r.status} {r.text[:200]}"
            answer = r.json()
            device.cursor = answer["cursor"]
            device.pulled += len(answer["changes"])
            if not answer["more"]:
                return time.perf_counter() - start, None
    except aiohttp.ClientError as exc:
        return time.perf_counter() - start, f"{type(exc).__name__}: {exc}"


async def _round(
    base: str,
    fleet: list[tuple[_Device, str]],
    base_version: int,
    spread: float | None,
    busy: list[int] | None = None,
) -> tuple[list[float], list[str], float, float]:
    """Every device syncs once: all released together (``spread`` None) or at random times in a window.

    Returns (latencies in ms, errors, ms from the release to the last device's start, wall seconds).
    """
    # A client of its own per laptop, as each is a machine of its own: one client's pool of 500
    # connections was quadratic (httpcore looks at every connection for every request) and spent
    # more CPU than the server it measured.
    tls = ssl.create_default_context()  # one for all: making 500 took more CPU than the round
    rng = random.Random(3)
    started: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [_Link(base, tls) for _ in fleet]
        for link in clients:
            stack.push_async_callback(link.close)
        go = asyncio.Event()

        async def run(
            client: _Link, device: _Device, cp: str, delay: float
        ) -> tuple[float, str | None]:
            await go.wait()
            if delay:
                await asyncio.sleep(delay)
            return await _one_sync(client, device, cp, base_version, started, busy)

        tasks = [
            asyncio.create_task(run(client, d, cp, rng.uniform(0, spread) if spread else 0.0))
            for client, (d, cp) in zip(clients, fleet, strict=True)
        ]
        await asyncio.sleep(0.1)  # every task is waiting on the event
        release = time.perf_counter()
        go.set()
        outcomes = await asyncio.gather(*tasks)
        wall = time.perf_counter() - release
    errors = [e for _, e in outcomes if e]
    return [_ms(t) for t, _ in outcomes], errors, _ms(max(started) - release), wall


def _bench_devices(report: Report, base: str, database: Database, backend: str, plan: Plan) -> None:
    fleet = _register_devices(database, plan.devices)
    base_version = _current_version(database)
    # Floor: one device's sync (the same push + pull) with the server otherwise idle.
    alone = []
    for device, cp in fleet[:20]:
        times, errors, _, _ = asyncio.run(_round(base, [(device, cp)], base_version, None))
        if errors:
            raise RuntimeError(errors[0])
        alone += times
    floor = percentile(alone, 50)
    p50s, p95s, p99s, spreads, walls, error_count, example = [], [], [], [], [], 0, ""
    for _ in range(plan.device_rounds):
        times, errors, spread, wall = asyncio.run(_round(base, fleet, base_version, None))
        p50s.append(percentile(times, 50))
        p95s.append(percentile(times, 95))
        p99s.append(percentile(times, 99))
        spreads.append(spread)
        walls.append(wall)
        error_count += len(errors)
        example = example or (errors[0] if errors else "")
    p99 = median(p99s)
    report.add(
        Result(
            f"{len(fleet)} devices sync at once (push 1 change + pull), all released together",
            backend,
            f"p50 {median(p50s):.0f} ms, p95 {median(p95s):.0f} ms, p99 {p99:.0f} ms; errors {error_count}; "
            f"all started within {median(spreads):.0f} ms, all done in {median(walls):.1f} s "
            f"({len(fleet) / median(walls):.0f} syncs/s)",
            "p99 ≤ 250 ms, no errors",
            f"one device alone p50 {floor:.0f} ms",
            f"{p99 / floor:.0f}× (p99)",
            p99 <= 250 and error_count == 0,
            plan.device_rounds,
        )
    )
    times, errors, _, wall = asyncio.run(_round(base, fleet, base_version, plan.spread_seconds))
    p99 = percentile(times, 99)
    report.add(
        Result(
            f"{len(fleet)} devices sync spread at random over {plan.spread_seconds:.0f} s "
            f"({len(fleet) / plan.spread_seconds:.1f} syncs/s offered)",
            backend,
            f"p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms, p99 {p99:.0f} ms; "
            f"errors {len(errors)}",
            "p99 ≤ 250 ms, no errors",
            f"one device alone p50 {floor:.0f} ms",
            f"{p99 / floor:.0f}× (p99)",
            p99 <= 250 and not errors,
            1,
        )
    )
    if error_count or errors:
        report.notes.append(f"{backend}: device sync errors, e.g. {example or errors[0]}")


# ---------------------------------------------------------------- entry point


def bench_sync(
    report: Report, base: str, database: Database, backend: str, plan: Plan = FULL
) -> None:
    """Every sync benchmark that runs on the loaded demo company (run it before anything writes to it)."""
    work = WORK / "sync"
    work.mkdir(parents=True, exist_ok=True)
    floor_db, replica_path, scope = _bench_bootstrap(report, base, backend, plan, work)
    admin = _login(base, "admin", "bench-admin")
    replica = Replica.open(replica_path, key=REPLICA_KEY)
    with httpx.Client(base_url=base, timeout=600) as http:
        agent = SyncAgent(replica, http)
        _bench_pull(report, base, database, backend, plan, agent, admin, floor_db)
        p50, p95, floor = _noop_round(agent, plan)
        report.add(
            Result(
                f"sync with nothing to do, office laptop holding {scope:,} records",
                backend,
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                "p95 ≤ 50 ms",
                f"healthz p50 {floor:.1f} ms",
                f"{p50 / floor:.1f}× (p50)",
                p95 <= 50,
                plan.noop_runs,
            )
        )
    replica.close()
    _bench_push(report, base, database, backend, plan, admin)
    _bench_devices(report, base, database, backend, plan)


def notes(plan: Plan) -> list[str]:
    """How the sync figures were taken, for the results file."""
    return [
        f"sync: every figure is the median over runs; bootstrap {plan.boot_runs} runs (floor too), incremental pull "
        f"{plan.pull_runs} runs, no-op syncs {plan.noop_runs} runs of {plan.noop_syncs}, push {plan.push_runs} runs, "
        f"devices {plan.device_rounds} rounds at once + 1 spread round; one uvicorn worker; the benchmark's clients "
        "run on the same 2 cores as the server.",
        "sync bootstrap: the office user sees every record; the figure is `SyncAgent.sync()` on an empty replica "
        "(login before, not timed) until the records are usable: bootstrap pages of 5,000 (gzip, JSON), the "
        "replica's bulk insert, search keys and versions, the indexes but the search keys', then the pull from the "
        "watermark; the search keys' index (built last, while the screens already work) is the second time. 'pages alone' is the same pages fetched and decoded with "
        "plain httpx. The floor loads those pages from a local JSON file and inserts them with executemany.",
        "sync incremental pull: the admin's device pushes 1,000 edited counterparties (one push, not timed); the "
        "office laptop's `SyncAgent.sync()` (no outbox, so no push request) pulls and applies them. 'HTTP pull "
        "loop alone' pulls the same from the same cursor with plain httpx, not applied.",
        "sync push throughput: the floor is the same UPDATEs of 4 columns as one executemany in one transaction, "
        "without the rules, access checks, change log and per-mutation savepoints a push has.",
        "sync 500 devices: devices registered with crm.accounts.register_device in one transaction (not 500 argon2 "
        "logins); each device has its own counterparty (no conflicts) and a cursor from just before the round, so "
        "its pull brings what the devices before it pushed. Latency is one device's push + pull loop, from its start. "
        "'All released together': 500 coroutines waiting on one asyncio event, each on its own new connection; the "
        "client (one Python process, decoding every pull answer) shares the 2 cores with the server.",
    ]
