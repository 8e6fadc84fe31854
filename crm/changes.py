"""The company's data version: one counter that every write raises, in the writing transaction.

Readers that answer "has anything changed?" (calendar feeds' ETags, later the
sync pull) compare versions instead of re-reading data. The counter is one row,
updated with ``version = version + 1``: on PostgreSQL the row lock serialises
concurrent writers at that point, so versions follow commit order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Field, Session, SQLModel

from crm.models.base import UTCDateTime, utcnow


class DataVersion(SQLModel, table=True):
    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def bump(session: Session) -> None:
    """Record that the data changed, inside the caller's transaction."""
    result = session.execute(update(DataVersion).where(DataVersion.id == 1)  # type: ignore[arg-type]
                             .values(version=DataVersion.version + 1, changed_at=utcnow()))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(DataVersion(id=1, version=1))
        session.flush()


def current(session: Session) -> tuple[int, datetime | None]:
    """(version, when it last changed); (0, None) before the first write."""
    row = session.execute(select(DataVersion.version, DataVersion.changed_at).where(DataVersion.id == 1)).first()
    return (row[0], row[1]) if row else (0, None)
