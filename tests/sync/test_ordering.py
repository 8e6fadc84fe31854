"""The pull cursor never skips a change that commits late (DESIGN, sync invariant 1).

On PostgreSQL a bare sequence would hand version 5 to a transaction that
commits after the one holding version 6; a reader that saw 6 would move its
cursor past 5 for good. Here the version comes from one counter row that stays
locked until commit, so a second writer waits, and a pull taken meanwhile sees
neither; once both commit, the next pull from that cursor sees both.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from typing import Any

from sqlalchemy import text

from crm import records
from crm.database import Database
from crm.models import User
from sync import pull
from tests.conftest import make_user

COUNTERPARTIES = records.record_type("counterparties")


def _pull_all(database: Database, user: User, cursor: str | None) -> tuple[set[str], str]:
    seen: set[str] = set()
    while True:
        with database.read() as session:
            answer = pull.pull(session, user, {"cursor": cursor, "limit": 50})
        seen.update(c["id"] for c in answer["changes"] if c["type"] == "counterparties")
        cursor = answer["cursor"]
        if not answer["more"]:
            return seen, cursor


def _waiting_for_the_writer(database: Database, thread: threading.Thread) -> bool:
    """Whether ``thread`` is blocked behind another write transaction (not merely not done yet)."""
    if database.dialect == "postgresql":
        # Its backend waits for the counter row, locked by the first writer until commit.
        with database.read() as session:
            waiting = session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            return bool(waiting.scalar_one())
    # SQLite has one writing connection, held by the first writer: the thread waits in the pool for it.
    frame = sys._current_frames().get(thread.ident or -1)
    codes = []
    while frame is not None:
        codes.append(frame.f_code)
        frame = frame.f_back
    return (
        bool(codes)
        and codes[0].co_name == "wait"
        and any(
            code.co_name == "_do_get"
            and code.co_filename.replace("\\", "/").endswith("sqlalchemy/pool/impl.py")
            for code in codes
        )
    )


def test_a_writer_holding_its_transaction_open_is_not_skipped(database: Database) -> None:
    admin = make_user(database, "admin", role="admin")
    writer = make_user(database, "ivanov")
    _, cursor = _pull_all(database, admin, None)
    created: dict[str, str] = {}
    order: list[str] = []
    first_written, release = threading.Event(), threading.Event()

    def slow() -> None:
        with database.write() as session:
            created["slow"] = records.create(
                session, writer, COUNTERPARTIES, {"legal_name": "ООО Медленная"}
            ).id
            first_written.set()
            release.wait(10)
        order.append("slow")

    def fast() -> None:
        with database.write() as session:
            created["fast"] = records.create(
                session, writer, COUNTERPARTIES, {"legal_name": "ООО Быстрая"}
            ).id
        order.append("fast")

    slow_thread = threading.Thread(target=slow)
    slow_thread.start()
    assert first_written.wait(10)
    fast_thread = threading.Thread(target=fast)
    fast_thread.start()
    deadline = time.monotonic() + 10
    while not _waiting_for_the_writer(database, fast_thread):
        assert time.monotonic() < deadline and fast_thread.is_alive(), (
            "the second writer never queued"
        )
        time.sleep(0.01)
    # The second writer is queued behind the first; a pull now sees neither and keeps its cursor.
    seen, during = _pull_all(database, admin, cursor)
    assert seen == set() and during == cursor and order == []
    release.set()
    slow_thread.join(10)
    fast_thread.join(10)
    assert order == ["slow", "fast"]
    seen, after = _pull_all(database, admin, during)
    assert seen == {created["slow"], created["fast"]}
    with database.read() as session:
        versions = {
            c["id"]: c["version"] for c in pull.pull(session, admin, {"cursor": cursor})["changes"]
        }
    assert versions[created["slow"]] < versions[created["fast"]]  # versions follow commit order


def test_concurrent_writers_and_an_incremental_puller_lose_nothing(database: Database) -> None:
    admin = make_user(database, "admin", role="admin")
    writers = [make_user(database, f"writer{i}") for i in range(4)]
    created: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    seen: set[str] = set()
    state: dict[str, Any] = {"cursor": None}

    def write(user: User, seed: int) -> None:
        rng = random.Random(seed)
        for n in range(15):
            with database.write() as session:
                ids = [
                    records.create(
                        session, user, COUNTERPARTIES, {"legal_name": f"ООО {user.login} {n} {k}"}
                    ).id
                    for k in range(rng.randint(1, 3))
                ]
                time.sleep(rng.random() / 200)  # commit a little later than the version was taken
            with lock:
                created.extend(ids)

    def puller() -> None:
        while not done.is_set():
            got, state["cursor"] = _pull_all(database, admin, state["cursor"])
            seen.update(got)

    threads = [threading.Thread(target=write, args=(u, i)) for i, u in enumerate(writers)]
    reader = threading.Thread(target=puller)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    reader.join(60)
    got, _ = _pull_all(database, admin, state["cursor"])
    seen.update(got)
    assert len(created) == len(set(created)) >= 60
    assert seen == set(created)
