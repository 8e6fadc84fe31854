"""Schema migrations (Alembic), applied from code so the CLI and tests share one path.

Every command migrates first; a database already at ``HEAD`` is told by one query of
``alembic_version``, without importing Alembic (a third of a listing's start-up).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from crm.database import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision; a new migration changes it (tests/server/test_migrations.py checks it
# against the scripts).
HEAD = "0009"


def _alembic_config(connection: object) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Safe to run on an up-to-date database."""
    if revision not in ("head", HEAD) or _stamped(database) != HEAD:
        from alembic import command

        with database.engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    if database.dialect == "sqlite":
        # Fresh statistics (cheap: only where stale) let the planner pick the covering indexes.
        with database.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA optimize")


def _stamped(database: Database) -> str | None:
    """The revision ``alembic_version`` holds; None when there is none (a new database)."""
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # noqa: BLE001 - no such table yet: Alembic will make it
        return None
    return rows[0][0] if len(rows) == 1 else None


def current(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def autogenerate(database: Database, message: str) -> None:
    """Write a new migration from the difference between the models and ``database`` (developers only)."""
    from alembic import command

    with database.engine.begin() as connection:
        command.revision(_alembic_config(connection), message=message, autogenerate=True)
