"""The database file on disk: the company's data is its owner's to read."""

from __future__ import annotations

import stat
from pathlib import Path

from crm.database import Database
from server import migrate


def test_a_new_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "satchel.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    with database.write() as session:
        session.connection().exec_driver_sql("CREATE TABLE t (x)")
    for name in (path, path.with_name("satchel.db-wal")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    database.dispose()
