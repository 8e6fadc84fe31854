"""Migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crm.database import Database
from crm.models import metadata
from server import migrate


def test_migrated_schema_matches_models(database: Database) -> None:
    assert migrate.current(database) == migrate.head()
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_is_idempotent(database: Database) -> None:
    migrate.upgrade(database)
    assert migrate.current(database) == migrate.head()
