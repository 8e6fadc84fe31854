"""Feed tokens: the secret in a calendar subscription URL."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from crm.models.base import UTCDateTime, new_id, utcnow


class FeedKind(StrEnum):
    PLAN = "plan"  # my planned interactions and open reminders
    TEAM = "team"  # the same for every member of a manager's team
    BIRTHDAYS = "birthdays"  # contact persons of the counterparties I may see


class FeedToken(SQLModel, table=True):
    """One subscription URL of one user. Only the token's sha256 is kept; revoking it is final."""

    __tablename__ = "feed_token"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="app_user.id", max_length=36, index=True)
    kind: str = Field(max_length=20)
    free_busy: bool = Field(default=False)
    label: str = Field(default="", max_length=200)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
