"""Marketing events (issue 15): exhibitions, seminars, promotions, advertising campaigns, mailings —
their dates, budget and cost lines, their participants, and what they earned; and mailings, one
personalised letter per recipient sent through the mail outbox.

An event is the company's: everyone sees it (a salesperson invites their clients to it); its owner,
the owner's manager, the office and an admin keep it and its costs. A participant is a counterparty
(and maybe one of its people) invited, registered or attended: seen by whoever sees that
counterparty, like its other records. What an event earned (``crm.marketing``): the deals that name
it (``Deal.event_id``) and the participants' sales after it, against its costs.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Index, Numeric, UniqueConstraint
from sqlmodel import Field, SQLModel

from crm.models.base import Record, UTCDateTime, new_id, utcnow

MONEY = Numeric(18, 2)


class MarketingEvent(Record, table=True):
    __tablename__ = "marketing_event"

    name: str = Field(max_length=300)
    # exhibition, seminar, promotion, advertising, mailing (crm.models.enums.EventKind).
    kind: str = Field(default="exhibition", max_length=20)
    starts_on: date | None = None
    ends_on: date | None = None
    place: str | None = Field(default=None, max_length=500)
    # What was planned to be spent, roubles; what was spent is the sum of its cost lines.
    budget: Decimal | None = Field(default=None, sa_type=MONEY)
    owner_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    notes: str | None = None


class EventCost(Record, table=True):
    """One line of an event's costs: a stand, a printing bill, an advertising slot."""

    __tablename__ = "event_cost"

    event_id: str = Field(foreign_key="marketing_event.id", max_length=36, index=True)
    item: str = Field(max_length=300)
    amount: Decimal = Field(sa_type=MONEY)
    spent_on: date | None = None


class EventParticipant(Record, table=True):
    """A counterparty (and maybe one of its people) at an event: invited, registered, attended."""

    __tablename__ = "event_participant"
    __table_args__ = (
        UniqueConstraint(
            "event_id", "counterparty_id", "contact_person_id", name="uq_event_participant"
        ),
        Index("ix_event_participant_counterparty", "counterparty_id"),
    )

    event_id: str = Field(foreign_key="marketing_event.id", max_length=36, index=True)
    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36)
    contact_person_id: str | None = Field(
        default=None, foreign_key="contact_person.id", max_length=36
    )
    # invited → registered → attended (crm.models.enums.ParticipantStatus); or declined.
    status: str = Field(default="invited", max_length=20)
    notes: str | None = None


class Mailing(Record, table=True):
    """A letter to many (``crm.mailings``): to the people of a segment's clients or of an event's
    participants, one personalised letter per address from ``subject`` and ``body`` (with the merge
    fields of ``mail.templates``), queued in the mail outbox from its owner's mailbox. Drafted and
    seen by its owner, their manager, the office and an admin; queued on the server only. The
    counts are the server's: what was queued, sent, failed and bounced, and who was left out."""

    __tablename__ = "mailing"

    name: str = Field(max_length=300)
    event_id: str | None = Field(default=None, foreign_key="marketing_event.id", max_length=36)
    segment_id: str | None = Field(default=None, foreign_key="saved_segment.id", max_length=36)
    # Of an event's participants, only those of these statuses (all when empty).
    statuses: list[str] = Field(default_factory=list, sa_type=JSON)
    subject: str = Field(default="", max_length=500)
    body: str = Field(default="", max_length=100_000)
    owner_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    # draft → queued (crm.models.enums.MailingStatus).
    status: str = Field(default="draft", max_length=20)
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recipients: int = Field(default=0)
    sent: int = Field(default=0)
    failed: int = Field(default=0)
    bounced: int = Field(default=0)
    opted_out: int = Field(default=0)  # people who asked for no mailings
    unreachable: int = Field(default=0)  # no address, or an address known to fail


class MailingRecipient(SQLModel, table=True):
    """One address of a queued mailing (server only): its letter (an outgoing interaction) and what
    became of it. Unique per mailing and address: a mailing never writes to one address twice."""

    __tablename__ = "mailing_recipient"
    __table_args__ = (
        UniqueConstraint("mailing_id", "email", name="uq_mailing_recipient"),
        Index("ix_mailing_recipient_interaction", "interaction_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    mailing_id: str = Field(foreign_key="mailing.id", max_length=36, index=True)
    counterparty_id: str = Field(foreign_key="counterparty.id", max_length=36)
    contact_person_id: str | None = Field(
        default=None, foreign_key="contact_person.id", max_length=36
    )
    email: str = Field(max_length=254)
    interaction_id: str | None = Field(default=None, max_length=36)
    # queued → sent | failed; sent → bounced (a delivery report came back).
    state: str = Field(default="queued", max_length=20)
    bounced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FailingAddress(SQLModel, table=True):
    """An email address mail was returned from (server only): mailings leave it out, the card says
    so. Written by the mail bridge when a delivery report names it; cleared when the address is
    changed or by hand."""

    __tablename__ = "failing_address"

    email: str = Field(primary_key=True, max_length=254)
    reason: str = Field(default="", max_length=1000)
    failures: int = Field(default=1)
    first_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    mailing_id: str | None = Field(default=None, max_length=36)
