"""Leases: several ``satchel mail run`` workers on one database share the work, each piece by one.

A lease is a row of ``mail_lease`` naming what it covers (a mailbox, ``mailbox:<id>``, or the
outbox, ``outbox``), the worker holding it (its host and process id) and until when. A worker
reads a mailbox only while it holds the mailbox's lease, and sends the outbox only while it holds
the outbox's; every batch it files renews the lease in the batch's own transaction, and a batch
whose lease went to another worker meanwhile is rolled back (:class:`LeaseLost`), so two workers
never file the same folder at once whatever their clocks and pauses.

A lease is free when it has expired (its holder stopped renewing it: dead, hung, cut off), or at
once when its holder ran on this host and that process is gone (a worker restarted after a crash
takes its mailboxes back without waiting). A worker that takes the outbox's lease from another
(or the first time) may settle the letters left "sending" by the one before
(``mail.outbox.recover``): nobody else can be sending them.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from crm.database import Database
from crm.models.base import utcnow
from mail.models import MailLease as Lease

__all__ = ["LEASE", "OUTBOX", "Lease", "LeaseLost", "Worker", "holder", "mailbox_lease"]

LEASE = timedelta(minutes=2)  # renewed by every batch filed and every letter sent
OUTBOX = "outbox"


class LeaseLost(Exception):
    """The lease went to another worker (it expired while this one was held up): stop there."""


def mailbox_lease(mailbox_id: str) -> str:
    return f"mailbox:{mailbox_id}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def holder(database: Database, name: str) -> str | None:
    """Who holds the lease ``name``, as an administrator reads it: ``host process 1234, until
    2026-12-03 10:15 UTC``; None when nobody does."""
    with database.read() as session:
        lease = session.get(Lease, name)
        if lease is None:
            return None
        return f"{lease.host} process {lease.pid}, until {lease.until:%Y-%m-%d %H:%M:%S} UTC"


@dataclass
class Worker:
    """This process as a holder of leases (a new identity per process)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    ttl: timedelta = LEASE

    def _free(self, lease: Lease, now: datetime) -> bool:
        if lease.worker_id == self.id or lease.until < now:
            return True
        return lease.host == self.host and lease.pid != self.pid and not _alive(lease.pid)

    def take(self, session: Session, name: str, now: datetime | None = None) -> bool | None:
        """Take or renew the lease ``name`` in the caller's write: None when another worker holds
        it, True when it was taken from nobody or from a worker gone (what it left half done is
        this one's to settle), False when this worker held it already."""
        now = now or utcnow()
        lease = session.get(Lease, name, with_for_update=True)
        if lease is None:
            session.add(
                Lease(
                    name=name,
                    worker_id=self.id,
                    host=self.host[:255],
                    pid=self.pid,
                    until=now + self.ttl,
                )
            )
            session.flush()  # two workers inserting at once: one of them fails here, and waits
            return True
        if not self._free(lease, now):
            return None
        fresh = lease.worker_id != self.id
        lease.worker_id, lease.host, lease.pid = self.id, self.host[:255], self.pid
        lease.until = now + self.ttl
        if fresh:
            lease.taken_at = now
        session.add(lease)
        return fresh

    def renew(self, session: Session, name: str, now: datetime | None = None) -> None:
        """Keep the lease ``name`` in the caller's write; :class:`LeaseLost` when another took it."""
        if self.take(session, name, now) is not False:
            raise LeaseLost(f"the lease on {name} went to another worker")

    def acquire(self, database: Database, name: str, now: datetime | None = None) -> bool | None:
        """:meth:`take` in a write of its own; a race lost on the first insert is "held"."""
        try:
            with database.write() as session:
                return self.take(session, name, now)
        except Exception:  # noqa: BLE001 - the other worker's insert won: it holds the lease
            with database.read() as session:
                lease = session.get(Lease, name)
                if lease is not None and lease.worker_id != self.id:
                    return None
            raise

    def release(self, database: Database, name: str) -> None:
        """Let go of the lease ``name`` if this worker holds it (the next worker need not wait)."""
        with database.write() as session:
            session.execute(
                delete(Lease).where(col(Lease.name) == name, col(Lease.worker_id) == self.id)
            )
