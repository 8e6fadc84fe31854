"""Push throughput in one process, and the statements a mutation costs: the push's own work, apart
from HTTP and the other processes of ``bench.sync``.

    python -m bench.push [--only sqlite|postgresql] [--runs 3] [--mutations 500] [--code PATH]

An administrator's laptop, then a salesperson's (whose access is the company's rules, not "all"),
pushes ``--mutations`` edits of 4 fields of as many counterparties of their own, in one push, ``--runs`` times (after one push that creates them, not timed), through the app in this
process (Starlette's test client: one request per push, so HTTP is a small share). The figure is
fields a second (median of the runs) and the SQL statements a mutation sent; the floor is the same
``UPDATE``s as one ``executemany`` in one transaction, in the same run, as in ``bench.sync``.
``--code PATH`` runs another checkout's ``crm``/``sync``/``server`` (a ``git worktree`` of the
code before a change) with this script, for an A/B on the same machine. Prints a table; nothing
is written (``bench.sync``'s push row is the figure of record).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat()


def run(backend: str, runs: int, count: int, role: str) -> tuple[float, float, float]:
    """(fields/s, floor fields/s, statements a mutation), medians over ``runs``, of a ``role``'s
    laptop: an administrator (who may change everything) or a salesperson (whose access is the
    company's rules: their own clients, their team's, the ones shared with them)."""
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from bench.harness import median, pg_database
    from bench.sync import PUSH_FIELDS, push_floor
    from crm import accounts
    from crm.database import Database
    from server import migrate
    from server.app import create_app
    from server.config import Config
    from sync import protocol

    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        url = (
            stack.enter_context(pg_database())
            if backend == "postgresql"
            else f"sqlite:///{folder}/push.db"
        )
        database = Database(url)
        stack.callback(database.dispose)
        migrate.upgrade(database)
        with database.write() as session:
            user = accounts.create_user(
                session, login="ivanov", full_name="Иван Иванов", role=role, team="Москва"
            )
            _device, token = accounts.register_device(session, user, "Ноутбук")
            device_id = _device.id
        config = Config.load(environ={"SATCHEL_DATA_DIR": folder, "SATCHEL_DATABASE_URL": url})
        client = stack.enter_context(TestClient(create_app(config, database)))
        headers = {**protocol.headers(), "Authorization": f"Bearer {token}"}
        seq = 0

        def push(mutations: list[dict[str, Any]]) -> int:
            r = client.post(
                "/sync/v1/push",
                json={"device_id": device_id, "mutations": mutations},
                headers=headers,
            )
            r.raise_for_status()
            refused = [x for x in r.json()["results"] if x["status"] != "applied"]
            if refused:
                raise RuntimeError(f"{len(refused)} mutations not applied, e.g. {refused[0]}")
            return int(r.json()["version"])

        ids = [str(uuid.uuid4()) for _ in range(count)]
        creates = []
        for i, cp in enumerate(ids):
            seq += 1
            creates.append(
                {
                    "seq": seq,
                    "op": "create",
                    "type": "counterparties",
                    "id": cp,
                    "fields": {"legal_name": f"ООО Ромашка {i}", "visibility": "team"},
                    "client_time": _now(),
                }
            )
        version = push(creates)
        statements: Counter[str] = Counter()
        event.listen(
            database.engine,
            "before_cursor_execute",
            lambda *_args: statements.update(["sql"]),
        )
        rates, floors, per_mutation = [], [], []
        for n in range(runs):
            values = [
                {
                    "notes": f"Прайс на {n}-й квартал отправлен ({i})",
                    "industry": f"Ювелирная розница {n}",
                    "region": f"Регион {i % 85}",
                    "segment": "A" if (i + n) % 2 else "B",
                }
                for i in range(count)
            ]
            mutations = []
            for cp, fields in zip(ids, values, strict=True):
                seq += 1
                mutations.append(
                    {
                        "seq": seq,
                        "op": "update",
                        "type": "counterparties",
                        "id": cp,
                        "base_version": version,
                        "fields": fields,
                        "client_time": _now(),
                    }
                )
            statements.clear()
            started = time.perf_counter()
            version = push(mutations)
            rates.append(count * len(PUSH_FIELDS) / (time.perf_counter() - started))
            per_mutation.append(statements["sql"] / count)
            floors.append(push_floor(database, ids, values))
        return median(rates), median(floors), median(per_mutation)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.push", description=__doc__)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mutations", type=int, default=500)
    parser.add_argument("--code", help="a checkout whose code to measure (default: this one)")
    args = parser.parse_args()
    if args.code:
        sys.path.insert(0, args.code)
    from bench.harness import machine

    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, median of {args.runs} runs")
    print(f"code: {args.code or 'this checkout'}\n")
    print("| database | laptop of | push | floor (executemany) | ratio | statements a mutation |")
    print("|---|---|---|---|---|---|")
    for backend in [args.only] if args.only else ["sqlite", "postgresql"]:
        for role in ("admin", "salesperson"):
            rate, floor, statements = run(backend, args.runs, args.mutations, role)
            print(
                f"| {backend} | {role} | {rate:,.0f} fields/s | {floor:,.0f} fields/s | "
                f"{floor / rate:.1f}× | {statements:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
