"""Counterparties, their contact persons, and who they are shared with."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String
from sqlmodel import Field, SQLModel

from crm.models.base import Record, UTCDateTime, new_id, utcnow


class Counterparty(Record, table=True):
    """A company or sole trader we deal with: client, prospect, supplier, partner, competitor."""

    __tablename__ = "counterparty"
    __table_args__ = (
        # Lists walk this in name order and stop after a page, checking access from the index alone.
        Index("ix_counterparty_list", "legal_name", "id", "owner_id", "visibility"),
        # Search hits are checked for access without reading the (wide) rows.
        Index("ix_counterparty_access", "id", "owner_id", "visibility", "legal_name"),
    )

    kinds: list[str] = Field(
        default_factory=lambda: ["client"], sa_column=Column(JSON, nullable=False)
    )
    legal_form: str | None = Field(default=None, max_length=20)
    legal_name: str = Field(max_length=500)
    short_name: str | None = Field(default=None, max_length=200)
    inn: str | None = Field(default=None, max_length=12, index=True)
    kpp: str | None = Field(default=None, max_length=9)
    legal_address: str | None = Field(default=None, max_length=1000)
    actual_address: str | None = Field(default=None, max_length=1000)
    # Typed contact info: [{"kind": "phone", "value": "+74951234567", "note": "бухгалтерия"}, ...]
    contacts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    website: str | None = Field(default=None, max_length=300)
    industry: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=200)
    segment: str | None = Field(default=None, max_length=100)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str | None = Field(default=None, max_length=200)
    owner_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36, index=True)
    stage: str = Field(default="lead", max_length=20)
    visibility: str = Field(default="private", max_length=20)
    notes: str | None = None
    # The newest ABC/XYZ classification's classes (crm.analytics, crm.trade); computed, never
    # written by a client. None: not classified (no sales in the period, or too short a history).
    abc_class: str | None = Field(default=None, max_length=1, index=True)
    xyz_class: str | None = Field(default=None, max_length=1)
    # Case-folded names for search; derived, never written by a client.
    search_name: str = Field(default="", max_length=800)


class ContactPerson(Record, table=True):
    """A person at a counterparty."""

    __tablename__ = "contact_person"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, index=True)
    full_name: str = Field(max_length=300)
    position: str | None = Field(default=None, max_length=300)
    contacts: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    birthday: date | None = None
    # How many days before the birthday to remind the salesperson.
    birthday_remind_days: int = Field(default=3)
    # They asked for no mailings (a List-Unsubscribe, or told their salesperson): letters written
    # to them one by one still go.
    no_mailings: bool = Field(default=False)
    notes: str | None = None
    search_name: str = Field(default="", max_length=300)


class Share(Record, table=True):
    """An explicit grant of a counterparty to a user or a whole team."""

    __tablename__ = "share"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, index=True)
    user_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36, index=True)
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=36, index=True)
    can_edit: bool = Field(default=False)


class Claim(Record, table=True):
    """A salesperson's claim on a client for a product group or direction, for a period.

    Colleagues who plan a contact or a deal with the client see who holds which group until
    when (``crm.claims``); it lapses by itself after ``ends_on``, and only a manager of the holder
    (an admin) hands it to someone else (``crm.rules.check_claim``).
    """

    __tablename__ = "claim"
    # A client's claims in force on a day: the card and the warnings ask for them.
    __table_args__ = (Index("ix_claim_in_force", "counterparty_id", "ends_on"),)

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36)
    # What it is for: a product group or a direction ("золото 585", "опт Урал").
    product_group: str = Field(max_length=200)
    # Defaults to the acting user.
    holder_id: str | None = Field(
        default=None, foreign_key="app_user.id", max_length=36, index=True
    )
    # Defaults to the day it is made; ``ends_on`` to 90 days later. Ended early: ends_on moves back.
    starts_on: date | None = Field(default=None)
    ends_on: date | None = Field(default=None)
    notes: str | None = None


class ContactKey(SQLModel, table=True):
    """Derived lookup of normalised phones, emails and INNs → the record that holds them.

    Rebuilt by the record service on every write of the owning record; never synced.
    Lets search by a phone typed any way, and the mail bridge's address matching,
    use an index instead of scanning JSON.
    """

    __tablename__ = "contact_key"
    # Every search is a range scan of this one index: the key prefix, then access
    # from the copied owner and visibility, without touching the table.
    __table_args__ = (
        Index(
            "ix_contact_key_search",
            "kind",
            "key",
            "record_type",
            "owner_id",
            "visibility",
            "counterparty_id",
            "record_id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    record_type: str = Field(max_length=40)
    record_id: str = Field(max_length=36, index=True)
    counterparty_id: str = Field(max_length=36, index=True)
    # Copies of the counterparty's owner and visibility, kept in step by crm.search.reindex.
    owner_id: str | None = Field(default=None, max_length=36)
    visibility: str = Field(default="private", max_length=20)
    kind: str = Field(max_length=20)
    # Byte order on PostgreSQL too (SQLite's default already is), so that a prefix
    # range on Cyrillic keys uses the index and means what it says.
    key: str = Field(
        sa_column=Column(
            String(300).with_variant(String(300, collation="C"), "postgresql"), nullable=False
        )
    )


class CounterpartyMerge(SQLModel, table=True):
    """One counterparty absorbed into another (``crm.merge``): who, when, what it was and what moved.

    Kept for good: a merge is explained afterwards from it, and an edit a laptop made offline to
    the absorbed counterparty, or a record it created under it, is applied to the survivor
    (``sync.push``), following a chain of merges.
    """

    __tablename__ = "counterparty_merge"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    absorbed_id: str = Field(max_length=36, unique=True)
    survivor_id: str = Field(max_length=36, index=True)
    # The absorbed counterparty's fields as they were, and what the survivor took of them.
    absorbed: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    taken: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Record type → how many of its records moved to the survivor.
    moved: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    merged_by: str = Field(max_length=36)
    merged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
