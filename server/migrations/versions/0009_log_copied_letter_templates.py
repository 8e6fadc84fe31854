"""the letter templates copied by 0008 enter the change log, so laptops already loaded get them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:30:00.000000

0008 copied the mail bridge's templates into ``letter_template`` without a change-log
entry, so a laptop bootstrapped before it got them only when it loaded everything
again. Every template with no entry gets one here, at a new data version, as a bulk
loader's rows do (``crm.changes.log_inserted``); the next pull of every laptop brings them.
Plain SQL on the tables as they are at this revision, not the models of today.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RECORD_TYPE = "letter-templates"

_VERSION = sa.table(
    "data_version",
    sa.column("id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("changed_at", sa.DateTime(timezone=True)),
)
_LOG = sa.table(
    "change_log",
    sa.column("record_type", sa.String),
    sa.column("record_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("scope_version", sa.Integer),
    sa.column("counterparty_id", sa.String),
    sa.column("deleted", sa.Boolean),
    sa.column("tombstone", sa.JSON),
    sa.column("changed_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    connection = op.get_bind()
    ids = (
        connection.execute(
            sa.text(
                "SELECT id FROM letter_template WHERE id NOT IN "
                "(SELECT record_id FROM change_log WHERE record_type = :t) ORDER BY id"
            ),
            {"t": RECORD_TYPE},
        )
        .scalars()
        .all()
    )
    if not ids:
        return
    now = datetime.now(UTC)
    if (
        connection.dialect.name == "sqlite"
    ):  # stored as naive UTC there (crm.models.base.UTCDateTime)
        now = now.replace(tzinfo=None)
    bumped = connection.execute(
        _VERSION.update()
        .where(_VERSION.c.id == 1)
        .values(version=_VERSION.c.version + 1, changed_at=now)
    )
    if bumped.rowcount == 0:
        connection.execute(_VERSION.insert().values(id=1, version=1, changed_at=now))
    version = connection.execute(
        sa.select(_VERSION.c.version).where(_VERSION.c.id == 1)
    ).scalar_one()
    op.bulk_insert(
        _LOG,
        [
            {
                "record_type": RECORD_TYPE,
                "record_id": record_id,
                "version": version,
                "scope_version": version,
                "counterparty_id": None,
                "deleted": False,
                "tombstone": None,
                "changed_at": now,
            }
            for record_id in ids
        ],
    )


def downgrade() -> None:
    # The entries are true of the data under 0008 as well; a laptop that got them keeps its copies.
    pass
