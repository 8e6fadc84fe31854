"""The tables the commands' listings read, as SQLAlchemy Core clauses of the columns they show.

``satchel user list``, ``device list``, ``feed list``, ``sync devices``, ``duplicates`` and
``mail mailbox list``, ``review list``, ``status``, ``suggestions``, ``template list`` are what
a script runs over and over while setting a company up. Importing SQLModel and every model costs about 0.4 s
of CPU before the first row, so these listings read through ``opening.peeking`` with the
clauses below instead (issue 13: a listing starts in ≤ 0.5 s). Each names only the columns a
listing shows, with the models' types so values come back as the ORM would give them (aware
datetimes, decoded JSON); ``tests/server/test_listings.py`` checks them against the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, Integer, String, column, select, table

from crm.coltypes import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy import Connection

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
    column("kpp", String),
    column("region", String),
)

# The search index's normalised INNs, phones, e-mails and domains (``crm.duplicates``).
CONTACT_KEY = table(
    "contact_key",
    column("kind", String),
    column("key", String),
    column("counterparty_id", String),
)

MAILBOX = table(
    "mailbox",
    column("id", String),
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

MAIL_FOLDER = table(
    "mail_folder",
    column("mailbox_id", String),
    column("name", String),
    column("role", String),
    column("uidvalidity", Integer),
    column("last_uid", Integer),
    column("counts", JSON),
    column("last_run_at", UTCDateTime),
    column("last_error", String),
)

MAIL_OUTBOX = table("mail_outbox", column("interaction_id", String), column("state", String))

# Only what ``mail status`` counts: the letters written and not yet taken into the outbox.
INTERACTION = table("interaction", column("id", String), column("mail_status", String))

MAIL_SUGGESTION = table(
    "mail_suggestion",
    column("id", String),
    column("address", String),
    column("name", String),
    column("counterparty_id", String),
    column("letters", Integer),
    column("status", String),
)

LETTER_TEMPLATE = table(
    "letter_template", column("name", String), column("subject", String), column("body", String)
)

DEVICE = table(
    "device",
    column("id", String),
    column("user_id", String),
    column("name", String),
    column("created_at", UTCDateTime),
    column("last_seen_at", UTCDateTime),
    column("revoked_at", UTCDateTime),
)

# ``sync.models.DeviceCursor``: how far each device's changes were applied.
SYNC_DEVICE = table("sync_device", column("device_id", String), column("last_seq", Integer))

FEED_TOKEN = table(
    "feed_token",
    column("id", String),
    column("user_id", String),
    column("kind", String),
    column("free_busy", Boolean),
    column("label", String),
    column("created_at", UTCDateTime),
    column("revoked_at", UTCDateTime),
)

TABLES = (
    TEAM,
    USER,
    COUNTERPARTY,
    CONTACT_KEY,
    MAILBOX,
    MAIL_REVIEW,
    MAIL_FOLDER,
    MAIL_OUTBOX,
    INTERACTION,
    MAIL_SUGGESTION,
    LETTER_TEMPLATE,
    DEVICE,
    SYNC_DEVICE,
    FEED_TOKEN,
)


def user_id(connection: Connection, login: str) -> str:
    """The id of the user ``login`` names, found as ``crm.accounts.find_user`` finds them (the
    same ``NotFound``, so the same message and exit code) for a listing's ``--user``."""
    from crm.errors import NotFound

    found = connection.execute(
        select(USER.c.id).where(USER.c.login == login.strip().lower())
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no user with login {login}")
    return str(found)
