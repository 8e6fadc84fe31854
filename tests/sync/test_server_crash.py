"""The server killed mid-push (SIGKILL, a real process): nothing half-applied, nothing lost or doubled."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from clients.agent import SyncAgent, SyncError
from clients.replica import Replica
from crm import accounts, records
from crm.database import Database
from crm.models import Counterparty
from server.process import ServerProcess
from tests.conftest import make_user


def _laptop(database: Database, login: str, name: str, path: Path, base_url: str) -> SyncAgent:
    with database.write() as session:
        user = accounts.find_user(session, login)
        device, token = accounts.register_device(session, user, name)
        wire = records.to_dict(records.record_type("users"), user)
    replica = Replica.open(path)
    replica.remember_login(
        server=base_url, login=login, token=token, device_id=device.id, user=wire
    )
    return SyncAgent(replica, httpx.Client(base_url=base_url, timeout=30))


@pytest.mark.parametrize("seed", [1])
def test_a_server_killed_mid_push_loses_and_doubles_nothing(
    database: Database, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    make_user(database, "ivanov")
    server = ServerProcess(database.url)
    server.start()
    try:
        one = _laptop(database, "ivanov", "Ноутбук", tmp_path / "one.sqlite", server.base_url)
        two = _laptop(database, "ivanov", "Планшет", tmp_path / "two.sqlite", server.base_url)
        one.sync()
        two.sync()
        made = [
            one.replica.create("counterparties", {"legal_name": f"ООО Оффлайн {i}"})["id"]
            for i in range(300)
        ]
        errors: list[Exception] = []

        def push() -> None:
            try:
                one.sync()
            except SyncError as exc:
                errors.append(exc)

        pusher = threading.Thread(target=push)
        pusher.start()
        time.sleep(rng.uniform(0.05, 0.5))
        server.kill()
        pusher.join(60)
        with database.read() as session:
            landed = session.execute(select(func.count()).select_from(Counterparty)).scalar_one()
        assert landed in (0, 300), f"a push was half-applied: {landed} of 300"
        server.start()
        # The laptop was perhaps killed too: it starts again from its file.
        one.replica.close()
        one = SyncAgent(Replica.open(tmp_path / "one.sqlite"), one.http)
        one.sync()
        two.sync()
        assert one.replica.status()["pending"] == 0
        with database.read() as session:
            ids = list(session.execute(select(Counterparty.id)).scalars())
        assert sorted(ids) == sorted(made)  # every one, once
        assert set(two.replica.snapshot("counterparties")) == set(made)
    finally:
        server.stop()
