"""Alembic environment: migrates the database whose connection the caller hands in."""

from __future__ import annotations

from alembic import context

import calendar_bridge.models  # noqa: F401 - registers the feed tokens' table
import crm.changes  # noqa: F401 - registers the data version and change log tables
import crm.models
import mail.models  # noqa: F401 - registers the mail bridge tables
import sync.models  # noqa: F401 - registers the sync tables

target_metadata = crm.models.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables safely.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
