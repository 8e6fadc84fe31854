"""Backups and restores (issue 10, part 2): a laptop synced against a restored server keeps its
unsent work, and its cursor from a future the server no longer has makes it load its data again."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.agent import SyncAgent
from clients.replica import Replica
from crm.database import Database
from server import backup
from server.app import create_app
from server.config import Config
from tests.conftest import PASSWORD, make_user
from tests.inprocess import InProcessClient
from tests.server.test_cli import run
from tests.sync.test_agent import rest, server_view


def test_a_laptop_keeps_its_unsent_work_across_a_restore(
    config: Config, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    with InProcessClient(create_app(config, database)) as server:
        agent = SyncAgent(Replica.open(tmp_path / "laptop.db"), server)
        agent.login("http://testserver", "ivanov", PASSWORD, "Ноутбук")
        kept = agent.replica.create("counterparties", {"legal_name": "ООО До копии"})
        agent.sync()
        copy = tmp_path / "satchel.backup"
        backup.backup(database, copy)
        lost = agent.replica.create("counterparties", {"legal_name": "ООО После копии"})
        agent.sync()
        cursor_before = int(str(agent.replica.state("cursor")).split(":")[0])
        # Offline work that never reached the server before the disaster.
        offline = agent.replica.create("counterparties", {"legal_name": "ООО Без сети"})
        agent.replica.update("counterparties", kept["id"], {"notes": "правка без сети"})

        epoch = backup.restore(database, copy)
        assert epoch > cursor_before

        headers = rest(server, "ivanov")
        assert lost["id"] not in server_view(server, headers, "counterparties")
        # The office goes on working before the laptop syncs: versions climb past its old cursor,
        # which must not make it skip what was written since the restore.
        for n in range(4):
            r = server.post(
                "/api/v1/counterparties", json={"legal_name": f"ООО Офис {n}"}, headers=headers
            )
            assert r.status_code == 201, r.text
        summary = agent.sync()
        assert summary.bootstrapped > 0  # the cursor from the future was not trusted
        assert agent.replica.status()["pending"] == 0 and agent.replica.quarantine() == []
        on_server = server_view(server, headers, "counterparties")
        assert on_server[offline["id"]]["legal_name"] == "ООО Без сети"
        assert on_server[kept["id"]]["notes"] == "правка без сети"
        assert agent.replica.snapshot("counterparties") == on_server
        # Writes after the restore reach the laptop as usual.
        server.post(
            "/api/v1/counterparties", json={"legal_name": "ООО Новая эпоха"}, headers=headers
        )
        agent.sync()
        assert agent.replica.snapshot("counterparties") == server_view(
            server, headers, "counterparties"
        )
        agent.replica.close()


def test_backup_and_restore_commands_refuse_what_they_cannot_do(
    database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    copy = tmp_path / "one.backup"
    result = run(database, "backup", str(copy))
    assert result.exit_code == 0, result.output
    assert copy.stat().st_mode & 0o077 == 0  # the company's data: the owner's eyes only
    again = run(database, "backup", str(copy))
    assert again.exit_code == 5 and "exists already" in again.output
    missing = run(database, "restore", str(tmp_path / "nothing.backup"), "--yes")
    assert missing.exit_code != 0 and "no backup" in missing.output
    asked = run(database, "restore", str(copy), input="n\n")
    assert asked.exit_code != 0
    restored = run(database, "restore", str(copy), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "ivanov" in run(database, "user", "list").output


def test_a_damaged_sqlite_backup_is_refused_and_the_database_is_untouched(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'live.db'}")
    from server import migrate

    migrate.upgrade(database)
    make_user(database, "ivanov")
    broken = tmp_path / "broken.backup"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4000)
    with pytest.raises(backup.BackupFailed):
        backup.restore(database, broken)
    with database.read() as session:
        from crm import accounts

        assert accounts.find_user(session, "ivanov") is not None
    database.dispose()


def test_a_backup_of_a_database_that_is_not_there_says_so_instead_of_copying_nothing(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from server.commands import app

    result = CliRunner().invoke(
        app,
        ["backup", str(tmp_path / "b.db")],
        env={"SATCHEL_DATA_DIR": str(tmp_path / "nowhere"), "SATCHEL_DATABASE_URL": ""},
    )
    assert result.exit_code != 0 and "no Satchel database" in result.output, result.output
    assert not (tmp_path / "b.db").exists()
