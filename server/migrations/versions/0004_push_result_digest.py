"""sync push results keep the digest of the mutation they answer (a reused seq is not a replay)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 15:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows stored before this have no digest and are taken as replays, as before.
    with op.batch_alter_table("sync_push_result", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_push_result", schema=None) as batch_op:
        batch_op.drop_column("digest")
