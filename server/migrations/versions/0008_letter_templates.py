"""letter templates become a record type: synced to laptops, written by administrators and office staff

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:20:00.000000

``mail_template`` (the mail bridge's own table) becomes ``letter_template``, a record of
the domain (``crm.models.LetterTemplate``) with a version, author and times, so that it
enters the change log and reaches laptops. The templates stored before are copied at
version 1. A laptop bootstrapped before this revision gets the templates written after it;
the copied ones reach it when it loads again (a new laptop gets all of them).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import crm.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_template",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("updated_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=100000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.execute(
        "INSERT INTO letter_template (id, created_at, updated_at, version, name, subject, body) "
        "SELECT id, created_at, created_at, 1, name, subject, body FROM mail_template"
    )
    op.drop_table("mail_template")


def downgrade() -> None:
    op.create_table(
        "mail_template",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", crm.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.execute(
        "INSERT INTO mail_template (id, name, subject, body, created_at) "
        "SELECT id, name, subject, body, created_at FROM letter_template"
    )
    op.drop_table("letter_template")
