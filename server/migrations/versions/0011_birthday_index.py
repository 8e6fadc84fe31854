"""birthdays found by their month and day through an index (SQLite)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:30:00.000000

The agenda asks for the contact persons whose birthday's "MM-DD" is one of the next
days' (``crm.agenda.month_day``); SQLite read every person with a birthday to answer.
An index of that very expression (``substr(birthday, 6, 5)``: SQLite keeps a date as
its ISO text) answers from a few rows. PostgreSQL computes the day with ``to_char``,
which it cannot index (not immutable); its planner reads the table fast enough.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE INDEX ix_contact_person_birthday_day ON contact_person "
            "(substr(birthday, 6, 5)) WHERE birthday IS NOT NULL"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP INDEX IF EXISTS ix_contact_person_birthday_day")
