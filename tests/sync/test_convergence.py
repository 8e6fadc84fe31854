"""Convergence: seeded random histories of 3–5 laptops with faults, on SQLite and PostgreSQL.

``SATCHEL_CONVERGENCE_HISTORIES`` (default 3, lowered from 200, then 40, 20, 8, 6 and 4, to keep ``make
test`` short) histories per database per run, starting at a seed offset drawn from the run's seed
(``tests/conftest.py RUN_SEED``; ``SATCHEL_RUN_SEED`` or ``SATCHEL_CONVERGENCE_OFFSET`` pins it),
so that every run tries histories no run tried before where a fixed range found nothing new:
67 runs a week (CI and developers) try as many distinct histories per database as the 200 fixed
ones did, and one ``make soak`` (weekly or nightly) 5,000 more. ``REGRESSIONS`` run every time. pytest prints
the offset in its header. ``make soak`` (``python -m tests.sync.convergence
--histories 5000``) runs thousands. A failing seed is printed in the assertion;
add it to ``REGRESSIONS`` so it is tried on every run from then on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from crm.database import Database
from server.app import create_app
from server.config import Config
from sync import protocol
from tests.conftest import RUN_SEED, env_number
from tests.inprocess import InProcessClient
from tests.sync.convergence import run_history

HISTORIES = env_number("SATCHEL_CONVERGENCE_HISTORIES", "3", least=1)
# The same on every xdist worker (they must collect the same tests): the run's seed, which the
# controller draws before the workers start.
OFFSET = env_number("SATCHEL_CONVERGENCE_OFFSET", str(RUN_SEED * HISTORIES))
# Seeds that once failed, kept for good (see the module docstring).
REGRESSIONS: list[int] = [
    517,  # a resolution from a laptop whose user lost access before the record went
    3085,  # a record made on a copied replica, then deleted: both copies are one device
    800487,  # the fetch of a record whose edit came back a conflict lost its answer: never retried
]


@pytest.fixture
def client(config: Config, database: Database) -> Iterator[TestClient]:
    with InProcessClient(create_app(config, database)) as client:
        yield client


@pytest.mark.parametrize("seed", [*REGRESSIONS, *range(OFFSET, OFFSET + HISTORIES)])
def test_laptops_converge_on_the_servers_view(
    seed: int, client: TestClient, database: Database, tmp_path: Path
) -> None:
    page = protocol.DEFAULT_PULL
    run_history(seed, database, client._transport, str(client.base_url), tmp_path)
    assert protocol.DEFAULT_PULL == page, "a history's pull page size leaked out of it"
