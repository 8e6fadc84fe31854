"""Fixtures shared by every test tier.

``database`` is parametrised by backend, so every test that takes it runs on
SQLite and on PostgreSQL. Each test run creates its own PostgreSQL database
(on 127.0.0.1:5432 as postgres, or the server in ``SATCHEL_TEST_PG_URL``) and
drops it at the end; tables are emptied between tests. Where no PostgreSQL is
reachable the PostgreSQL half is skipped with the reason, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import calendar_bridge.models  # noqa: F401 - its table is emptied between tests too
import crm.changes  # noqa: F401
import mail.models  # noqa: F401 - the mail tables are emptied between tests too
from crm import accounts
from crm.database import Database
from crm.models import User, metadata
from server import migrate
from server.config import Config

PG_BASE_URL = os.environ.get("SATCHEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin_engine() -> Any:
    return create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped afterwards."""
    name = f"satchel_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no PostgreSQL"
        message = f"PostgreSQL not reachable at {make_url(PG_BASE_URL).render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    url = make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating every time."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()  # closing the last connection folds the WAL into the file
    return path


def _empty_tables(database: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "satchel.db")
        database = Database(f"sqlite:///{tmp_path / 'satchel.db'}")
    else:
        database = Database(request.getfixturevalue("pg_url"))
        _empty_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def config(database: Database, tmp_path: Path) -> Config:
    return Config.load(environ={"SATCHEL_DATA_DIR": str(tmp_path), "SATCHEL_DATABASE_URL": database.url})


PASSWORD = "correct-horse-42"
# Argon2 is slow on purpose; hash the shared test password once per run.
_PASSWORD_HASH = accounts.hash_password(PASSWORD)


def make_user(database: Database, login: str, *, role: str = "salesperson", team: str | None = "Москва",
              active: bool = True) -> User:
    with database.write() as session:
        user = accounts.create_user(session, login=login, full_name=f"Пользователь {login}",
                                    role=role, team=team)
        user.password_hash = _PASSWORD_HASH
        if not active:
            accounts.set_active(session, user, False)
    return user


def pytest_report_header() -> str:
    from tests.sync.test_convergence import HISTORIES, OFFSET
    return f"convergence: {HISTORIES} histories per database from seed {OFFSET} (SATCHEL_CONVERGENCE_OFFSET={OFFSET} repeats them)"
