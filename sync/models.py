"""The server's sync bookkeeping: each device's applied mutations, and conflicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from crm.models.base import UTCDateTime, new_id, utcnow


class DeviceCursor(SQLModel, table=True):
    """How far the server has applied one device's outbox, and when it last pulled."""

    __tablename__ = "sync_device"

    device_id: str = Field(primary_key=True, max_length=36)
    last_seq: int = Field(default=0)
    pulled_version: int | None = None
    pulled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The watermark of the device's first bootstrap since the server began keeping ``TOLD`` rows
    # for it: a pull from a base at or after it is judged by what the device was told
    # (``sync.held``); before it (or None: bootstrapped before migration 0005), by the rules.
    told_since: int | None = None


class Told(SQLModel, table=True):
    """A record a device has been told of — sent in a bootstrap or a pull, or named in its own
    push — since ``DeviceCursor.told_since``. Rows are never removed while the device lives: a
    laptop restored from an older copy may hold again what it was told long ago, and must be
    told again when it goes. Only these ids may reach the device in an evict or a delete."""

    __tablename__ = "sync_told"

    device_id: str = Field(primary_key=True, max_length=36)
    record_type: str = Field(primary_key=True, max_length=20)
    record_id: str = Field(primary_key=True, max_length=36)


class PushResult(SQLModel, table=True):
    """The stored answer to one applied mutation, returned again when it is replayed."""

    __tablename__ = "sync_push_result"

    device_id: str = Field(primary_key=True, max_length=36)
    seq: int = Field(primary_key=True)
    result: dict[str, Any] = Field(sa_type=JSON)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # sha256 of the mutation as applied (``sync.push.digest``): a replay must carry the very same
    # mutation, so a restored or copied laptop reusing the seq for another edit is told, not
    # answered with this result. Null on rows stored before digests were kept.
    digest: str | None = Field(default=None, max_length=64)


class Conflict(SQLModel, table=True):
    """Two changes of the same thing that could not both win; both values are kept."""

    __tablename__ = "sync_conflict"
    __table_args__ = (
        Index("ix_sync_conflict_record", "record_type", "record_id", "status"),
        # Which record types have open conflicts, read from the index alone (``sync.conflicts``).
        Index("ix_sync_conflict_open", "status", "record_type"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=20)  # field | delete | edit_deleted
    record_type: str = Field(max_length=20)
    record_id: str = Field(max_length=36)
    field: str | None = Field(default=None, max_length=40)
    status: str = Field(default="open", max_length=10)  # open | resolved
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The change already on the server (it stayed).
    server_value: Any = Field(default=None, sa_type=JSON, nullable=True)
    server_by: str | None = Field(default=None, max_length=36, index=True)
    server_device: str | None = Field(default=None, max_length=36)
    server_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The change that arrived second.
    client_value: Any = Field(default=None, sa_type=JSON, nullable=True)
    client_by: str = Field(max_length=36, index=True)
    client_device: str | None = Field(default=None, max_length=36)
    client_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    client_time: str | None = Field(
        default=None, max_length=40
    )  # the laptop's clock: shown, never trusted
    resolved_by: str | None = Field(default=None, max_length=36)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = Field(default=None, max_length=10)
