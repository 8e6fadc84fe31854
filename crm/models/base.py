"""What every record shares: a stable UUID, who made and changed it and when, a row version."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


def new_id() -> str:
    """A fresh record id. UUIDs let offline laptops create records without asking anyone."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite keeps no zone and hands back naive values; PostgreSQL converts to the
    session zone. Storing UTC and re-attaching it on the way out gives the same
    value on both, so tests and the wire never see a naive datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Record(SQLModel):
    """Fields of every synced record. Not a table by itself."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=36)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=36)
    # Bumped on every write; an edit may name the version it was based on.
    version: int = Field(default=1)


# Fields a client may never set directly: the service owns them.
SYSTEM_FIELDS = frozenset({"id", "created_at", "created_by", "updated_at", "updated_by", "version"})


def to_jsonable(value: Any) -> Any:
    """Plain JSON value for a field value (dates ISO 8601, money as a decimal string)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
