"""Convergence across two server processes on one PostgreSQL (issue 16), one of them killed mid-push.

The same seeded histories as ``test_convergence`` (laptops offline, lost answers, duplicated and
replayed pushes, restored replicas, …), but the server is two real ``satchel serve`` processes over
TCP: each request of each laptop goes to either, drawn at random, so a device's retry of a push
lands on the other process as often as not; and now and then the process a push was sent to is
killed (SIGKILL, a crash or a power cut) while it works on it, then started again. The invariants
checked at the end are the same: every laptop converges on the server's view, nothing is applied
twice (a push's sequence numbers are the database's, not a process's), no outbox is stuck and no
record leaks.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crm.database import Database
from server.process import ServerProcess
from tests.conftest import env_number
from tests.sync.convergence import FaultyTransport, run_history
from tests.sync.test_convergence import OFFSET

# One history a run (two servers to start, ~10 s): the offset moves every run, so the histories
# tried still grow by one a run; SATCHEL_PROCESS_HISTORIES asks for more.
HISTORIES = env_number("SATCHEL_PROCESS_HISTORIES", "1", least=1)
KILLS = 0.08  # the share of pushes whose process is killed while it works on them


class TwoServers(httpx.BaseTransport):
    """Sends each request to one of the processes at random; kills one mid-push now and then."""

    def __init__(self, servers: list[ServerProcess], rng: random.Random) -> None:
        self.servers = servers
        self.rng = rng
        self.inner = httpx.HTTPTransport()
        self.kills = 0
        self.answered: dict[int, int] = {}  # requests answered, by port
        # The history's own faulty transport: processes die only while it injects faults (not once
        # the network heals, when every laptop must get through).
        self.outer: FaultyTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        server = self.rng.choice(self.servers)
        request.url = request.url.copy_with(port=server.port)
        faulty = (
            request.url.path == "/sync/v1/push"
            and self.outer is not None
            and self.outer.faults > 0
            and not self.outer.nested
        )
        # The first push sent while faults are about always meets one; later ones now and then.
        kill = faulty and (self.kills == 0 or self.rng.random() < KILLS)
        timer = threading.Timer(self.rng.uniform(0.0, 0.03), server.kill) if kill else None
        if timer is not None:
            timer.start()
        try:
            response = self.inner.handle_request(request)
            response.read()
        except httpx.TransportError as exc:
            raise httpx.ReadError(f"the server process died (injected): {exc}") from None
        finally:
            if timer is not None:
                timer.join()
                self.kills += 1
                server.start()  # a supervisor starts it again
        self.answered[server.port] = self.answered.get(server.port, 0) + 1
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def servers(database: Database, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    settings = {
        "SATCHEL_DATA_DIR": str(tmp_path / "server"),
        "SATCHEL_SECRET_KEY": "convergence-two-processes-secret",
        "SATCHEL_LOGIN_MAX_FAILURES": "1000",
    }
    started = [ServerProcess(database.url, settings=settings) for _ in range(2)]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("seed", range(OFFSET, OFFSET + HISTORIES))
def test_laptops_converge_across_two_processes_one_killed_mid_push(
    seed: int, servers: list[ServerProcess], database: Database, tmp_path: Path
) -> None:
    transport = TwoServers(servers, random.Random(seed))
    try:
        run_history(
            seed,
            database,
            transport,
            servers[0].base_url,
            tmp_path / "laptops",
            watch=lambda outer: setattr(transport, "outer", outer),
        )
    finally:
        transport.close()
    # A process died under a push at least once, and both answered (a retry may land on either).
    assert transport.kills >= 1
    assert len(transport.answered) == 2, transport.answered
