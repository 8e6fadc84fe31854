"""letters' texts compressed with lz4 on PostgreSQL (new values; what is stored stays as it is)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 23:30:00.000000

PostgreSQL compresses a long value (TOAST) with pglz unless told otherwise. A company's first mail
import writes every letter's text and HTML into ``interaction``: on a 2-core VM pglz took 1.0–1.2 s
of the database's CPU for 1,380 letters of ~40 KB, lz4 0.2–0.3 s (the same rows, alternating), CPU
the database shares with the import. lz4 needs PostgreSQL 14 or newer built with it (Debian's,
the official images); elsewhere nothing changes. SQLite is not concerned.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_COLUMNS = ("notes", "body_html")


def _lz4(connection: object) -> bool:
    found = connection.execute(  # type: ignore[attr-defined]
        text(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
    ).first()
    return found is not None


def _compress(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _lz4(bind):
        return
    for column in _COLUMNS:
        op.execute(f"ALTER TABLE interaction ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _compress("lz4")


def downgrade() -> None:
    _compress("default")
