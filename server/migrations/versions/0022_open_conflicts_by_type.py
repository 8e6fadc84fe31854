"""open conflicts found by record type from the index alone

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 13:20:00.000000

Every pull sends the first page of the open conflicts that concern its user, selected by one
statement that ORs every record type's access rules; PostgreSQL took 20–30 ms to plan it (several
times the statement's run) at every pull of a laptop. A pull now first asks which record types have
open conflicts at all, from ``(status, record_type)`` alone, and the page's statement names only
those. The index replaces the one on ``status`` (its first column).
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_conflict") as batch:
        batch.drop_index("ix_sync_conflict_status")
        batch.create_index("ix_sync_conflict_open", ["status", "record_type"])


def downgrade() -> None:
    with op.batch_alter_table("sync_conflict") as batch:
        batch.drop_index("ix_sync_conflict_open")
        batch.create_index("ix_sync_conflict_status", ["status"])
