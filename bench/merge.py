"""Merge of a counterparty holding 5,000 interactions into its duplicate (``crm.merge``); target ≤ 1 s.

    python -m bench.merge [--only sqlite|postgresql] [--interactions 5000]

The base is the medium demo company (2,000 counterparties, their people and history), so the
tables and their indexes have a company's size. Each run adds a pair — a client entered twice,
the duplicate holding ``--interactions`` calls, meetings and letters, 20 contact persons, 10 deals
and 20 reminders — and merges it as the office would (``server.merging.merge``: the domain's
merge and the mail bridge's rows, one transaction, committed). The floor, in the same run on
another such pair: the bare ``UPDATE … SET counterparty_id`` of the same rows in one transaction —
what any merge must write, without the change log, the versions and the checks. Medians of 3
runs; the section "Merge" of bench/RESULTS.md.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import col

from bench.harness import Report, Result, median, run_standalone
from crm import demo, records
from crm.database import Database
from crm.models import ContactPerson, Deal, Interaction, Reminder, User
from server import merging, migrate

RUNS = 3
TARGET_SECONDS = 1.0
TODAY = date(2026, 12, 1)


def _pair(database: Database, admin: User, owner: User, interactions: int) -> tuple[str, str]:
    """A survivor and a duplicate of it holding ``interactions`` interactions and more (made by an
    administrator, for the salesperson ``owner``)."""
    office = admin
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    with database.write() as session:
        rt = records.record_type("counterparties")
        survivor = records.create(
            session, office, rt, {"legal_name": "ООО «Бенч»", "owner_id": owner.id}
        )
        duplicate = records.create(
            session,
            office,
            rt,
            {"legal_name": "Бенч ООО", "owner_id": owner.id, "website": "bench.test"},
        )
        people = records.create_many(
            session,
            office,
            records.record_type("contact-persons"),
            [{"counterparty_id": duplicate.id, "full_name": f"Контакт {n}"} for n in range(20)],
        )
        records.create_many(
            session,
            office,
            records.record_type("deals"),
            [{"counterparty_id": duplicate.id, "title": f"Сделка {n}"} for n in range(10)],
        )
        records.create_many(
            session,
            office,
            records.record_type("reminders"),
            [
                {
                    "subject_type": "counterparty",
                    "subject_id": duplicate.id,
                    "title": f"Перезвонить {n}",
                    "due_at": (start + timedelta(days=n)).isoformat(),
                    "assignee_id": owner.id,
                }
                for n in range(20)
            ],
        )
    kinds = ("call", "meeting", "letter")
    for first in range(0, interactions, records.MAX_BATCH):
        with database.write() as session:
            records.create_many(
                session,
                office,
                records.record_type("interactions"),
                [
                    {
                        "counterparty_id": duplicate.id,
                        "contact_person_id": people[n % len(people)].id,
                        "kind": kinds[n % 3],
                        "subject": f"Разговор {n}",
                        "starts_at": (start + timedelta(hours=n)).isoformat(),
                        "responsible_id": owner.id,
                    }
                    for n in range(first, min(interactions, first + records.MAX_BATCH))
                ],
            )
    return str(survivor.id), str(duplicate.id)


def _floor(database: Database, survivor: str, duplicate: str) -> float:
    started = time.perf_counter()
    with database.write() as session:
        for model in (ContactPerson, Deal, Interaction, Reminder):
            session.execute(
                update(model)
                .where(col(model.counterparty_id) == duplicate)  # type: ignore[attr-defined]
                .values(counterparty_id=survivor)
            )
    return time.perf_counter() - started


def bench(report: Report, backend: str, url: str, interactions: int) -> None:
    database = Database(url)
    try:
        migrate.upgrade(database)
        started = time.perf_counter()
        demo.load(database, demo.build(demo.SIZES["medium"], 1, TODAY))
        report.notes.append(
            f"{backend}: the medium demo company loaded in {time.perf_counter() - started:.1f} s"
        )
        with database.read() as session:
            admin, office, owner = (
                session.execute(select(User).where(col(User.login) == login)).scalar_one()
                for login in ("admin", "office", "ivanov")
            )
        merges, floors = [], []
        moved: dict[str, int] = {}
        for _ in range(RUNS):
            survivor, duplicate = _pair(database, admin, owner, interactions)
            floors.append(_floor(database, survivor, duplicate))
            survivor, duplicate = _pair(database, admin, owner, interactions)
            started = time.perf_counter()
            with database.write() as session:
                actor = session.get_one(User, office.id)
                moved = dict(merging.merge(session, actor, survivor, duplicate, set()).moved)
            merges.append(time.perf_counter() - started)
        assert moved.get("interactions") == interactions, moved
        figure, floor = median(merges), median(floors)
        report.add(
            Result(
                f"merge of a counterparty holding {interactions:,} interactions (and 20 people, "
                "10 deals, 20 reminders) into its duplicate, committed",
                backend,
                f"{figure:.2f} s",
                f"≤ {TARGET_SECONDS:.0f} s",
                f"bare UPDATE of the same rows {floor:.2f} s",
                f"{figure / floor:.1f}×" if floor else "—",
                figure <= TARGET_SECONDS,
                RUNS,
            )
        )
        report.notes.append(
            f"{backend}: merges {', '.join(f'{s:.2f}' for s in merges)} s, floors "
            f"{', '.join(f'{s:.2f}' for s in floors)} s; moved {moved}"
        )
    finally:
        database.dispose()


def main() -> None:
    run_standalone(
        "bench.merge",
        __doc__,
        "Merge",
        lambda parser: parser.add_argument("--interactions", type=int, default=5_000),
        lambda report, backend, url, _folder, args: bench(report, backend, url, args.interactions),
    )


if __name__ == "__main__":
    main()
