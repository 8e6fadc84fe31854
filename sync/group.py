"""Group commit: pushes that arrive while another is being written share the next write.

A push holds the data-version row from the moment it takes its version until it commits (versions
must follow commit order, or a pull could step past a late commit), so pushes are written one at a
time however many arrive. Alone, a push is written at once, in a transaction of its own, as before.
Under load, the pushes that arrive while one transaction is being written wait for it and then go
together, at most ``most`` of them: one transaction, one version, one commit. Each is answered
only after the group's commit, and each is still all or nothing by itself. Most groups fail
nothing, so a group is first written trusting: its pushes one after the other without savepoints,
their push results, cursors and change log held and written at the end in a few statements. If
anything fails in it (a sequence gap, a revoked device, a mutation a rule refuses), the whole
write is rolled back and the group written again guarded: each push in a savepoint of its own, a
push refused rolled back alone and answered with its own error, the others going on. If the commit
itself fails, each push of the group is written again alone, so one push cannot fail the others.

Written in the order they arrived, the group gives every push what it would have had one after the
other: a later push of the group sees what the earlier ones wrote (a device's two pushes, a field
two laptops changed), and the change log names each change's device, as a push's own write does.

One ``PushGroups`` per server process, driven from its event loop (no lock: arriving, and starting
the writer, happen on the loop's thread); the writes run in the thread pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from anyio import CapacityLimiter
from anyio.to_thread import run_sync
from sqlmodel import Session

from crm import changes
from crm.database import Database

log = logging.getLogger(__name__)

# At most this many pushes in one transaction: enough to write a crowd in few commits, few enough
# that the first of a group does not wait long behind the rest (a push is a few milliseconds).
MOST = 32


@dataclass
class _Waiting:
    work: Callable[[Session], Any]
    about: Any = None  # what ``prepare`` is told of this push
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PushGroups:
    """Writes ``run``'s work, alone or in a group with the others waiting (see the module)."""

    def __init__(
        self,
        database: Database,
        *,
        most: int = MOST,
        prepare: Callable[[Session, list[Any], bool], AbstractContextManager[Any]] | None = None,
        after: Callable[[Database, list[Any]], None] | None = None,
    ) -> None:
        self.database = database
        self.most = most
        # The block a group's pushes are written in, given what ``run`` was told of each and
        # whether the group is written without savepoints (``sync.push.group``); by default one
        # that writes the group's change log at its end.
        self.prepare = prepare
        # Run after each write, with what ``run`` was told of each push (``sync.push.after_group``:
        # the laptops noted seen, in a transaction of its own); its failure fails no push.
        self.after = after
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions written, and the pushes in them (for the benchmark)
        self.pushes = 0

    async def run(self, work: Callable[[Session], Any], about: Any = None) -> Any:
        """``work(session)`` in a write shared with the pushes waiting now; its result, or its error.
        ``about``: what ``prepare`` is told of this push when it is written in a group."""
        entry = _Waiting(work, about)
        self._waiting.append(entry)
        loop = asyncio.get_running_loop()
        # A writer of a loop that ended (an app served by one event loop, then another) is not
        # waited for: this loop gets its own.
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = loop.create_task(self._write_waiting())
        return await entry.done

    async def _write_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        # A thread of the writer's own: it never waits for one behind the reads that fill the
        # process's threads (``server.app``), which would hold up every push waiting.
        own = CapacityLimiter(1)
        try:
            # Pushes of an ended loop have nobody left to answer.
            self._waiting = [e for e in self._waiting if e.done.get_loop() is loop]
            while self._waiting:
                group, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                try:
                    outcomes = await run_sync(self._write, group, limiter=own)
                except BaseException as exc:  # the thread pool itself failed: tell every waiter
                    outcomes = [(False, exc)] * len(group)
                    if not isinstance(exc, Exception):
                        self._answer(group, outcomes)
                        raise
                self._answer(group, outcomes)
        finally:
            self._writer = None

    @staticmethod
    def _answer(group: list[_Waiting], outcomes: list[tuple[bool, Any]]) -> None:
        for entry, (ok, value) in zip(group, outcomes, strict=True):
            if entry.done.done():  # its request was cancelled (the client went away)
                continue
            if ok:
                entry.done.set_result(value)
            else:
                entry.done.set_exception(value)

    def _write(self, group: list[_Waiting]) -> list[tuple[bool, Any]]:
        outcomes = self._write_group(group)
        if self.after is not None:
            try:
                self.after(self.database, [entry.about for entry in group])
            except Exception:  # noqa: BLE001 - the pushes are written; this is a note on them
                log.warning("could not finish a group of %d pushes", len(group), exc_info=True)
        return outcomes

    def _write_group(self, group: list[_Waiting]) -> list[tuple[bool, Any]]:
        self.groups += 1
        self.pushes += len(group)
        if len(group) == 1:
            return [self._alone(group[0])]
        try:
            return self._together(group, trusting=True)
        except Exception:  # noqa: BLE001 - one push failed the group: written again, each guarded
            log.debug("a push failed a group written without savepoints", exc_info=True)
        try:
            return self._together(group, trusting=False)
        except Exception:  # noqa: BLE001 - the commit failed: each alone, so none fails the others
            log.warning(
                "a group of %d pushes failed to commit; writing each alone",
                len(group),
                exc_info=True,
            )
            return [self._alone(entry) for entry in group]

    def _together(self, group: list[_Waiting], *, trusting: bool) -> list[tuple[bool, Any]]:
        """The group in one transaction. ``trusting``: without a savepoint a push, and any error
        ends the whole write (the caller writes the group again, guarded) — most groups fail
        nothing, and a savepoint and its release are two round trips a push. Otherwise each push
        in a savepoint of its own, its error its own answer."""
        outcomes: list[tuple[bool, Any]] = []
        with self.database.write() as session:
            _version_first(session)
            writing = (
                self.prepare(session, [entry.about for entry in group], trusting)
                if self.prepare is not None
                else changes.holding(session)
            )
            with writing:
                for entry in group:
                    # Each push names its own device (``crm.changes.from_device``); none
                    # inherits the one before it in the group.
                    if isinstance(session, changes.ServerWrite):
                        session.device_id = None
                    if trusting:
                        outcomes.append((True, entry.work(session)))
                        continue
                    try:
                        with session.begin_nested():
                            outcomes.append((True, entry.work(session)))
                    except Exception as exc:  # noqa: BLE001 - its own answer; the others go on
                        outcomes.append((False, exc))
        return outcomes

    def _alone(self, entry: _Waiting) -> tuple[bool, Any]:
        try:
            with self.database.write() as session:
                _version_first(session)
                result = entry.work(session)
        except Exception as exc:  # noqa: BLE001 - the push's answer
            return False, exc
        return True, result


def _version_first(session: Session) -> None:
    """Lock the data-version row before anything else, outside the pushes' savepoints: every push
    write then holds the row before any device's cursor. Locked by the first push that applies
    something, the row would come after that push's cursor, and a group of another process holding
    the row while it waits for a cursor of the same device (a laptop's retry that went to the
    other process) would deadlock with it. Only locked: a push that applies nothing (a replay)
    takes no version."""
    changes.hold(session)
