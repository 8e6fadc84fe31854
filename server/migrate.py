"""Schema migrations (Alembic), applied from code so the CLI and tests share one path.

Every command migrates first; a database already at the newest revision is told by one
query of ``alembic_version`` and the scripts read as text, without importing Alembic (a
third of a listing's start-up).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from crm.database import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"""^(down_)?revision\b[^=]*=\s*(.*)$""", re.MULTILINE)


def _alembic_config(connection: object) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Safe to run on an up-to-date database."""
    if revision != "head" or not up_to_date(database):
        from alembic import command

        with database.engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)
    if database.dialect == "sqlite":
        # Fresh statistics (cheap: only where stale) let the planner pick the covering indexes.
        with database.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA optimize")


def newest_revisions(versions: Path = MIGRATIONS / "versions") -> set[str]:
    """The heads of the migrations this version knows, read from the scripts as text."""
    known: set[str] = set()
    replaced: set[str] = set()
    for script in versions.glob("*.py"):
        for down, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (replaced if down else known).update(re.findall(r"""['"]([^'"]+)['"]""", value))
    return known - replaced


def up_to_date(database: Database) -> bool:
    """Whether the database's schema is at the newest revision already (then nothing is migrated)."""
    try:
        with database.engine.connect() as connection:
            current = set(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    except SQLAlchemyError:
        return False  # no schema yet, or one we cannot read: the migrations say why
    heads = newest_revisions()
    return bool(heads) and current == heads


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
