"""mail threads: what each filed letter references and the keys it joins a thread by

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import crm.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_reference",
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("referenced", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.PrimaryKeyConstraint("message_key", "referenced"),
    )
    with op.batch_alter_table("mail_reference", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_reference_referenced"), ["referenced"], unique=False
        )
    # Letters filed before this revision keep these empty: nothing recorded what they referenced.
    with op.batch_alter_table("mail_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("written_at", crm.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("root_hint", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.add_column(
            sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.add_column(
            sa.Column("topic_reply", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=44), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_mail_message_conversation"), ["conversation"], unique=False
        )
        batch_op.create_index(
            "ix_mail_message_thread", ["counterparty_id", "thread_id"], unique=False
        )
        batch_op.create_index("ix_mail_message_topic", ["counterparty_id", "topic"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_message", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_message_topic")
        batch_op.drop_index("ix_mail_message_thread")
        batch_op.drop_index(batch_op.f("ix_mail_message_conversation"))
        batch_op.drop_column("conversation")
        batch_op.drop_column("topic_reply")
        batch_op.drop_column("topic")
        batch_op.drop_column("root_hint")
        batch_op.drop_column("written_at")
    with op.batch_alter_table("mail_reference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_reference_referenced"))
    op.drop_table("mail_reference")
