"""The laptop UI's sync in the background: every few minutes, and at once on "sync now".

The screens never wait on the network: they read the replica, and this thread
alone runs ``SyncAgent.sync()``. Both write the replica, which has one writer
(``crm.database``: one writing connection, ``BEGIN IMMEDIATE``): the agent never
holds a transaction while it talks to the server (it stores each answer in a
short transaction of its own), so a screen's save waits at most for one such
transaction, never for the network, and the two cannot deadlock.

What the last attempt did (online or not, its problem, its progress) is kept
here in memory for the header and the Sync screen; what lasts (pending
changes, last finished sync, quarantine) is in the replica.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import httpx

from clients.agent import Offline, SyncAgent, SyncError
from clients.replica import Replica
from crm.errors import SatchelError
from crm.models.base import utcnow

log = logging.getLogger(__name__)

DEFAULT_EVERY = 300.0  # seconds between background syncs: five minutes
# While the server cannot be reached, try again sooner: the header should say "online" and the
# outbox should go out within a minute of the network coming back, not up to five minutes later.
OFFLINE_EVERY = 30.0


@dataclass(frozen=True)
class Attempt:
    """How the sync thread stands now (a consistent copy: the fields change together)."""

    online: bool | None = None  # None: not tried yet
    running: bool = False
    phase: str | None = None
    done: int = 0
    total: int | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    attempts: int = 0  # finished attempts since the start


class BackgroundSync:
    """Runs ``SyncAgent(replica, http).sync()`` in a daemon thread, every ``every`` seconds and when woken.

    After an attempt that found the server unreachable the next one comes after
    ``offline_every`` seconds instead, until one gets through.

    ``http`` is an ``httpx.Client`` whose base URL is the server; it may be swapped
    (``background.http = …``) between syncs.
    """

    def __init__(
        self,
        replica: Replica,
        http: httpx.Client,
        every: float = DEFAULT_EVERY,
        offline_every: float = OFFLINE_EVERY,
    ) -> None:
        self.replica = replica
        self.http = http
        self.every = every
        self.offline_every = min(every, offline_every)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._now = Attempt()
        self._thread: threading.Thread | None = None

    @property
    def now(self) -> Attempt:
        with self._changed:
            return self._now

    def start(self) -> None:
        """Start the thread; its first sync runs at once (the header soon says online or offline)."""
        self._wake.set()
        self._thread = threading.Thread(target=self._loop, name="satchel-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to end and wait for a sync under way to finish (it stores what it got)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sync_now(self) -> None:
        """Wake the thread; returns at once. Clicks during a sync make one more sync after it, not many."""
        self._wake.set()

    def wait(self, attempts: int, timeout: float) -> bool:
        """Wait until ``attempts`` syncs have finished since the start (tests, the CLI's shutdown)."""
        return self.wait_for(lambda now: now.attempts >= attempts, timeout)

    def wait_for(self, condition: Callable[[Attempt], bool], timeout: float) -> bool:
        """Wait until ``condition`` holds of how the thread stands; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self._now), timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.offline_every if self.now.online is False else self.every)
            if self._stop.is_set():
                return
            self._wake.clear()
            self.run_once()

    def _set(self, **changes: object) -> None:
        with self._changed:
            self._now = replace(self._now, **changes)  # type: ignore[arg-type]
            self._changed.notify_all()

    def _progress(self, phase: str, done: int, total: int | None) -> None:
        self._set(phase=phase, done=done, total=total)

    def run_once(self) -> None:
        """One sync, whatever happens: its outcome is recorded, never raised (the thread must live on)."""
        self._set(running=True, phase=None, done=0, total=None, last_attempt=utcnow())
        online: bool | None = True
        error: str | None = None
        try:
            SyncAgent(self.replica, self.http).sync(self._progress)
        except Offline:
            online = (
                False  # not a problem to report: the header says offline, edits wait in the outbox
            )
        except (
            SyncError
        ) as exc:  # the server answered, and refused: not logged in, upgrade, an error
            error = exc.message
        except SatchelError as exc:  # the replica refused (no user yet)
            error = exc.message
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the thread; it is shown and logged
            log.exception("background sync failed")
            online, error = None, f"{type(exc).__name__}: {exc}"
        with self._changed:
            self._now = replace(
                self._now,
                running=False,
                phase=None,
                online=online,
                last_error=error,
                attempts=self._now.attempts + 1,
            )
            self._changed.notify_all()
