"""Schema migrations (Alembic), applied from code so the CLI and tests share one path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crm.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: object) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Safe to run on an up-to-date database."""
    with database.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)
    if database.dialect == "sqlite":
        # Fresh statistics (cheap: only where stale) let the planner pick the covering indexes.
        with database.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA optimize")


def current(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def autogenerate(database: Database, message: str) -> None:
    """Write a new migration from the difference between the models and ``database`` (developers only)."""
    with database.engine.begin() as connection:
        command.revision(_alembic_config(connection), message=message, autogenerate=True)
