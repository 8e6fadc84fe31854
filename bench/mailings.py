"""A mailing of over a thousand letters queued (``crm.mailings.queue``); target ≤ 5 s.

    python -m bench.mailings [--only sqlite|postgresql] [--clients 1000]

The company: one salesperson's ``--clients`` counterparties (and as many of a colleague's, whom
the mailing does not reach), two contact persons each — of every ten people one has no email,
one asked for no mailings, one has an address mail came back from (``FailingAddress``), one shares
the client's other person's address — loaded in bulk. The mailing goes to a segment of every client
(the salesperson sees only theirs): about 1,200 letters for 1,000 clients.

Measured, medians of 3 runs each, each on a fresh draft:

- **queue**: ``mailings.queue`` in one committed transaction — the plan (segment members, their
  people, the failing addresses), one queued letter (an interaction) per address, its change-log
  entry and its recipient row, the mailing marked queued; the floor beside it is a raw
  ``executemany`` INSERT of the same number of interaction rows, committed;
- **plan**: ``mailings.plan`` alone (what the mailing's page and ``GET …/plan`` compute).

Sending is not timed: it goes at the mailbox's pace (``Mailbox.send_per_hour``), not the server's.
Results go to the section "Mailings" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import SQLModel

from bench.harness import Report, Result, median, run_standalone
from crm import accounts, mailings, records
from crm.database import Database
from crm.models import (
    ContactPerson,
    Counterparty,
    FailingAddress,
    Interaction,
    Mailing,
    User,
    new_id,
)
from crm.models.base import construct
from server import migrate

RUNS = 3
TARGET = 5.0


def _row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    record = construct(model, **values)
    return {c.key: getattr(record, c.key) for c in model.__table__.columns}  # type: ignore[attr-defined]


def _company(database: Database, clients: int) -> tuple[User, str]:
    """The salesperson, and a segment of every client."""
    with database.write() as session:
        seller = accounts.create_user(
            session, login="seller", full_name="Продавец Первый", team="Москва"
        )
        other = accounts.create_user(
            session, login="other", full_name="Продавец Второй", team="Питер"
        )
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    cps: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    failing: list[str] = []
    for n in range(2 * clients):
        owner = seller if n < clients else other
        cp_id = new_id()
        cps.append(
            _row(
                Counterparty,
                id=cp_id,
                legal_name=f"ООО «Клиент {n}»",
                owner_id=owner.id,
                created_at=now,
                updated_at=now,
            )
        )
        for k in range(2):
            i = 2 * n + k
            address = f"p{i}@client{n}.ru"
            kind = i % 10
            if kind == 5:
                address = f"p{i - 1}@client{n}.ru"  # the same as the client's other person
            if kind == 2:
                failing.append(address)
            people.append(
                _row(
                    ContactPerson,
                    id=new_id(),
                    counterparty_id=cp_id,
                    full_name=f"Лицо {i} Иванович",
                    contacts=[] if kind == 0 else [{"kind": "email", "value": address}],
                    no_mailings=kind == 1,
                    created_at=now,
                    updated_at=now,
                )
            )
    with database.write() as session:
        for model, rows in ((Counterparty, cps), (ContactPerson, people)):
            for start in range(0, len(rows), 1000):
                session.execute(insert(model), rows[start : start + 1000])
        for address in failing:
            session.add(FailingAddress(email=address, reason="550 no such user"))
        segment = records.create(
            session, seller, records.record_type("segments"), {"name": "Все", "criteria": {}}
        )
        return seller, str(segment.id)


def _draft(database: Database, seller: User, segment_id: str, n: int) -> str:
    with database.write() as session:
        made = records.create(
            session,
            session.get_one(User, seller.id),
            records.record_type("mailings"),
            {
                "name": f"Рассылка {n}",
                "subject": "{{contact.first_name}}, новая коллекция",
                "body": "Здравствуйте, {{contact.name}}!\n\nЖдём вас.",
                "segment_id": segment_id,
            },
        )
        return str(made.id)


def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def _queue(database: Database, seller: User, mailing_id: str) -> int:
    with database.write() as session:
        done = mailings.queue(session, session.get_one(User, seller.id), mailing_id)
        return done.letters


def _plan(session: Any, mailing_id: str) -> mailings.Plan:
    return mailings.plan(session, session.get_one(Mailing, mailing_id))


def _floor(database: Database, rows: list[dict[str, Any]]) -> float:
    fresh = [{**r, "id": new_id()} for r in rows]
    started = time.perf_counter()
    with database.write() as session:
        session.connection().execute(insert(Interaction), fresh)
    return time.perf_counter() - started


def bench(report: Report, backend: str, url: str, clients: int, folder: Path) -> None:
    database = Database(url)
    try:
        migrate.upgrade(database)
        started = time.perf_counter()
        seller, segment_id = _company(database, clients)
        report.notes.append(
            f"{backend}: {2 * clients:,} counterparties and {4 * clients:,} contact persons "
            f"loaded in {time.perf_counter() - started:.1f} s"
        )
        queued, plans, floors = [], [], []
        letters = 0
        for n in range(RUNS):
            mailing_id = _draft(database, seller, segment_id, n)
            with database.read() as session:
                spent, plan = _timed(partial(_plan, session, mailing_id))
                plans.append(spent)
                rows, _links = mailings._letters(
                    session.get_one(Mailing, mailing_id),
                    session.get_one(User, seller.id),
                    plan.recipients,
                )
            floors.append(_floor(database, rows))
            spent, letters = _timed(partial(_queue, database, seller, mailing_id))
            queued.append(spent)
            assert letters == len(plan.recipients) >= 1000, letters
        floor = median(floors)
        figure = median(queued)
        report.add(
            Result(
                f"a mailing queued: {letters:,} letters to {clients:,} clients' people "
                f"({plan.opted_out} opted out, {plan.unreachable} unreachable, "
                f"{plan.duplicates} sharing an address left out)",
                backend,
                f"{figure:.2f} s",
                f"≤ {TARGET:.0f} s",
                f"INSERT of {letters:,} interaction rows {floor:.2f} s",
                f"{figure / floor:.1f}×" if floor else "—",
                figure <= TARGET,
                RUNS,
            )
        )
        report.notes.append(
            f"{backend}: queue {', '.join(f'{s:.3f}' for s in queued)} s; plan alone "
            f"{', '.join(f'{s:.3f}' for s in plans)} s; floors {', '.join(f'{s:.3f}' for s in floors)} s"
        )
    finally:
        database.dispose()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=1000)


def main() -> None:
    run_standalone(
        "bench.mailings",
        __doc__,
        "Mailings",
        _arguments,
        lambda report, backend, url, folder, args: bench(
            report, backend, url, args.clients, folder
        ),
    )


if __name__ == "__main__":
    main()
