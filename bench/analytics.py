"""ABC + XYZ + RFM over a company's sales, and a bank statement's import (``crm.analytics``,
``crm.trade``); targets ≤ 2 s for the office, ≤ 0.5 s for a salesperson's laptop, ≤ 5 s for
10,000 bank documents.

    python -m bench.analytics [--only sqlite|postgresql] [--clients 20000]

The company: ``--clients`` counterparties, all clients, owned by ten salespeople in two teams,
with 24 months of shipments sized by a Pareto law (the big ones every month in two or three
product groups, the small now and then) — about 25 documents a client, 500,000 sale rows for
20,000 clients — and their sales summaries (one per client), loaded in bulk.

Measured, medians of 3 runs each:

- **office**: ``analytics.classify`` (ABC by revenue and XYZ) plus ``analytics.rfm`` over every
  client, as the office sees them, over the last twelve months; the floor beside it is the same
  sums as one SQL ``GROUP BY`` of the sale rows per client and month (what any analysis must
  add up, without classing anything);
- **salesperson, server**: the same for one salesperson's clients (about a tenth);
- **salesperson, laptop**: the same on a real laptop replica (``clients.replica``, SQLCipher)
  holding that salesperson's clients and summaries, as a sync would leave it;
- **bank statement**: ``trade.import_statement`` of a ``1CClientBankExchange`` file of 10,000
  documents paid by these clients (parse, match by INN, keep), committed; the floor is the bare
  ``INSERT`` of the same 10,000 payment rows in one transaction.

Results go to the section "Analytics" of bench/RESULTS.md.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlmodel import col

from bench.harness import Report, Result, median, run_standalone
from crm import accounts, analytics, records, trade
from crm.database import Database
from crm.models import Counterparty, Payment, Sale, SalesSummary, User, new_id
from server import migrate

RUNS = 3
MONTHS = 24
TODAY = date(2026, 12, 1)
PERIOD = (date(2025, 12, 1), date(2026, 11, 30))
GROUPS = ("Кольца", "Серьги", "Цепи", "Браслеты", "Подвески", "Часы")
SELLERS = 10


def _inn(n: int) -> str:
    first9 = f"77{n:07d}"
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return first9 + str(sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11 % 10)


def _company(database: Database, clients: int) -> tuple[dict[str, User], list[dict[str, Any]]]:
    """Users, ``clients`` counterparties and their sales and summaries; the clients' rows."""
    rng = random.Random(7)
    with database.write() as session:
        users = {
            "office": accounts.create_user(
                session, login="office", full_name="Офис", role="office", team=None
            )
        }
        for n in range(SELLERS):
            login = f"seller{n}"
            users[login] = accounts.create_user(
                session,
                login=login,
                full_name=f"Продавец {n}",
                role="salesperson",
                team="Москва" if n < SELLERS // 2 else "Питер",
            )
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    months = [date(2024 + (11 + i) // 12, (11 + i) % 12 + 1, 1) for i in range(MONTHS)]
    cps: list[dict[str, Any]] = []
    sales: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    number = 0
    for n in range(clients):
        cp_id = new_id()
        owner = users[f"seller{n % SELLERS}"].id
        cps.append(
            {
                "id": cp_id,
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "kinds": ["client"],
                "legal_name": f"ООО «Клиент {n}»",
                "inn": _inn(n),
                "contacts": [],
                "tags": [],
                "stage": "client",
                "visibility": "private",
                "owner_id": owner,
                "search_name": f"клиент {n}",
            }
        )
        size = min(rng.paretovariate(1.16), 400.0)
        chance = min(0.97, 0.25 + 0.15 * size)
        groups = rng.sample(GROUPS, 1 if size < 3 else 3)
        mine: list[tuple[date, str, Decimal, Decimal | None]] = []
        for month in months:
            if rng.random() > chance:
                continue
            for group in groups if size >= 3 else groups[:1]:
                number += 1
                day = month.replace(day=1 + int(rng.random() * 28))
                revenue = Decimal(round(12_000 * size * (0.5 + rng.random()), 2)).quantize(
                    Decimal("0.01")
                )
                cost = (revenue * Decimal("0.7")).quantize(Decimal("0.01"))
                sales.append(
                    {
                        "id": new_id(),
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                        "number": f"РН-{number:07d}",
                        "sold_on": day,
                        "counterparty_id": cp_id,
                        "salesperson_id": owner,
                        "revenue": revenue,
                        "cost": cost,
                        "product_group": group,
                    }
                )
                mine.append((day, group, revenue, cost))
        if mine:
            summaries.append(
                {
                    "id": new_id(),
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                    "counterparty_id": cp_id,
                    **dict(zip(("groups", "months"), trade.summary_of(mine), strict=True)),
                }
            )
    with database.write() as session:
        for model, rows in ((Counterparty, cps), (Sale, sales), (SalesSummary, summaries)):
            table: Any = model.__table__  # type: ignore[attr-defined]
            for start in range(0, len(rows), 5000):
                session.execute(insert(table), rows[start : start + 5000])
    database.analyze()
    return users, cps


def _analyses(session: Any, actor: User) -> int:
    result, clients = analytics.analyse(session, actor, *PERIOD)
    assert len(clients) <= len(result.clients)
    return len(result.clients)


def _floor(database: Database) -> float:
    month = (
        "substr(sold_on, 1, 7)" if database.dialect == "sqlite" else "to_char(sold_on, 'YYYY-MM')"
    )
    started = time.perf_counter()
    with database.read() as session:
        rows = session.execute(
            text(
                f"SELECT counterparty_id, {month}, sum(revenue), sum(cost), count(*), max(sold_on) "
                "FROM sale WHERE sold_on BETWEEN :a AND :b GROUP BY counterparty_id, 2"
            ),
            {"a": PERIOD[0], "b": PERIOD[1]},
        ).all()
    assert rows
    return time.perf_counter() - started


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = work()
    return time.perf_counter() - started, answer


def _laptop(database: Database, seller: User, folder: Path) -> Any:
    """A laptop replica of ``seller`` holding their clients and summaries (as a sync leaves it)."""
    from clients.replica import Replica
    from sync.columns import layout

    replica = Replica.open(folder / "replica.db", key=b"k" * 32)
    with database.read() as session:
        wanted: dict[str, list[dict[str, Any]]] = {}
        for name in ("users", "counterparties", "sales-summaries"):
            rt = records.record_type(name)
            rows = session.execute(select(rt.model).where(records.visible(rt, seller))).scalars()
            wanted[name] = [records.to_dict(rt, r) for r in rows]
    with replica._write() as (_, raw):  # noqa: SLF001 - loading as a bootstrap would
        for name, items in wanted.items():
            if not items:
                continue
            shape = layout(name)
            fields = list(items[0])
            raw.executemany(shape.upsert_sql, shape.rows(fields, [list(i.values()) for i in items]))
        raw.execute(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('user_id', ?)", (seller.id,)
        )
    return replica, len(wanted["counterparties"])


def _statement(cps: list[dict[str, Any]], count: int) -> bytes:
    lines = [
        "1CClientBankExchange",
        "ВерсияФормата=1.03",
        "Кодировка=Windows",
        "ДатаНачала=01.11.2026",
        "ДатаКонца=30.11.2026",
        "РасчСчет=40702810900000000001",
    ]
    rng = random.Random(3)
    for n in range(count):
        cp = cps[int(rng.random() * len(cps))]
        lines += [
            "СекцияДокумент=Платежное поручение",
            f"Номер={n + 1}",
            f"Дата={1 + n % 28:02d}.11.2026",
            f"Сумма={1000 + n}.{n % 100:02d}",
            f"ПлательщикСчет=40702810{n:012d}",
            f"Плательщик={cp['legal_name']}",
            f"ПлательщикИНН={cp['inn']}",
            "ПолучательСчет=40702810900000000001",
            "Получатель=ООО «Сатчел Трейд»",
            "ПолучательИНН=7712345678",
            f"НазначениеПлатежа=Оплата по счету {n} от 01.11.2026",
            "КонецДокумента",
        ]
    lines.append("КонецФайла")
    return "\r\n".join(lines).encode("cp1251")


def bench(report: Report, backend: str, url: str, clients: int, folder: Path) -> None:
    database = Database(url)
    try:
        migrate.upgrade(database)
        started = time.perf_counter()
        users, cps = _company(database, clients)
        with database.read() as session:
            sales = session.execute(text("SELECT count(*) FROM sale")).scalar_one()
        report.notes.append(
            f"{backend}: {clients:,} clients with {sales:,} sale rows loaded in "
            f"{time.perf_counter() - started:.1f} s"
        )
        office, seller = users["office"], users["seller3"]
        floors = [_floor(database) for _ in range(RUNS)]
        timings: dict[str, list[float]] = {"office": [], "seller": [], "laptop": []}
        counts: dict[str, int] = {}
        for _ in range(RUNS):
            with database.read() as session:
                spent, counts["office"] = _timed(
                    lambda: _analyses(session, session.get_one(User, office.id))
                )
                timings["office"].append(spent)
                spent, counts["seller"] = _timed(
                    lambda: _analyses(session, session.get_one(User, seller.id))
                )
                timings["seller"].append(spent)
        replica, held = _laptop(database, seller, folder)
        try:
            for _ in range(RUNS):
                spent, _report = _timed(lambda: replica.report("abc", *PERIOD))
                spent2, _rfm = _timed(lambda: replica.report("rfm", *PERIOD))
                timings["laptop"].append(spent + spent2)
            counts["laptop"] = len(_report.rows)
        finally:
            replica.close()
        floor = median(floors)
        for key, what, target in (
            ("office", f"ABC + XYZ + RFM, the office over all {clients:,} clients", 2.0),
            ("seller", "ABC + XYZ + RFM, one salesperson's clients on the server", 2.0),
            ("laptop", "ABC + XYZ + RFM, one salesperson's clients on their laptop (replica)", 0.5),
        ):
            figure = median(timings[key])
            report.add(
                Result(
                    f"{what} ({counts[key]:,} classified, 12 months)",
                    backend,
                    f"{figure:.2f} s",
                    f"≤ {target} s",
                    f"one GROUP BY of the sale rows {floor:.2f} s",
                    f"{figure / floor:.1f}×" if floor else "—",
                    figure <= target,
                    RUNS,
                )
            )
        assert counts["laptop"] == counts["seller"], counts
        report.notes.append(
            f"{backend}: laptop replica held {held:,} counterparties; timings "
            + "; ".join(f"{k} {', '.join(f'{s:.3f}' for s in v)} s" for k, v in timings.items())
            + f"; floors {', '.join(f'{s:.3f}' for s in floors)} s"
        )
        _bank(report, backend, database, office, cps)
    finally:
        database.dispose()


def _bank(
    report: Report, backend: str, database: Database, office: User, cps: list[dict[str, Any]]
) -> None:
    imports, floors = [], []
    for run in range(RUNS):
        raw = _statement(cps, 10_000)
        raw = raw.replace("Сумма=".encode("cp1251"), f"Сумма={run}".encode("cp1251"))
        started = time.perf_counter()
        with database.write() as session:
            done = trade.import_statement(session, session.get_one(User, office.id), raw)
        imports.append(time.perf_counter() - started)
        assert done.created == 10_000 and done.matched == 10_000, done
        rows = [
            {
                "id": new_id(),
                "key": f"floor-{run}-{n}",
                "number": str(n),
                "paid_on": date(2026, 11, 1),
                "amount": Decimal("1000.00"),
                "direction": "in",
                "payer_name": "ООО",
                "payee_name": "ООО",
                "purpose": "Оплата",
                "imported_at": datetime.now(UTC),
            }
            for n in range(10_000)
        ]
        started = time.perf_counter()
        with database.write() as session:
            session.execute(insert(Payment.__table__), rows)  # type: ignore[attr-defined]
        floors.append(time.perf_counter() - started)
    figure, floor = median(imports), median(floors)
    report.add(
        Result(
            "import of a bank statement of 10,000 documents (1CClientBankExchange), matched, committed",
            backend,
            f"{figure:.2f} s",
            "≤ 5 s",
            f"bare INSERT of the same rows {floor:.2f} s",
            f"{figure / floor:.1f}×" if floor else "—",
            figure <= 5.0,
            RUNS,
        )
    )
    with database.read() as session:
        kept = session.execute(select(col(Payment.id))).all()
    report.notes.append(
        f"{backend}: bank imports {', '.join(f'{s:.2f}' for s in imports)} s; {len(kept):,} payments kept"
    )


def main() -> None:
    run_standalone(
        "bench.analytics",
        __doc__,
        "Analytics",
        lambda parser: parser.add_argument("--clients", type=int, default=20_000),
        lambda report, backend, url, folder, args: bench(
            report, backend, url, args.clients, folder
        ),
    )


if __name__ == "__main__":
    main()
