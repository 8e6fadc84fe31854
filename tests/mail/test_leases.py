"""Two mail workers on one database (issue 16): a mailbox is read by one worker at a time, a dead
worker's mailboxes are taken over (at once when it ran on this host, else when its lease expires),
and the outbox is sent by one worker at a time — no letter filed or sent twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from crm.models import Interaction, utcnow
from mail import leases
from mail.models import MailLease, MailMessage
from tests.mail.letters import generate
from tests.mail.servers import SALES, DovecotServer
from tests.mail.world import World, make_world


@pytest.fixture
def world(database, tmp_path: Path, dovecot: DovecotServer) -> World:  # type: ignore[no-untyped-def]
    world = make_world(database, tmp_path, dovecot)
    world.add_mailbox(SALES)
    return world


def _known(world: World) -> int:
    with world.database.read() as session:
        return int(session.execute(select(func.count()).select_from(MailMessage)).scalar_one())


def test_a_lease_is_one_workers_until_it_expires_or_its_process_is_gone(world: World) -> None:
    db = world.database
    a, b = leases.Worker(), leases.Worker()
    assert a.acquire(db, "mailbox:x") is True  # from nobody
    assert b.acquire(db, "mailbox:x") is None  # held
    assert a.acquire(db, "mailbox:x") is False  # renewed
    # A held up past its lease: B takes it, and A's next batch is refused (rolled back).
    later = utcnow() + leases.LEASE + timedelta(seconds=1)
    assert b.acquire(db, "mailbox:x", later) is True
    with pytest.raises(leases.LeaseLost), db.write() as session:
        a.renew(session, "mailbox:x", later)
    # A worker of this host whose process is gone frees its leases at once.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = leases.Worker(pid=gone.pid)
    b.release(db, "mailbox:x")
    assert dead.acquire(db, "mailbox:x") is True
    assert a.acquire(db, "mailbox:x") is True
    # Another host's worker is waited for until its lease expires.
    far = leases.Worker(host="elsewhere", pid=gone.pid)
    a.release(db, "mailbox:x")
    assert far.acquire(db, "mailbox:x") is True
    assert a.acquire(db, "mailbox:x") is None


def test_a_mailbox_held_by_another_worker_is_left_to_it_then_read_once(world: World) -> None:
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generate(30)))
    other = leases.Worker(host="elsewhere")
    box = world.mailboxes[SALES.address]
    assert other.acquire(world.database, leases.mailbox_lease(box)) is True
    mine = leases.Worker()
    report = world.ingest(worker=mine).run(box)
    assert report.skipped and report.error is None and _known(world) == 0
    # Who holds it, for the administrator's `mail run --once` line: its host, process, lease's end.
    assert report.held_by is not None
    assert report.held_by.startswith(f"elsewhere process {other.pid}, until ")
    other.release(world.database, leases.mailbox_lease(box))
    report = world.ingest(worker=mine).run(box)
    assert not report.skipped and report.error is None
    assert _known(world) == 30
    # Its lease is let go at the end of the run: the other worker may read it next.
    with world.database.read() as session:
        assert session.get(MailLease, leases.mailbox_lease(box)) is None


def test_a_worker_killed_mid_batch_is_taken_over_and_nothing_is_filed_twice(
    world: World, tmp_path: Path
) -> None:
    letters = generate(60)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in letters))
    box = world.mailboxes[SALES.address]
    script = textwrap.dedent(
        f"""
        import sys, time
        from crm.database import Database
        from mail import bridge, leases
        from server.config import Config

        config = Config.load()
        database = Database(config.database_url)

        def hang(folder, done):
            print("batch", done, flush=True)
            time.sleep(120)  # killed here, holding the lease, in the middle of the folder

        ingest = bridge.ingest_for(
            database, config, worker=leases.Worker(), batch_count=10, after_batch=hang
        )
        ingest.run({box!r})
        """
    )
    env = {
        **os.environ,
        "SATCHEL_DATA_DIR": str(world.config.data_dir),
        "SATCHEL_DATABASE_URL": world.database.url,
        "SATCHEL_COMPANY_DOMAINS": ",".join(world.config.company_domain_list),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("batch"), line
    finally:
        child.kill()
        child.wait()
    first = _known(world)
    assert 0 < first < 60
    with world.database.read() as session:
        lease = session.get(MailLease, leases.mailbox_lease(box))
        assert lease is not None and lease.pid == child.pid  # the dead worker's, not expired yet
    report = world.ingest(worker=leases.Worker()).run(box)
    assert not report.skipped and report.error is None
    assert _known(world) == 60
    with world.database.read() as session:
        ids = [m for (m,) in session.execute(select(Interaction.message_id)).all() if m is not None]
    assert len(ids) == len(set(ids))  # no letter filed twice


def test_a_running_worker_takes_over_a_mailbox_soon_after_its_holder_dies(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``satchel mail run`` (``bridge.serve``) finding a mailbox held by a live worker of this host
    leaves it, asks again every few seconds — not after a poll of minutes or an IDLE on a mailbox
    it does not read — and reads it as soon as that worker's process is gone."""
    import dataclasses
    import threading
    import time

    from mail import bridge

    monkeypatch.setattr(bridge, "HELD_RETRY_SECONDS", 0.5)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generate(12)))
    box = world.mailboxes[SALES.address]
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert leases.Worker(pid=holder.pid).acquire(world.database, leases.mailbox_lease(box))
        settings = dataclasses.replace(world.config, mail_poll_seconds=600)
        reports: list[Any] = []
        stop = threading.Event()
        running = threading.Thread(
            target=bridge.serve,
            args=(world.database, settings),
            kwargs={"stop": stop, "idle_seconds": 600, "on_report": reports.append},
            daemon=True,
        )
        running.start()
        try:
            deadline = time.monotonic() + 20
            while not reports and time.monotonic() < deadline:
                time.sleep(0.05)
            assert reports and reports[0].skipped and _known(world) == 0
            holder.kill()
            holder.wait()
            died = time.monotonic()
            while _known(world) < 12 and time.monotonic() < died + 15:
                time.sleep(0.1)
            assert _known(world) == 12
            assert time.monotonic() - died < 10  # not the 600 s poll, nor the 2-minute lease
        finally:
            stop.set()
            running.join(30)
    finally:
        holder.kill()
        holder.wait()
