"""the letters on their way out get an index of their own rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:20:00.000000

``mail_status`` is empty for every call, meeting and filed letter: an index of the whole
column told the planners nothing (SQLite's statistics of the demo said every value held
every row) and the agenda's "letters waiting to be sent" walked the salesperson's whole
history. A partial index of the rows with a status (a few at any time), by status and
responsible person, serves the outbox's poll and the agenda.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_WHERE = sa.text("mail_status IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_mail_status")
        batch_op.create_index(
            "ix_interaction_unsent",
            ["mail_status", "responsible_id"],
            unique=False,
            sqlite_where=_WHERE,
            postgresql_where=_WHERE,
        )


def downgrade() -> None:
    with op.batch_alter_table("interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_interaction_unsent")
        batch_op.create_index("ix_interaction_mail_status", ["mail_status"], unique=False)
