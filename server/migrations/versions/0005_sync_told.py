"""the server keeps which records each device was told of (evictions and deletes go only there)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_told",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("record_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "record_type", "record_id"),
    )
    # Null for every device until its next bootstrap: until then its pulls are judged by the rules.
    with op.batch_alter_table("sync_device", schema=None) as batch_op:
        batch_op.add_column(sa.Column("told_since", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_device", schema=None) as batch_op:
        batch_op.drop_column("told_since")
    op.drop_table("sync_told")
