"""the website's domain as a counterparty's mail domain: index what was stored before

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:00:00.000000

From this revision ``crm.search`` keys a counterparty's website domain as an
``email_domain`` (so the mail bridge files a letter from a new colleague there at
once). The rows for counterparties saved before are added here; no schema change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crm.validation import website_domain

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_KEY = sa.table(
    "contact_key",
    sa.column("record_type", sa.String),
    sa.column("record_id", sa.String),
    sa.column("counterparty_id", sa.String),
    sa.column("owner_id", sa.String),
    sa.column("visibility", sa.String),
    sa.column("kind", sa.String),
    sa.column("key", sa.String),
)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, website, owner_id, visibility FROM counterparty WHERE website IS NOT NULL AND website <> ''"
        )
    )
    keys = []
    for cp_id, website, owner_id, visibility in rows:
        domain = website_domain(website)
        if domain:
            keys.append(
                {
                    "record_type": "counterparty",
                    "record_id": cp_id,
                    "counterparty_id": cp_id,
                    "owner_id": owner_id,
                    "visibility": visibility,
                    "kind": "email_domain",
                    "key": domain,
                }
            )
    if keys:
        # The same key from an address of its own may be there already: skip those.
        present = {
            (r, k)
            for r, k in connection.execute(
                sa.text(
                    "SELECT record_id, key FROM contact_key WHERE kind = 'email_domain' AND record_type = 'counterparty'"
                )
            )
        }
        keys = [k for k in keys if (k["record_id"], k["key"]) not in present]
    if keys:
        op.bulk_insert(_KEY, keys)


def downgrade() -> None:
    # The website keys cannot be told from address keys afterwards; they are harmless under 0006.
    pass
