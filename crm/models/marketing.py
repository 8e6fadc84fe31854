"""Marketing events (issue 15): exhibitions, seminars, promotions, advertising campaigns, mailings —
their dates, budget and cost lines, their participants, and what they earned.

An event is the company's: everyone sees it (a salesperson invites their clients to it); its owner,
the owner's manager, the office and an admin keep it and its costs. A participant is a counterparty
(and maybe one of its people) invited, registered or attended: seen by whoever sees that
counterparty, like its other records. What an event earned (``crm.marketing``): the deals that name
it (``Deal.event_id``) and the participants' sales after it, against its costs.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Index, Numeric, UniqueConstraint
from sqlmodel import Field

from crm.models.base import Record

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
