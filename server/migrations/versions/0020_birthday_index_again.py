"""the birthdays' index again (SQLite): 0019 copied contact_person and lost it

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 11:50:00.000000

0019 added a column to ``contact_person`` in a batch, which on SQLite copies the table by reading
it back; SQLAlchemy cannot read an index on an expression, so the copy came without 0011's
``ix_contact_person_birthday_day`` (the warning "Skipped unsupported reflection of
expression-based index" said so), and the agenda's birthdays read every person again. Made again
where it is missing.
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_contact_person_birthday_day ON contact_person "
            "(substr(birthday, 6, 5)) WHERE birthday IS NOT NULL"
        )


def downgrade() -> None:
    pass  # 0011's downgrade drops it
