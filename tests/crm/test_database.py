"""The database file on disk: the company's data is its owner's to read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from crm.database import Database
from crm.models import User
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


def test_a_read_is_read_only_and_keeps_the_connections_prepared_statements(pg_url: str) -> None:
    """psycopg forgets a connection's prepared statements at every ROLLBACK, and reads used to end
    in one: PostgreSQL planned every statement of every read anew (the conflicts of a pull took
    longer to plan than to run). A read is now BEGIN READ ONLY … COMMIT: a statement read often
    stays prepared, a write inside a read is refused, and writes are not left read-only."""
    database = Database(pg_url)
    try:
        for _ in range(6):
            with database.read() as session:
                session.execute(select(User.id).where(User.login == "nobody")).all()
        with database.read() as session:
            prepared = session.execute(text("SELECT statement FROM pg_prepared_statements"))
            assert any("app_user" in s for s in prepared.scalars()), "nothing stayed prepared"
        with pytest.raises(DBAPIError, match="read-only"), database.read() as session:
            session.execute(text("UPDATE app_user SET full_name = full_name"))
        with database.write() as session:
            session.execute(text("UPDATE app_user SET full_name = full_name"))
    finally:
        database.dispose()
