"""Interactions (the history and the diary), reminders and deals."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Numeric, text
from sqlmodel import Field

from crm.models.base import Record, UTCDateTime


class Interaction(Record, table=True):
    """A contact with a counterparty, done (history) or planned (the diary)."""

    __tablename__ = "interaction"
    # A person's diary: their planned contacts in a window of time. And the letters on their way
    # out (the outbox polls them, the agenda lists a person's): few at any time, so an index of
    # those rows alone, which the planners prefer over a person's whole history.
    __table_args__ = (
        Index("ix_interaction_diary", "responsible_id", "status", "starts_at"),
        Index(
            "ix_interaction_unsent",
            "mail_status",
            "responsible_id",
            sqlite_where=text("mail_status IS NOT NULL"),
            postgresql_where=text("mail_status IS NOT NULL"),
        ),
    )

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, index=True)
    contact_person_id: str | None = Field(
        default=None, foreign_key="contact_person.id", max_length=36
    )
    responsible_id: str | None = Field(
        default=None, foreign_key="app_user.id", max_length=36, index=True
    )
    deal_id: str | None = Field(default=None, foreign_key="deal.id", max_length=36)
    kind: str = Field(default="call", max_length=20)
    direction: str = Field(default="outgoing", max_length=20)
    status: str = Field(default="done", max_length=20)
    subject: str = Field(default="", max_length=500)
    notes: str | None = None
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    duration_minutes: int | None = None
    importance: str = Field(default="normal", max_length=10)
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: str | None = None
    # Letters (kind "letter"), filed by the mail bridge or written to be sent by it.
    # [{"role": "from" | "to" | "cc", "name": "Иван Петров", "address": "ivan@vector.ru"}, ...]
    participants: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    # Normalised Message-ID (without <>); the letter's identity across folders and mailboxes.
    message_id: str | None = Field(default=None, max_length=500, index=True)
    # Message-ID of the first letter of the thread: every letter of one thread shares it.
    thread_id: str | None = Field(default=None, max_length=500, index=True)
    # Sanitised (nh3) HTML of a filed letter; the plain text is in ``notes``.
    body_html: str | None = None
    # [{"filename", "content_type", "size", "sha256", "omitted"}]; the bytes live on the server by hash.
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    # The letter (interaction) this one answers: its Message-ID goes into In-Reply-To.
    reply_to_id: str | None = Field(default=None, max_length=36)
    # An outgoing letter: None (a record only), queued → sending → sent | failed | uncertain.
    mail_status: str | None = Field(default=None, max_length=20)  # ix_interaction_unsent
    mail_error: str | None = None
    # Which matching rule filed an incoming letter (own_reference, thread, contact_address, domain, review).
    mail_rule: str | None = Field(default=None, max_length=40)


class Reminder(Record, table=True):
    """A task with a due time for one person, linked to any record."""

    __tablename__ = "reminder"

    title: str = Field(max_length=500)
    notes: str | None = None
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assignee_id: str = Field(foreign_key="app_user.id", max_length=36, index=True)
    status: str = Field(default="open", max_length=20)
    # The record it is about, of any type (e.g. "interaction", "deal").
    subject_type: str | None = Field(default=None, max_length=40)
    subject_id: str | None = Field(default=None, max_length=36)
    # The counterparty behind the subject, derived: decides who else may see it.
    counterparty_id: str | None = Field(
        default=None, foreign_key="counterparty.id", max_length=36, index=True
    )


class Deal(Record, table=True):
    """A sale in progress. A lost deal must say why."""

    __tablename__ = "deal"

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, index=True)
    title: str = Field(max_length=500)
    stage: str = Field(default="new", max_length=20)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    currency: str = Field(default="RUB", max_length=3)
    expected_close: date | None = None
    probability: int | None = None
    source: str | None = Field(default=None, max_length=200)
    lost_reason: str | None = None
    closed_volume: Decimal | None = Field(default=None, sa_type=Numeric(18, 2))
    owner_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36, index=True)
    # The marketing event that brought it (crm.marketing counts what events earned).
    event_id: str | None = Field(
        default=None, foreign_key="marketing_event.id", max_length=36, index=True
    )
    # Stamped by crm.rules.check_deal, never written by hand: the day it was won or lost (None while
    # open), and every stage it was moved to — [{"stage": "proposal", "at": ISO instant, "by": id}].
    closed_on: date | None = Field(default=None, index=True)
    stages: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )


class Complaint(Record, table=True):
    """A client's complaint (about a product, a delivery, a service) and how it was settled.

    new → in_work → resolved | rejected (``crm.rules.check_complaint``); a closed one says what was
    done (``resolution``) and why it arose (``cause``). Its responsible person sees it in their agenda
    and calendar until it is closed.
    """

    __tablename__ = "complaint"
    # A person's open complaints by deadline: the agenda and the calendar feed ask for them.
    __table_args__ = (Index("ix_complaint_open", "responsible_id", "status", "deadline"),)

    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36, index=True)
    contact_person_id: str | None = Field(
        default=None, foreign_key="contact_person.id", max_length=36
    )
    subject: str = Field(default="product", max_length=20)
    product: str | None = Field(default=None, max_length=500)
    description: str = Field(max_length=10000)
    # Defaults to the counterparty's owner.
    responsible_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    # Defaults to ten days after it was registered.
    deadline: date | None = Field(default=None, index=True)
    status: str = Field(default="new", max_length=20)
    resolution: str | None = None
    cause: str | None = Field(default=None, max_length=40)
    # When it was resolved or rejected (set by the rules; cleared if it is reopened by a conflict).
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who registered it (the acting user at creation).
    registered_by: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)


class ContactRule(Record, table=True):
    """How often a client of an ABC class must be contacted: "A every 14 days" (issue 14).

    A manager or an admin sets one per class; the neglect report and everyone's agenda read them
    (``crm.neglect.due_contacts``). ``kinds``: the kinds of interaction that count (all when empty).
    """

    __tablename__ = "contact_rule"

    abc_class: str = Field(max_length=1, unique=True)
    days: int
    kinds: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Segment(Record, table=True):
    """A saved filter over counterparties (issue 14): every report, export and list takes one.

    ``criteria`` holds the filters by name (``crm.segments.CRITERIA``): e.g.
    ``{"kinds": ["client"], "abc_class": ["A", "B"], "region": ["Москва"], "tags": ["vip"]}``.
    Everyone sees every segment (it names no client); applied, it yields only the clients its user
    sees. Not to be confused with a card's ``segment`` field, a free label a segment may filter on.
    """

    __tablename__ = "saved_segment"

    name: str = Field(max_length=200)
    owner_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    criteria: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: str | None = None
