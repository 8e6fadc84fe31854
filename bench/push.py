"""Push throughput in one process, and the statements a mutation costs: the push's own work, apart
from HTTP and the other processes of ``bench.sync``.

    python -m bench.push [--only sqlite|postgresql] [--runs 3] [--mutations 500] [--code PATH] [--company]

An administrator's laptop, then a salesperson's (whose access is the company's rules, not "all"),
pushes ``--mutations`` edits of 4 fields of as many counterparties of their own, in one push, ``--runs`` times (after one push that creates them, not timed), through the app in this
process (Starlette's test client: one request per push, so HTTP is a small share). The figure is
fields a second (median of the runs) and the SQL statements a mutation sent; the floor is the same
``UPDATE``s as one ``executemany`` in one transaction, in the same run, as in ``bench.sync``.
``--code PATH`` runs another checkout's ``crm``/``sync``/``server`` (a ``git worktree`` of the
code before a change) with this script, for an A/B on the same machine. Prints a table; nothing
is written (``bench.sync``'s push row is the figure of record).

``--company`` adds a company's shape (``run_company``): the MEDIUM demo (2,000 clients, two teams,
shares), whose four salespeople each push a day of ``--mutations`` mutations — edits of their own
clients' cards, calls, meetings and new contact persons under any client they may change — one
laptop after another, beside the same rows written again with plain SQL.
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


def _database(stack: ExitStack, backend: str) -> tuple[str, str, Any]:
    """A new database of ``backend`` at the head of the migrations, and a data folder, both gone
    when ``stack`` closes: (folder, URL, database)."""
    from bench.harness import pg_database
    from crm.database import Database
    from server import migrate

    folder = stack.enter_context(tempfile.TemporaryDirectory())
    url = (
        stack.enter_context(pg_database())
        if backend == "postgresql"
        else f"sqlite:///{folder}/push.db"
    )
    database = Database(url)
    stack.callback(database.dispose)
    migrate.upgrade(database)
    return folder, url, database


def run(backend: str, runs: int, count: int, role: str) -> tuple[float, float, float]:
    """(fields/s, floor fields/s, statements a mutation), medians over ``runs``, of a ``role``'s
    laptop: an administrator (who may change everything) or a salesperson (whose access is the
    company's rules: their own clients, their team's, the ones shared with them)."""
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from bench.harness import median
    from bench.sync import PUSH_FIELDS, push_floor
    from crm import accounts
    from server.app import create_app
    from server.config import Config
    from sync import protocol

    with ExitStack() as stack:
        folder, url, database = _database(stack, backend)
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


SELLERS = ("ivanov", "petrova", "sidorov", "kuznetsova")  # the demo's salespeople, two teams


def _day(k: int, run: int, cp: str, version: int, seq: int, new_id: str) -> dict[str, Any]:
    """The ``k``-th mutation of a salesperson's day in the field: half edits of a client's card (4
    fields), a quarter calls and meetings entered under a client, a quarter new contact persons."""
    kind = k % 4
    base = {"seq": seq, "client_time": _now()}
    if kind in (0, 1):
        return {
            **base,
            "op": "update",
            "type": "counterparties",
            "id": cp,
            "base_version": version,
            "fields": {
                "notes": f"Обсудили осенний заказ, день {run}-й ({k})",
                "industry": f"Ювелирная розница {run}",
                "region": f"Регион {k % 85}",
                "segment": "A" if (k + run) % 2 else "B",
            },
        }
    if kind == 2:
        return {
            **base,
            "op": "create",
            "type": "interactions",
            "id": new_id,
            "fields": {
                "counterparty_id": cp,
                "kind": "call" if k % 8 == 2 else "meeting",
                "subject": f"Звонок по заказу {run}-{k}",
                "starts_at": f"2026-11-{1 + k % 28:02d}T{9 + k % 9:02d}:00:00Z",
                "notes": "Договорились о поставке колец и серёг к декабрю",
            },
        }
    return {
        **base,
        "op": "create",
        "type": "contact-persons",
        "id": new_id,
        "fields": {
            "counterparty_id": cp,
            "full_name": f"Сотрудник {run}-{k} Петрович",
            "position": "Закупщик",
            "contacts": [
                {
                    "kind": "phone",
                    "value": f"+7 916 {run % 1000:03d}-{k // 100 % 100:02d}-{k % 100:02d}",
                }
            ],
        },
    }


def run_company(backend: str, runs: int, count: int) -> tuple[float, float, float, int]:
    """A company's morning: the demo's MEDIUM company (2,000 clients, two teams, shares), and each
    of its four salespeople pushes a day of ``count`` mutations from their laptop (edits of clients
    they may change — their own, their team's, those shared with them —, calls and meetings and
    new contact persons under them), one after another. Returns (fields/s, floor fields/s,
    statements a mutation, fields a run), medians over ``runs``. The floor writes the same rows with
    plain SQL: the new ones by ``executemany`` ``INSERT``s, the edits by one ``UPDATE`` executemany,
    in one transaction (rolled back: the pushed rows stay)."""
    from sqlalchemy import bindparam, event, insert, select, update
    from starlette.testclient import TestClient

    from bench.harness import median
    from crm import access, accounts, changes, demo
    from crm.models import ContactPerson, Counterparty, Interaction, User
    from server.app import create_app
    from server.config import Config
    from sync import protocol

    with ExitStack() as stack:
        folder, url, database = _database(stack, backend)
        demo.generate(database, "medium", seed=1)
        # Each salesperson edits the cards of their own clients (two editing one card would be a
        # conflict, a figure of its own) and enters calls, meetings and people under any client they
        # may change: their own, their team's, those shared with them.
        laptops: dict[str, tuple[str, str, list[str], list[str]]] = {}
        with database.write() as session:
            for login in SELLERS:
                user = session.execute(select(User).where(User.login == login)).scalar_one()
                device, token = accounts.register_device(session, user, "Ноутбук")
                mine = list(
                    session.execute(
                        select(Counterparty.id)
                        .where(access.writable_counterparties(user))
                        .order_by(Counterparty.id)
                    ).scalars()
                )
                own = list(
                    session.execute(
                        select(Counterparty.id)
                        .where(Counterparty.owner_id == user.id)
                        .order_by(Counterparty.id)
                    ).scalars()
                )
                laptops[login] = (device.id, token, own, mine)
        config = Config.load(environ={"SATCHEL_DATA_DIR": folder, "SATCHEL_DATABASE_URL": url})
        client = stack.enter_context(TestClient(create_app(config, database)))
        seqs = dict.fromkeys(SELLERS, 0)
        statements: Counter[str] = Counter()
        event.listen(
            database.engine, "before_cursor_execute", lambda *_args: statements.update(["sql"])
        )
        rates, floors, per_mutation, sizes = [], [], [], []
        for run in range(runs):
            with database.read() as session:
                version = changes.current(session)[0]
            pushes = []
            for login, (device_id, token, own, mine) in laptops.items():
                mutations = []
                for k in range(count):
                    seqs[login] += 1
                    cp = (
                        own[(run * count + k) % len(own)]
                        if k % 4 < 2
                        else mine[(run * count + k * 7) % len(mine)]
                    )
                    mutations.append(_day(k, run, cp, version, seqs[login], str(uuid.uuid4())))
                pushes.append((device_id, token, mutations))
            fields = sum(len(m["fields"]) for _d, _t, ms in pushes for m in ms)
            statements.clear()
            started = time.perf_counter()
            for device_id, token, mutations in pushes:
                r = client.post(
                    "/sync/v1/push",
                    json={"device_id": device_id, "mutations": mutations},
                    headers={**protocol.headers(), "Authorization": f"Bearer {token}"},
                )
                r.raise_for_status()
                refused = [x for x in r.json()["results"] if x["status"] != "applied"]
                if refused:
                    raise RuntimeError(f"{len(refused)} mutations not applied, e.g. {refused[0]}")
            rates.append(fields / (time.perf_counter() - started))
            per_mutation.append(statements["sql"] / (count * len(SELLERS)))
            sizes.append(fields)
            # The floor: the same rows, read back, written again with plain SQL.
            created = {
                table: [m["id"] for _d, _t, ms in pushes for m in ms if m["type"] == name]
                for name, table in (
                    ("interactions", Interaction.__table__),  # type: ignore[attr-defined]
                    ("contact-persons", ContactPerson.__table__),  # type: ignore[attr-defined]
                )
            }
            edits = [
                {"b_id": m["id"], **m["fields"]}
                for _d, _t, ms in pushes
                for m in ms
                if m["op"] == "update"
            ]
            cp_table: Any = Counterparty.__table__  # type: ignore[attr-defined]
            with database.engine.connect() as connection:
                transaction = connection.begin()
                rows = {
                    table: [
                        dict(r)
                        for r in connection.execute(
                            select(table).where(table.c.id.in_(ids))
                        ).mappings()
                    ]
                    for table, ids in created.items()
                }
                for table, ids in created.items():
                    connection.execute(table.delete().where(table.c.id.in_(ids)))
                started = time.perf_counter()
                for table, made in rows.items():
                    connection.execute(insert(table), made)
                connection.execute(
                    update(cp_table)
                    .where(cp_table.c.id == bindparam("b_id"))
                    .values({k: bindparam(k) for k in ("notes", "industry", "region", "segment")}),
                    edits,
                )
                floors.append(fields / (time.perf_counter() - started))
                transaction.rollback()
        return median(rates), median(floors), median(per_mutation), int(median(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.push", description=__doc__)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mutations", type=int, default=500)
    parser.add_argument("--code", help="a checkout whose code to measure (default: this one)")
    parser.add_argument(
        "--company",
        action="store_true",
        help="also a company's morning: four salespeople of two teams push a day each (MEDIUM demo)",
    )
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
        if args.company:
            rate, floor, statements, fields = run_company(backend, args.runs, args.mutations)
            print(
                f"| {backend} | 4 salespeople, 2 teams, a day each ({fields:,} fields: edits, calls, "
                f"new people) | {rate:,.0f} fields/s | {floor:,.0f} fields/s | "
                f"{floor / rate:.1f}× | {statements:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
