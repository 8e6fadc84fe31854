"""counterparties merged into others are remembered (crm.merge)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 05:00:00.000000

One row per absorbed counterparty: the survivor, the absorbed one's last values, what the
survivor took of them, how many records moved, who merged and when. A merge is explained
from it afterwards, and a laptop's offline edit to the absorbed counterparty (or a record
created under it) is applied to the survivor.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import crm.models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counterparty_merge",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("absorbed_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("survivor_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("absorbed", sa.JSON(), nullable=False),
        sa.Column("taken", sa.JSON(), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("merged_by", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("merged_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("absorbed_id"),
    )
    op.create_index(
        "ix_counterparty_merge_survivor_id", "counterparty_merge", ["survivor_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_counterparty_merge_survivor_id", table_name="counterparty_merge")
    op.drop_table("counterparty_merge")
