"""People who use Satchel, their teams and their devices."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from crm.models.base import Record, UTCDateTime, new_id, utcnow


class Team(Record, table=True):
    __tablename__ = "team"

    name: str = Field(max_length=200, unique=True)


class User(Record, table=True):
    """A person who logs in. Managers see the records of their team's members."""

    __tablename__ = "app_user"

    login: str = Field(max_length=100, unique=True, index=True)
    full_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(default="salesperson", max_length=20)
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=36, index=True)
    password_hash: str | None = Field(default=None, max_length=200)
    is_active: bool = Field(default=True)
    locale: str = Field(default="ru", max_length=5)


class Absence(Record, table=True):
    """Where an employee is instead of at work, from one day to another: a business trip (and its
    city), a vacation, a sick leave, a day off. The whereabouts board (``crm.whereabouts``) shows
    it beside the meetings they planned at clients; everyone sees their colleagues' (to know
    whom to call), the employee, their manager or the office keeps them."""

    __tablename__ = "absence"
    # A person's absences by day: the board asks for a week of everybody's.
    __table_args__ = (Index("ix_absence_user_days", "user_id", "ends_on"),)

    user_id: str = Field(foreign_key="app_user.id", max_length=36)
    kind: str = Field(default="trip", max_length=20)
    starts_on: date
    ends_on: date
    # Where a business trip goes.
    city: str | None = Field(default=None, max_length=200)
    notes: str | None = None
    # Who covers for them meanwhile: sees and works the clients they own, on those days only
    # (``crm.access``; ``crm.substitutes`` tells the laptops when a cover starts and ends).
    substitute_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)


class CoverSweep(SQLModel, table=True):
    """The last day whose covers the server told the laptops of (``crm.substitutes.sweep``): a
    cover that began or ended since is a scope change to enter."""

    __tablename__ = "cover_sweep"

    id: int = Field(default=1, primary_key=True)
    day: date


class Device(SQLModel, table=True):
    """A named laptop or phone a user logged in from; revoking it cuts that device off."""

    __tablename__ = "device"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="app_user.id", max_length=36, index=True)
    name: str = Field(max_length=200)
    # sha256 of the bearer token: a stolen database does not hand out sessions.
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFailure(SQLModel, table=True):
    """One failed login; counted per login name and per address for rate limiting."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(max_length=100, index=True)
    address: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
