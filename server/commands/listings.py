"""The tables the commands' listings read, as SQLAlchemy Core clauses of the columns they show.

``satchel user list``, ``mail mailbox list`` and ``mail review list`` are what a script runs
over and over while setting a company up. Importing SQLModel and every model costs about 0.4 s
of CPU before the first row, so these listings read through ``opening.peeking`` with the
clauses below instead (issue 13: a listing starts in ≤ 0.5 s). Each names only the columns a
listing shows, with the models' types so values come back as the ORM would give them (aware
datetimes, decoded JSON); ``tests/server/test_listings.py`` checks them against the models.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Integer, String, column, table

from crm.coltypes import UTCDateTime

TEAM = table("team", column("id", String), column("name", String))

USER = table(
    "app_user",
    column("id", String),
    column("login", String),
    column("full_name", String),
    column("role", String),
    column("team_id", String),
    column("is_active", Boolean),
)

COUNTERPARTY = table(
    "counterparty",
    column("id", String),
    column("legal_name", String),
    column("short_name", String),
    column("inn", String),
)

MAILBOX = table(
    "mailbox",
    column("name", String),
    column("address", String),
    column("kind", String),
    column("owner_id", String),
    column("login", String),
    column("provider_saves_sent", Boolean),
    column("send_per_hour", Integer),
    column("imap_host", String),
    column("imap_port", Integer),
    column("imap_security", String),
    column("smtp_host", String),
    column("smtp_port", Integer),
    column("enabled", Boolean),
    column("last_run_at", UTCDateTime),
    column("last_error", String),
    column("folders", JSON),
    column("private_addresses", JSON),
    column("private_domains", JSON),
    column("private_folders", JSON),
)

MAIL_REVIEW = table(
    "mail_review",
    column("id", String),
    column("received_at", UTCDateTime),
    column("sender", String),
    column("subject", String),
    column("reason", String),
    column("detail", String),
    column("candidates", JSON),
    column("status", String),
)

TABLES = (TEAM, USER, COUNTERPARTY, MAILBOX, MAIL_REVIEW)
